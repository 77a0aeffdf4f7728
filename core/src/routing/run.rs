//! [`RouteRun`]: the walk over one call's targets: which target comes next (breakers admitting,
//! context windows fitting), what happens after a failed attempt (retry after a backoff, fall
//! back, stop), the total budget, and the one error to surface when nothing succeeded.
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::plan::{Plan, Target};
use super::retry::{decide, meaning_rank, Next};
use super::Router;
use crate::types::error::{Error, ErrorKind};

/// The walk over a plan's targets for one call.
pub(crate) struct RouteRun {
    router: Arc<Router>,
    pub plan: Plan,
    pub deadline: Instant,
    budget: Duration,
    index: usize,
    attempt: u32,
    /// Set after a context-window failure on a target with a declared window: targets known
    /// not to be larger are skipped (larger or unknown ones are tried).
    min_context: Option<u64>,
    /// Every failure, with the target it happened on.
    errors: Vec<(String, Error)>,
    stopped: bool,
    waited_for_breakers: bool,
}

impl RouteRun {
    pub(crate) fn new(router: Arc<Router>, plan: Plan, budget: Duration) -> Self {
        RouteRun {
            router,
            plan,
            deadline: Instant::now() + budget,
            budget,
            index: 0,
            attempt: 0,
            min_context: None,
            errors: Vec::new(),
            stopped: false,
            waited_for_breakers: false,
        }
    }

    fn fallback_on(&self) -> &[ErrorKind] {
        match &self.plan.route {
            Some(r) => &r.fallback_on,
            None => &self.router.policy.fallback_on,
        }
    }

    fn fits(&self, t: &Target) -> bool {
        match (self.min_context, t.context_window) {
            (Some(min), Some(w)) => w > min,
            _ => true,
        }
    }

    /// The next target to try, after any wait for an open breaker; `None` when the call is over.
    pub(crate) async fn next_target(&mut self) -> Option<Arc<Target>> {
        loop {
            if self.stopped || Instant::now() >= self.deadline {
                return None;
            }
            let mut skipped_by_breaker = false;
            while self.index < self.plan.targets.len() {
                let t = &self.plan.targets[self.index];
                let fits = self.fits(t);
                if fits && (self.attempt > 0 || self.router.breakers.admit(&t.model)) {
                    self.attempt += 1;
                    return Some(t.clone());
                }
                skipped_by_breaker |= fits;
                self.index += 1;
                self.attempt = 0;
            }
            // Every remaining target is open: wait for the first to cool down, once, if it fits.
            let nobody_tried = self.errors.is_empty();
            if !(skipped_by_breaker
                && nobody_tried
                && self.router.policy.breaker.wait_when_all_open
                && !self.waited_for_breakers)
            {
                if skipped_by_breaker && nobody_tried {
                    self.errors.push((
                        String::new(),
                        Error::new(
                            ErrorKind::Overloaded,
                            "every target's circuit breaker is open (recent consecutive failures)",
                        ),
                    ));
                }
                return None;
            }
            let models: Vec<String> = self.plan.targets.iter().map(|t| t.model.clone()).collect();
            let wait = self
                .router
                .breakers
                .soonest_probe(&models)
                .unwrap_or(Duration::ZERO);
            self.waited_for_breakers = true;
            if Instant::now() + wait >= self.deadline {
                self.errors.push((
                    String::new(),
                    Error::new(
                        ErrorKind::Overloaded,
                        "every target's circuit breaker is open and none cools down within the budget",
                    ),
                ));
                return None;
            }
            tokio::time::sleep(wait).await;
            self.index = 0;
            self.attempt = 0;
        }
    }

    /// The target a fallback would move on to, if its breaker is closed (for hedging: a hedge
    /// never spends a half-open probe).
    pub(crate) fn peek_fallback(&self) -> Option<Arc<Target>> {
        let t = self.plan.targets.get(self.index + 1)?;
        self.router.breakers.is_closed(&t.model).then(|| t.clone())
    }

    /// A hedge's backup took over the call: the walk continues from the backup's place.
    pub(crate) fn moved_to_fallback(&mut self) {
        self.index += 1;
        self.attempt = 1;
    }

    /// Time left in the whole call.
    pub(crate) fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    pub(crate) fn succeeded(&mut self, target: &Target) {
        self.router.breakers.record(&target.model, true, None);
    }

