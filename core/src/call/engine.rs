//! The engine of one logical call: [`CallRun`] walks the plan's targets ([`RouteRun`]), drives each
//! [`Attempt`], races a hedge's backup against the first attempt, and fails over mid-stream
//! (restarting on the next target with a `Restart` event first, or continuing there by assistant
//! prefill). `Client::stream` yields its events; `Client::complete` collects them.
//!
//! Everything a call owns lives in `CallRun`'s fields, so dropping it (the caller cancelled, or
//! a stream was abandoned) settles every attempt still open as cancelled, and the call record
//! then emits the call's usage event with them.
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::attempt::{Attempt, Exchange, Failure, Step};
use super::deadlines::Deadlines;
use super::record::{CallRecord, End};
use super::{CallContext, Inner};
use crate::config::Midstream;
use crate::providers::{Completion, ProviderEvent};
use crate::routing::balance::Measure;
use crate::routing::plan::Target;
use crate::routing::run::RouteRun;
use crate::types::error::{Error, ErrorKind, Result};
use crate::types::message::{Content, Message, Role};
use crate::types::request::Request;
use crate::types::stream::StreamEvent;

/// The attempt in progress, with what the call knows about it.
struct Live {
    attempt: Attempt,
    /// The text this attempt continues (mid-stream continuation by prefill).
    prefill: Option<String>,
    /// Output was shown before this attempt: a `Restart` goes before its first output.
    restart_pending: bool,
    /// A step already read from it (by a hedge race), to hand out next.
    pending: Option<std::result::Result<Step, Failure>>,
}

/// One logical call in progress.
pub(super) struct CallRun {
    inner: Arc<Inner>,
    req: Arc<Request>,
    run: Option<RouteRun>,
    record: CallRecord,
    exchange: Exchange,
    /// An error before any attempt (an unknown model, a missing route).
    start_error: Option<Error>,
    current: Option<Live>,
    /// A hedge's backup, racing `current` for the first output.
    backup: Option<Attempt>,
    /// A hedge not started yet: when, and on which target.
    hedge: Option<(Instant, Arc<Target>)>,
    attempts: u32,
    /// Output shown since the last restart (text kept only for prefill continuation).
    shown: String,
    shown_any: bool,
    shown_tools: bool,
    last_failure: String,
    prefill_rejected: bool,
    queue: VecDeque<StreamEvent>,
    finished: bool,
}

impl CallRun {
    /// A call of `req`; `streamed` for `Client::stream`. Nothing is sent until `next()`.
    pub(super) fn new(
        inner: Arc<Inner>,
        req: Request,
        streamed: bool,
        ctx: CallContext,
    ) -> CallRun {
        let mut record = CallRecord::new(&inner, &req, streamed);
        record.parent_id = ctx.parent_id;
        let router = &inner.router;
        let measure = if streamed {
            Measure::FirstToken
        } else {
            Measure::Total
        };
        let plain = !streamed
            && (req.params.include_raw.unwrap_or(false) || !router.policy.complete_via_stream);
        let budget = Duration::from_millis(
            req.params
                .timeout_ms
                .unwrap_or(router.policy.total_timeout_ms),
        );
        let (run, start_error) = match router.plan(&req.model, measure) {
            Ok(plan) => {
                record.route = plan.route_name().map(String::from);
                record.primary = plan.targets.first().map(|t| t.model.clone());
                (Some(RouteRun::new(router.clone(), plan, budget)), None)
            }
            Err(e) => (None, Some(e)),
        };
        CallRun {
            inner,
            req: Arc::new(req),
            run,
            record,
            exchange: if plain {
                Exchange::Plain
            } else {
                Exchange::Stream
            },
            start_error,
            current: None,
            backup: None,
            hedge: None,
            attempts: 0,
            shown: String::new(),
            shown_any: false,
            shown_tools: false,
            last_failure: String::new(),
            prefill_rejected: false,
            queue: VecDeque::new(),
            finished: false,
        }
    }

    /// The call's next event: output, a `Restart`, the `Final` response, or the error that ends
    /// it; `None` after the end.
    pub(super) async fn next(&mut self) -> Option<Result<StreamEvent>> {
        loop {
            if let Some(ev) = self.queue.pop_front() {
                return Some(Ok(ev));
            }
            if self.finished {
                return None;
            }
            if let Some(e) = self.start_error.take() {
                self.finished = true;
                return Some(Err(self.record.fail(e)));
            }
            if self.current.is_none() && !self.begin().await {
                self.finished = true;
                let e = match self.run.take() {
                    Some(run) => run.into_error(),
                    None => Error::new(ErrorKind::Internal, "polyfuse internal error: no route"),
                };
                return Some(Err(self.record.fail(e)));
            }
            match self.step().await {
                Ok(Step::Output(ev)) => {
                    if let Some(ev) = self.output(ev) {
                        return Some(Ok(ev));
                    }
                }
                Ok(Step::Done(c)) => {
                    self.finished = true;
                    return Some(match self.done(*c) {
                        Some(ev) => Ok(ev),
                        None => Err(self.record.fail(Error::new(
                            ErrorKind::Internal,
                            "polyfuse internal error: an answer without an attempt",
                        ))),
                    });
                }
                Err(f) => self.failed(f).await,
            }
        }
    }

