//! Circuit breakers, one per target (`provider/model`): open after consecutive failures, keep
//! traffic away for a cooldown, then let one probe through (half-open) and close on its success.
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use serde::Serialize;

use crate::config::BreakerPolicy;
use crate::types::error::ErrorKind;

/// A target's breaker state, as `Client::health()` reports it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TargetHealth {
    pub target: String,
    /// `closed`, `open` or `half_open`.
    pub state: &'static str,
    pub consecutive_failures: u32,
    /// Milliseconds until an open breaker lets a probe through.
    pub retry_in_ms: Option<u64>,
}

#[derive(Default)]
struct State {
    failures: u32,
    open_until: Option<Instant>,
    probing: bool,
}

pub(crate) struct Breakers {
    policy: BreakerPolicy,
    states: Mutex<HashMap<String, State>>,
}

impl Breakers {
    pub(crate) fn new(policy: BreakerPolicy) -> Self {
        Breakers {
            policy,
            states: Mutex::new(HashMap::new()),
        }
    }

    /// Whether a call may go to `target` now. An expired open breaker admits one probe.
    pub(crate) fn admit(&self, target: &str) -> bool {
        if !self.policy.enabled {
            return true;
        }
        let mut states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        let Some(s) = states.get_mut(target) else {
            return true;
        };
        match s.open_until {
            None => true,
            Some(until) if Instant::now() >= until => {
                // One probe per cooldown: a probe that never reports back (cancelled) does not
                // wedge the breaker, the next cooldown admits another.
                s.probing = true;
                s.open_until =
                    Some(Instant::now() + Duration::from_millis(self.policy.cooldown_ms));
                true
            }
            Some(_) => false,
        }
    }

    /// Whether `target` would take a call now, without using up a half-open probe.
    pub(crate) fn is_closed(&self, target: &str) -> bool {
        if !self.policy.enabled {
            return true;
        }
        let states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        states.get(target).is_none_or(|s| s.open_until.is_none())
    }

    /// Time until the first open breaker among `targets` admits a probe.
    pub(crate) fn soonest_probe(&self, targets: &[String]) -> Option<Duration> {
        let states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        targets
            .iter()
            .filter_map(|t| states.get(t).and_then(|s| s.open_until))
            .map(|until| until.saturating_duration_since(Instant::now()))
            .min()
    }

    pub(crate) fn record(&self, target: &str, ok: bool, kind: Option<ErrorKind>) {
        if !self.policy.enabled {
            return;
        }
        // Only failures that say something about the target's health count.
        if !ok && !kind.is_some_and(|k| k.is_retryable()) {
            return;
        }
        let mut states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        let s = states.entry(target.to_string()).or_default();
        if ok {
            *s = State::default();
            return;
        }
        s.failures += 1;
        if s.probing || s.failures >= self.policy.failure_threshold {
            s.open_until = Some(Instant::now() + Duration::from_millis(self.policy.cooldown_ms));
        }
        s.probing = false;
    }

    pub(crate) fn health(&self) -> Vec<TargetHealth> {
        let states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let mut out: Vec<TargetHealth> = states
            .iter()
            .map(|(t, s)| {
                let (state, retry_in_ms) = match s.open_until {
                    None => ("closed", None),
                    Some(_) if s.probing => ("half_open", None),
                    Some(u) if u <= now => ("half_open", Some(0)),
                    Some(u) => ("open", Some(u.duration_since(now).as_millis() as u64)),
                };
                TargetHealth {
                    target: t.clone(),
                    state,
                    consecutive_failures: s.failures,
                    retry_in_ms,
                }
            })
            .collect();
        out.sort_by(|a, b| a.target.cmp(&b.target));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_probes_after_cooldown_and_closes_on_success() {
        let b = Breakers::new(BreakerPolicy {
            enabled: true,
            failure_threshold: 2,
            cooldown_ms: 30,
            wait_when_all_open: true,
        });
        let t = "p/m";
        b.record(t, false, Some(ErrorKind::Server));
        assert!(b.admit(t));
        b.record(t, false, Some(ErrorKind::Server));
        assert!(!b.admit(t));
        assert_eq!(b.health()[0].state, "open");
        std::thread::sleep(Duration::from_millis(40));
        assert!(b.admit(t), "one probe after the cooldown");
        assert!(!b.admit(t), "only one probe at a time");
        b.record(t, true, None);
        assert!(b.admit(t));
        assert_eq!(b.health()[0].state, "closed");
    }

    #[test]
    fn looking_does_not_spend_the_probe() {
        let b = Breakers::new(BreakerPolicy {
            enabled: true,
            failure_threshold: 1,
            cooldown_ms: 10,
            wait_when_all_open: true,
        });
        b.record("p/m", false, Some(ErrorKind::Server));
        std::thread::sleep(Duration::from_millis(20));
        assert!(!b.is_closed("p/m"));
        assert!(!b.is_closed("p/m"));
        assert!(b.admit("p/m"), "the probe is still there after looking");
    }

    #[test]
    fn caller_errors_do_not_open_the_breaker() {
        let b = Breakers::new(BreakerPolicy {
            enabled: true,
            failure_threshold: 1,
            cooldown_ms: 1000,
            wait_when_all_open: true,
        });
        b.record("p/m", false, Some(ErrorKind::InvalidRequest));
        assert!(b.admit("p/m"));
    }
}