    /// A failure of a target that does not decide the walk (a hedge participant whose rival
    /// carries on): counted by its breaker and kept for the final error.
    pub(crate) fn noted(&mut self, target: &Target, error: Error) {
        self.router
            .breakers
            .record(&target.model, false, Some(error.kind));
        self.errors.push((target.model.clone(), error));
    }

    /// Records a failed attempt and decides what comes next: waits out a retry's backoff (within
    /// the budget) or moves on to the next target. `silent`: the attempt timed out without a
    /// first output (a silent provider), which is not retried on the same target by default.
    pub(crate) async fn failed(&mut self, target: &Target, error: Error, silent: bool) {
        self.router
            .breakers
            .record(&target.model, false, Some(error.kind));
        let next = decide(
            &self.router.policy,
            self.fallback_on(),
            &error,
            self.attempt,
            silent,
        );
        if error.kind == ErrorKind::ContextWindowExceeded {
            self.min_context = target.context_window;
        }
        self.errors.push((target.model.clone(), error));
        match next {
            Next::Retry(wait) if Instant::now() + wait < self.deadline => {
                tokio::time::sleep(wait).await
            }
            Next::Retry(_) | Next::Fallback => {
                self.index += 1;
                self.attempt = 0;
            }
            Next::Stop => self.stopped = true,
        }
    }

    /// Records a failure that says nothing about the call itself (a target that rejected a
    /// continuation by prefill) and moves on to the next target.
    pub(crate) fn skip(&mut self, target: &Target, error: Error) {
        self.errors.push((target.model.clone(), error));
        self.index += 1;
        self.attempt = 0;
    }

    /// The error to surface: the most meaningful one (the earliest among equals); a budget error
    /// when time ran out first. When several attempts were made it says how each failed (and, for
    /// a route, which route it was).
    pub(crate) fn into_error(mut self) -> Error {
        let out_of_time = Instant::now() >= self.deadline && !self.stopped;
        let summary = self.summary();
        let best = (0..self.errors.len())
            .rev()
            .max_by_key(|&i| meaning_rank(self.errors[i].1.kind));
        let mut e = match best {
            Some(i) => self.errors.swap_remove(i).1,
            None => Error::new(
                ErrorKind::Timeout,
                "no attempt could be made within the budget",
            ),
        };
        if out_of_time && e.kind != ErrorKind::Timeout && meaning_rank(e.kind) <= 2 {
            e = Error::new(
                ErrorKind::Timeout,
                format!(
                    "the call exceeded its total budget of {:.1}s; last error: {}",
                    self.budget.as_secs_f64(),
                    e.message
                ),
            )
            .with_provider(e.provider.clone().unwrap_or_default())
            .with_model(e.model.clone().unwrap_or_default());
        }
        if let Some(summary) = summary {
            e.message = format!("{} ({summary})", e.message);
        }
        e
    }

    /// "route `chat`, 3 attempts: p/a rate_limited (HTTP 429) x2: <message>; p/b server (HTTP
    /// 500): <message>", for more than one attempt; each message is cut to a short excerpt.
    fn summary(&self) -> Option<String> {
        let tried: Vec<&(String, Error)> =
            self.errors.iter().filter(|(m, _)| !m.is_empty()).collect();
        if tried.len() < 2 {
            return None;
        }
        // Grouped by target, kind and status (messages differ by request ids and the like): the
        // first message of each group stands for it.
        let mut groups: Vec<(&str, ErrorKind, Option<u16>, String, usize)> = Vec::new();
        for (model, e) in &tried {
            match groups
                .iter_mut()
                .find(|g| g.0 == model.as_str() && g.1 == e.kind && g.2 == e.status)
            {
                Some(g) => g.4 += 1,
                None => groups.push((
                    model.as_str(),
                    e.kind,
                    e.status,
                    excerpt(&e.message, 120),
                    1,
                )),
            }
        }
        let mut out = String::new();
        if let Some(route) = self.plan.route_name() {
            let _ = write!(out, "route `{route}`, ");
        }
        let _ = write!(out, "{} attempts: ", tried.len());
        for (i, (model, kind, status, message, n)) in groups.iter().enumerate() {
            if i > 0 {
                out.push_str("; ");
            }
            let _ = write!(out, "{model} {kind}");
            if let Some(s) = status {
                let _ = write!(out, " (HTTP {s})");
            }
            if *n > 1 {
                let _ = write!(out, " x{n}");
            }
            let _ = write!(out, ": {message}");
        }
        Some(out)
    }
}

/// The first `max` characters of a message, with `…` when cut.
fn excerpt(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}
