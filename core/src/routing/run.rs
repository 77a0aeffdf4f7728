//! [`RouteRun`]: the walk over a plan's targets (retries, backoff, fallback, breakers, the total
//! budget) shared by `complete` and `stream`.
use std::time::Duration;

use tokio::time::Instant;

use super::plan::{Plan, Target};
use super::retry::{decide, meaning_rank, Next};
use crate::config::Policy;
use crate::routing::breaker::Breakers;
use crate::types::error::{Error, ErrorKind};

/// The walk over a plan's targets for one call.
pub(crate) struct RouteRun<'a> {
    plan: &'a Plan,
    policy: &'a Policy,
    breakers: &'a Breakers,
    pub deadline: Instant,
    budget: Duration,
    index: usize,
    attempt: u32,
    /// Set after a context-window failure: only targets with a larger declared window remain.
    min_context: Option<u64>,
    errors: Vec<Error>,
    stopped: bool,
    waited_for_breakers: bool,
}

impl<'a> RouteRun<'a> {
    pub(crate) fn new(
        plan: &'a Plan,
        policy: &'a Policy,
        breakers: &'a Breakers,
        budget: Duration,
    ) -> Self {
        RouteRun {
            plan,
            policy,
            breakers,
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

    /// The next target to try, after any wait for an open breaker; `None` when the call is over.
    pub(crate) async fn next_target(&mut self) -> Option<&'a Target> {
        loop {
            if self.stopped || Instant::now() >= self.deadline {
                return None;
            }
            let mut skipped_by_breaker = false;
            while self.index < self.plan.targets.len() {
                let t = &self.plan.targets[self.index];
                let fits = match self.min_context {
                    Some(min) => t.context_window.is_some_and(|w| w > min),
                    None => true,
                };
                if fits && (self.attempt > 0 || self.breakers.admit(&t.model)) {
                    self.attempt += 1;
                    return Some(t);
                }
                skipped_by_breaker |= fits;
                self.index += 1;
                self.attempt = 0;
            }
            // Every remaining target is open: wait for the first to cool down, once, if it fits.
            let nobody_tried = self.errors.is_empty();
            if !(skipped_by_breaker
                && nobody_tried
                && self.policy.breaker.wait_when_all_open
                && !self.waited_for_breakers)
            {
                if skipped_by_breaker && nobody_tried {
                    self.errors.push(Error::new(
                        ErrorKind::Overloaded,
                        "every target's circuit breaker is open (recent consecutive failures)",
                    ));
                }
                return None;
            }
            let models: Vec<String> = self.plan.targets.iter().map(|t| t.model.clone()).collect();
            let wait = self
                .breakers
                .soonest_probe(&models)
                .unwrap_or(Duration::ZERO);
            self.waited_for_breakers = true;
            if Instant::now() + wait >= self.deadline {
                self.errors.push(Error::new(
                    ErrorKind::Overloaded,
                    "every target's circuit breaker is open and none cools down within the budget",
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
    pub(crate) fn peek_fallback(&self) -> Option<&'a Target> {
        let t = self.plan.targets.get(self.index + 1)?;
        self.breakers.is_closed(&t.model).then_some(t)
    }

    /// Time left in the whole call.
    pub(crate) fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    pub(crate) fn succeeded(&mut self, target: &Target) {
        self.breakers.record(&target.model, true, None);
    }

    /// Records a failed attempt and decides what comes next: waits out a retry's backoff (within
    /// the budget) or moves on to the next target. `silent`: no first token arrived.
    pub(crate) async fn failed(&mut self, target: &Target, error: Error, silent: bool) {
        self.breakers.record(&target.model, false, Some(error.kind));
        let next = decide(
            self.policy,
            &self.plan.fallback_on,
            &error,
            self.attempt,
            silent,
        );
        if error.kind == ErrorKind::ContextWindowExceeded {
            self.min_context = Some(target.context_window.unwrap_or(0));
        }
        self.errors.push(error);
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
    pub(crate) fn skip(&mut self, error: Error) {
        self.errors.push(error);
        self.index += 1;
        self.attempt = 0;
    }

    /// The error to surface: the most meaningful one (the earliest among equals), with a note of
    /// how many attempts were made; a budget error when time ran out first.
    pub(crate) fn into_error(mut self) -> Error {
        let out_of_time = Instant::now() >= self.deadline && !self.stopped;
        let tried = self.errors.len();
        let best = (0..self.errors.len())
            .rev()
            .max_by_key(|&i| meaning_rank(self.errors[i].kind));
        let mut e = match best {
            Some(i) => self.errors.swap_remove(i),
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
        if tried > 1 {
            e.message = format!("{} (after {tried} attempts)", e.message);
        }
        e
    }
}
