//! Retry decisions: what to do after a failed attempt (retry the same target after a wait, move
//! on to the next target, or stop), and the backoff with full jitter that honours Retry-After.
use std::time::Duration;

use crate::config::Policy;
use crate::types::error::{Error, ErrorKind};

/// What the call does after a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Next {
    /// Try the same target again after this wait.
    Retry(Duration),
    /// Move on to the route's next target.
    Fallback,
    /// Give up: the error cannot be helped by another attempt anywhere.
    Stop,
}

/// Decides after attempt number `attempt` (1-based) on one target failed with `error`.
/// `silent` is true when the attempt produced no first token before its deadline.
pub(crate) fn decide(
    policy: &Policy,
    fallback_on: &[ErrorKind],
    error: &Error,
    attempt: u32,
    silent: bool,
) -> Next {
    let kind = error.kind;
    if kind == ErrorKind::Cancelled {
        return Next::Stop;
    }
    let may_fall_back = fallback_on.contains(&kind);
    let retryable = policy.retry_on.contains(&kind)
        && attempt < policy.max_attempts_per_target
        && (!silent || policy.retry_silent);
    if retryable {
        let wait = match error.retry_after {
            Some(hint) if hint > Duration::from_millis(policy.retry_after_cap_ms) => {
                // The provider asks for longer than we are willing to sleep: fall back instead.
                return if may_fall_back {
                    Next::Fallback
                } else {
                    Next::Stop
                };
            }
            // Never hammer: even a provider asking for no wait gets the backoff floor.
            Some(hint) => hint.max(Duration::from_millis(policy.backoff_initial_ms / 2)),
            None => backoff(policy, attempt),
        };
        return Next::Retry(wait);
    }
    if may_fall_back {
        Next::Fallback
    } else {
        Next::Stop
    }
}

/// Full-jitter exponential backoff before retry number `attempt` (1-based): a uniform random wait in
/// `[initial/2, min(max, initial * 2^(attempt-1))]`. The floor keeps two attempts from landing on one
/// target within a few milliseconds.
pub(crate) fn backoff(policy: &Policy, attempt: u32) -> Duration {
    let exp = policy
        .backoff_initial_ms
        .saturating_mul(1u64 << (attempt.saturating_sub(1)).min(20));
    let cap = exp.min(policy.backoff_max_ms).max(1);
    let floor = (policy.backoff_initial_ms / 2).min(cap);
    Duration::from_millis(fastrand::u64(floor..=cap))
}

/// How much an error tells the caller, for choosing the one to surface after a failed route:
/// actionable errors (auth, quota, content) over transient ones over a fallback's unrelated 400.
pub(crate) fn meaning_rank(kind: ErrorKind) -> u8 {
    use ErrorKind::*;
    match kind {
        Authentication
        | Permission
        | Quota
        | ContentFiltered
        | ContextWindowExceeded
        | BudgetExceeded
        | ResponseTooLarge
        | Config => 3,
        RateLimited | Overloaded | Server | Timeout | Connection | InvalidResponse => 2,
        Cancelled => 4,
        InvalidRequest | AllAttemptsFailed | Internal => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(kind: ErrorKind, retry_after: Option<u64>) -> Error {
        Error::new(kind, "x").with_retry_after(retry_after.map(Duration::from_millis))
    }

    #[test]
    fn retry_after_is_honoured_up_to_the_cap() {
        let p = Policy::default();
        let fb = p.fallback_on.clone();
        assert_eq!(
            decide(&p, &fb, &err(ErrorKind::RateLimited, Some(2000)), 1, false),
            Next::Retry(Duration::from_secs(2))
        );
        assert_eq!(
            decide(
                &p,
                &fb,
                &err(ErrorKind::RateLimited, Some(60_000)),
                1,
                false
            ),
            Next::Fallback
        );
        assert_eq!(
            decide(&p, &fb, &err(ErrorKind::RateLimited, Some(2000)), 2, false),
            Next::Fallback
        );
    }

    #[test]
    fn a_zero_retry_after_still_waits_the_backoff_floor() {
        let p = Policy::default();
        let fb = p.fallback_on.clone();
        assert_eq!(
            decide(&p, &fb, &err(ErrorKind::RateLimited, Some(0)), 1, false),
            Next::Retry(Duration::from_millis(250))
        );
    }

    #[test]
    fn what_cannot_succeed_is_not_retried() {
        let p = Policy::default();
        let fb = p.fallback_on.clone();
        for kind in [
            ErrorKind::Authentication,
            ErrorKind::Quota,
            ErrorKind::ContextWindowExceeded,
        ] {
            assert_eq!(
                decide(&p, &fb, &err(kind, None), 1, false),
                Next::Fallback,
                "{kind}"
            );
        }
        for kind in [
            ErrorKind::InvalidRequest,
            ErrorKind::ContentFiltered,
            ErrorKind::Cancelled,
        ] {
            assert_eq!(
                decide(&p, &fb, &err(kind, None), 1, false),
                Next::Stop,
                "{kind}"
            );
        }
        // A silent target is not retried by default.
        assert_eq!(
            decide(&p, &fb, &err(ErrorKind::Timeout, None), 1, true),
            Next::Fallback
        );
    }

    #[test]
    fn backoff_grows_with_jitter_within_bounds() {
        let p = Policy::default();
        for attempt in 1..8 {
            for _ in 0..50 {
                let d = backoff(&p, attempt).as_millis() as u64;
                let cap = (500u64 << (attempt - 1)).min(8000);
                assert!((250..=cap).contains(&d), "attempt {attempt}: {d}");
            }
        }
    }
}