    /// As [`next`](Self::next), except that the call's end (its `Final` or its error) is handed
    /// out only once the call's usage events are durable in the ledger (with the ledger on).
    pub(super) async fn next_durable(&mut self) -> Option<Result<StreamEvent>> {
        let ev = self.next().await;
        if let Some(ticket) = self.record.take_ticket() {
            self.inner.durable(ticket).await;
        }
        ev
    }

    /// Starts the next attempt; false when the walk is over. A target whose attempt does not fit
    /// a budget is skipped (nothing is sent to it).
    async fn begin(&mut self) -> bool {
        loop {
            let Some(run) = self.run.as_mut() else {
                return false;
            };
            let Some(target) = run.next_target().await else {
                return false;
            };
            let policy = &self.inner.router.policy;
            let prefill = (policy.midstream == Midstream::Continue
                && !self.prefill_rejected
                && !self.shown_tools
                && !self.shown.trim().is_empty()
                && target.provider.supports_prefill())
            .then(|| self.shown.trim_end().to_string());
            let restart_pending = self.shown_any && prefill.is_none();
            let req = match &prefill {
                Some(p) => {
                    let mut r = (*self.req).clone();
                    r.messages.push(Message::new(Role::Assistant, p.clone()));
                    Arc::new(r)
                }
                None => self.req.clone(),
            };
            let attempt = match new_attempt(
                &self.inner,
                run,
                &mut self.attempts,
                self.exchange,
                target.clone(),
                req,
            ) {
                Ok(a) => a,
                Err(e) => {
                    run.skip(&target, e);
                    continue;
                }
            };
            // A hedge: only for the call's first attempt, when the route hedges, the fallback's
            // breaker is closed (a hedge never spends a probe) and the delay fits the budget.
            if self.attempts == 1 {
                if let (Some(delay), Some(backup)) = (run.plan.hedge_delay, run.peek_fallback()) {
                    if delay < run.remaining() {
                        self.hedge = Some((Instant::now() + delay, backup));
                    }
                }
            }
            self.current = Some(Live {
                attempt,
                prefill,
                restart_pending,
                pending: None,
            });
            return true;
        }
    }

    /// The next step of the current attempt, racing a hedge's backup while one runs.
    async fn step(&mut self) -> std::result::Result<Step, Failure> {
        loop {
            let CallRun {
                inner,
                run,
                current,
                backup,
                hedge,
                attempts,
                exchange,
                req,
                ..
            } = self;
            let (Some(live), Some(run)) = (current.as_mut(), run.as_mut()) else {
                return Err(Failure {
                    error: Error::new(ErrorKind::Internal, "polyfuse internal error: no attempt"),
                    silent: false,
                });
            };
            if let Some(p) = live.pending.take() {
                return p;
            }
            // The primary alone until the hedge's delay has passed.
            if let Some((at, target)) = hedge.clone() {
                tokio::select! {
                    r = live.attempt.next() => {
                        *hedge = None;
                        return r;
                    }
                    _ = tokio::time::sleep_until(at) => {
                        *hedge = None;
                        // A hedge that does not fit a budget is not sent.
                        if let Ok(mut b) = new_attempt(inner, run, attempts, *exchange, target, req.clone()) {
                            b.hedge = true;
                            *backup = Some(b);
                        }
                    }
                }
            }
            let Some(b) = backup.as_mut() else {
                return live.attempt.next().await;
            };
            // The race for the first output.
            let (backup_won, r) = tokio::select! {
                r = live.attempt.next() => (false, r),
                r = b.next() => (true, r),
            };
            let Some(mut other) = backup.take() else {
                continue;
            };
            if backup_won {
                // The backup carries the call from here: it takes the primary's place.
                std::mem::swap(&mut live.attempt, &mut other);
                run.moved_to_fallback();
            }
            match r {
                Ok(step) => {
                    self.record.settle(other, End::Cancelled);
                    return Ok(step);
                }
                Err(f) => {
                    // The winner failed: it is recorded, and its rival carries on alone.
                    std::mem::swap(&mut live.attempt, &mut other);
                    if !backup_won {
                        run.moved_to_fallback();
                    }
                    let target = other.target.clone();
                    self.record.settle(other, End::Failed(&f.error));
                    run.noted(&target, f.error);
                }
            }
        }
    }

