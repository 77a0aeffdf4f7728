//! `Client::complete`: one non-streaming call, its attempts (plain or streamed under the hood),
//! and the hedge race of a complete call.
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use super::record::{record, CallRecord};
use super::{deadline_error, Client};
use crate::providers::{CallOptions, Completion, ProviderEvent};
use crate::routing::balance::Measure;
use crate::routing::plan::Target;
use crate::routing::run::RouteRun;
use crate::types::error::{Error, ErrorKind, Result};
use crate::types::request::Request;
use crate::types::response::{Outcome, Response};
use crate::usage::Usage;

impl Client {
    /// One non-streaming call: the route's targets in order, with retries and fallback, inside
    /// the total budget.
    pub async fn complete(&self, req: Request) -> Result<Response> {
        let mut call = CallRecord::new(&self.inner, &req, false);
        let plan = match self.plan(&req.model, Measure::Total) {
            Ok(p) => p,
            Err(e) => return Err(call.fail(e)),
        };
        call.route = plan.route.clone();
        let policy = &self.inner.policy;
        let opts = self.options();
        let mut run = RouteRun::new(&plan, policy, &self.inner.breakers, self.total_budget(&req));
        let mut first = true;
        while let Some(target) = run.next_target().await {
            let limit = run
                .remaining()
                .min(Duration::from_millis(policy.attempt_timeout_ms));
            let hedge = match (first, plan.hedge_delay, run.peek_fallback()) {
                (true, Some(delay), Some(backup)) if delay < limit => Some((delay, backup)),
                _ => None,
            };
            first = false;
            let (target, result) = match hedge {
                None => (
                    target,
                    self.attempt(target, &req, &opts, limit, &mut call).await,
                ),
                Some((delay, backup)) => {
                    self.hedged(target, backup, delay, &req, &opts, limit, &mut call)
                        .await
                }
            };
            match result {
                Ok(completion) => {
                    run.succeeded(target);
                    return Ok(call.succeed(completion, &req, target));
                }
                Err(e) => {
                    let silent = e.kind == ErrorKind::Timeout;
                    run.failed(target, e, silent).await;
                }
            }
        }
        Err(call.fail(run.into_error()))
    }

    /// One non-streaming attempt on one target, recorded in the call's attempts.
    async fn attempt(
        &self,
        target: &Target,
        req: &Request,
        opts: &CallOptions,
        limit: Duration,
        call: &mut CallRecord,
    ) -> Result<Completion> {
        let (result, started) = self.exchange(target, req, opts, limit).await;
        record(call, target, &result, started);
        result
    }

    /// One exchange with one target within `limit`, streamed under the hood when the policy says
    /// so (see `Policy::complete_via_stream`). Returns the result and when the exchange started.
    async fn exchange(
        &self,
        t: &Target,
        req: &Request,
        opts: &CallOptions,
        limit: Duration,
    ) -> (Result<Completion>, Instant) {
        let started = Instant::now();
        let _in_flight = self.inner.balancer.start(&t.model);
        let policy = &self.inner.policy;
        let work = async {
            if policy.complete_via_stream && !req.params.include_raw.unwrap_or(false) {
                let ttft = Duration::from_millis(policy.first_token_timeout_ms).min(limit);
                drain(t, req, opts, ttft).await
            } else {
                t.provider.complete(&t.name, req, opts).await
            }
        };
        let result = match tokio::time::timeout(limit, work).await {
            Ok(r) => r,
            Err(_) => Err(deadline_error(limit, t, "the attempt")),
        };
        if result.is_ok() {
            self.inner
                .balancer
                .observe(&t.model, Measure::Total, started.elapsed());
        }
        (result, started)
    }

    /// A hedged attempt: `primary` first, and `backup` too when the primary has not answered
    /// after `delay`. The first success wins; the other request is dropped (its connection
    /// closed) and recorded as cancelled. When both fail, the primary's error is returned and the
    /// backup's stays in the attempt list.
    #[allow(clippy::too_many_arguments)]
    async fn hedged<'t>(
        &self,
        primary: &'t Target,
        backup: &'t Target,
        delay: Duration,
        req: &Request,
        opts: &CallOptions,
        limit: Duration,
        call: &mut CallRecord,
    ) -> (&'t Target, Result<Completion>) {
        let started = Instant::now();
        let run_one = |t: &'t Target| self.exchange(t, req, opts, limit);
        let mut a = Box::pin(run_one(primary));
        tokio::select! {
            (r, st) = &mut a => {
                record(call, primary, &r, st);
                return (primary, r);
            }
            _ = tokio::time::sleep(delay) => {}
        }
        let mut b = Box::pin(run_one(backup));
        let (winner, loser, r, st) = tokio::select! {
            (r, st) = &mut a => (primary, backup, r, st),
            (r, st) = &mut b => (backup, primary, r, st),
        };
        record(call, winner, &r, st);
        if r.is_ok() {
            // The loser is cancelled: dropping its future closes its connection.
            drop(a);
            drop(b);
            call.attempt(
                loser,
                Outcome::Cancelled,
                Some(&Error::cancelled()),
                started,
                None,
                Usage::default(),
            );
            return (winner, r);
        }
        // The first to finish failed: the other decides.
        let (r2, st2) = if std::ptr::eq(winner, primary) {
            b.await
        } else {
            a.await
        };
        record(call, loser, &r2, st2);
        match (r2, std::ptr::eq(winner, primary)) {
            (Ok(c), _) => (loser, Ok(c)),
            (Err(_), true) => (primary, r),
            (Err(e), false) => (primary, Err(e)),
        }
    }
}

/// Reads a provider stream to its end, as one Completion. The first event must come within `ttft`.
async fn drain(
    t: &Target,
    req: &Request,
    opts: &CallOptions,
    ttft: Duration,
) -> Result<Completion> {
    let by = tokio::time::Instant::now() + ttft;
    let silent = || deadline_error(ttft, t, "the first token");
    let mut events = match tokio::time::timeout_at(by, t.provider.stream(&t.name, req, opts)).await
    {
        Ok(opened) => opened?,
        Err(_) => return Err(silent()),
    };
    let mut first = true;
    loop {
        let next = if first {
            first = false;
            match tokio::time::timeout_at(by, events.next()).await {
                Ok(n) => n,
                Err(_) => return Err(silent()),
            }
        } else {
            events.next().await
        };
        match next {
            Some(Ok(ProviderEvent::Done(completion))) => return Ok(*completion),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e),
            None => {
                return Err(Error::new(
                    ErrorKind::Connection,
                    "the provider stream ended before the response was complete",
                )
                .with_provider(t.provider.name())
                .with_model(&t.model))
            }
        }
    }
}