    /// Output of the current attempt, as the caller sees it (a `Restart` first when another
    /// attempt had already shown output).
    fn output(&mut self, ev: ProviderEvent) -> Option<StreamEvent> {
        let ev = match ev {
            ProviderEvent::TextDelta(text) => StreamEvent::TextDelta { text },
            ProviderEvent::ReasoningDelta(text) => StreamEvent::ReasoningDelta { text },
            ProviderEvent::ToolCallDelta {
                index,
                id,
                name,
                arguments,
            } => StreamEvent::ToolCallDelta {
                index,
                id,
                name,
                arguments,
            },
            ProviderEvent::Usage(_) | ProviderEvent::Alive | ProviderEvent::Done(_) => return None,
        };
        if self.record.ttft.is_none() {
            self.record.ttft = Some(self.record.elapsed());
        }
        let live = self.current.as_mut()?;
        let restart = live.restart_pending.then(|| {
            live.restart_pending = false;
            restart_event(&live.attempt.target, &self.last_failure)
        });
        if restart.is_some() {
            self.shown.clear();
            self.shown_any = false;
            self.shown_tools = false;
        }
        self.shown_any = true;
        match &ev {
            StreamEvent::TextDelta { text }
                if self.inner.router.policy.midstream == Midstream::Continue =>
            {
                self.shown.push_str(text)
            }
            StreamEvent::ToolCallDelta { .. } => self.shown_tools = true,
            _ => {}
        }
        match restart {
            Some(r) => {
                self.queue.push_back(ev);
                Some(r)
            }
            None => Some(ev),
        }
    }

    /// The current attempt completed the call.
    fn done(&mut self, mut c: Completion) -> Option<StreamEvent> {
        let live = self.current.take()?;
        let target = live.attempt.target.clone();
        if let Some(run) = self.run.as_mut() {
            run.succeeded(&target);
        }
        if let Some(p) = &live.prefill {
            // The answer continues the prefill: the response holds both.
            let rest = c.message.text();
            c.message.content = Some(Content::Text(format!("{p}{rest}")));
        }
        if self.record.ttft.is_none() {
            self.record.ttft = Some(self.record.elapsed());
        }
        let restart = live
            .restart_pending
            .then(|| restart_event(&target, &self.last_failure));
        self.record.settle(live.attempt, End::Ok);
        let fin = StreamEvent::Final {
            response: Box::new(self.record.succeed(c, &target)),
        };
        Some(match restart {
            Some(r) => {
                self.queue.push_back(fin);
                r
            }
            None => fin,
        })
    }

    /// The current attempt failed: it is recorded, and the walk decides what comes next.
    async fn failed(&mut self, f: Failure) {
        let Some(live) = self.current.take() else {
            return;
        };
        let target = live.attempt.target.clone();
        let had_output = live.attempt.ttft.is_some();
        self.record.settle(live.attempt, End::Failed(&f.error));
        if had_output {
            self.last_failure = format!("{} failed mid-stream: {}", target.model, f.error.message);
        }
        let Some(run) = self.run.as_mut() else {
            return;
        };
        if live.prefill.is_some() && !had_output && f.error.kind == ErrorKind::InvalidRequest {
            // The target rejected the continuation: restart elsewhere, and never let this
            // rejection stand for the original failure.
            self.prefill_rejected = true;
            run.skip(&target, f.error);
            return;
        }
        run.failed(&target, f.error, f.silent).await;
    }
}

impl Drop for CallRun {
    fn drop(&mut self) {
        if let Some(live) = self.current.take() {
            self.record.settle(live.attempt, End::Cancelled);
        }
        if let Some(b) = self.backup.take() {
            self.record.settle(b, End::Cancelled);
        }
    }
}

/// A new attempt of the call on `target`, with the deadlines that apply to it, its worst case
/// reserved in the budgets that apply (`Err`: it does not fit; nothing is reserved or sent).
fn new_attempt(
    inner: &Inner,
    run: &RouteRun,
    attempts: &mut u32,
    exchange: Exchange,
    target: Arc<Target>,
    mut req: Arc<Request>,
) -> Result<Attempt> {
    let router = &inner.router;
    let mut reservation = None;
    if !inner.budgets.is_empty() {
        let (held, max_tokens) = inner.budgets.reserve(
            &req,
            &target.model,
            run.plan.route_name(),
            &router.catalogue,
            super::record::unix_ms(),
        )?;
        if let Some(m) = max_tokens {
            // The provider must not produce more than was reserved.
            let mut r = (*req).clone();
            r.params.max_tokens = Some(m);
            req = Arc::new(r);
        }
        reservation = Some(held);
    }
    *attempts += 1;
    let deadlines = Deadlines::resolve(&router.policy, run.plan.route_deadlines(), &target, &req);
    let mut attempt = Attempt::new(
        target,
        req,
        *attempts,
        exchange,
        deadlines,
        run.deadline,
        &router.balancer,
    );
    attempt.budget = reservation;
    Ok(attempt)
}

fn restart_event(target: &Target, reason: &str) -> StreamEvent {
    StreamEvent::Restart {
        model: target.model.clone(),
        provider: target.provider.name().to_string(),
        reason: reason.to_string(),
    }
}
