//! The call record: book-keeping of one logical call (its attempts, timings, route), the one
//! place where an attempt is recorded ([`CallRecord::settle`]), and the call's usage event,
//! emitted exactly once: on success, on failure, or (dropped unfinished: the caller cancelled)
//! as cancelled.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Map;
use tokio::time::Instant;

use super::attempt::Attempt;
use super::Inner;
use crate::providers::Completion;
use crate::routing::plan::Target;
use crate::types::error::{Error, ErrorKind};
use crate::types::request::Request;
use crate::types::response::{self, Outcome, Response};
use crate::usage::{Level, Ticket, Usage, UsageEvent};

/// How an attempt ended.
pub(super) enum End<'a> {
    Ok,
    Failed(&'a Error),
    Cancelled,
}

pub(super) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Milliseconds since the Unix epoch.
pub(super) fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A fresh polyfuse request id: time-ordered and unique within the process.
fn new_request_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("pf-{nanos:x}-{n:x}")
}

/// Book-keeping of one logical call.
pub(super) struct CallRecord {
    inner: Arc<Inner>,
    pub request_id: String,
    model: String,
    provider: String,
    pub route: Option<String>,
    /// The first target of the plan: attempts elsewhere are fallbacks.
    pub primary: Option<String>,
    tags: Map<String, serde_json::Value>,
    metadata: Map<String, serde_json::Value>,
    /// The fusion this call belongs to.
    pub parent_id: Option<String>,
    streamed: bool,
    started: Instant,
    started_at_ms: u64,
    /// Time to the first output the caller saw.
    pub ttft: Option<Duration>,
    attempts: Vec<response::Attempt>,
    emitted: bool,
    /// The ledger's ticket of the call event, until the call awaits it.
    ticket: Option<Ticket>,
}

impl CallRecord {
    pub(super) fn new(inner: &Arc<Inner>, req: &Request, streamed: bool) -> Self {
        CallRecord {
            inner: inner.clone(),
            request_id: new_request_id(),
            model: req.model.clone(),
            provider: req
                .model
                .split_once('/')
                .map(|(p, _)| p.to_string())
                .unwrap_or_default(),
            route: None,
            primary: None,
            tags: req.params.tags.clone().unwrap_or_default(),
            metadata: req.params.metadata.clone().unwrap_or_default(),
            parent_id: None,
            streamed,
            started: Instant::now(),
            started_at_ms: unix_ms(),
            ttft: None,
            attempts: Vec::new(),
            emitted: false,
            ticket: None,
        }
    }

    /// Time since the call started.
    pub(super) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Records an attempt that is over (the one place attempts are recorded), consuming it:
    /// dropping it closes its connection unless it already finished its body. Emits the
    /// attempt's usage event.
    pub(super) fn settle(&mut self, mut attempt: Attempt, end: End<'_>) {
        let reservation = attempt.budget.take();
        let (outcome, error) = match end {
            End::Ok => (Outcome::Ok, None),
            End::Failed(e) => (Outcome::Error, Some(e)),
            End::Cancelled => (Outcome::Cancelled, None),
        };
        let target = &attempt.target;
        self.provider = target.provider.name().to_string();
        let fallback = self.primary.as_deref().is_some_and(|p| p != target.model);
        let latency = attempt.started.elapsed();
        let mut usage = attempt.usage();
        self.inner.price(target, &mut usage);
        if let Some(reservation) = reservation {
            self.inner.budgets.settle(reservation, &usage);
        }
        let rec = response::Attempt {
            model: target.model.clone(),
            provider: self.provider.clone(),
            outcome,
            error_kind: end_kind(outcome, error),
            error_message: error.map(|e| e.message.clone()),
            status: error.and_then(|e| e.status),
            latency_ms: ms(latency),
            ttft_ms: attempt.ttft.map(ms),
            usage,
            number: attempt.number,
            hedge: attempt.hedge,
            fallback,
        };
        if self.inner.usage_on() {
            let started_at_ms = unix_ms().saturating_sub(latency.as_millis() as u64);
            // Its ticket is not kept: the call event, queued after it, is the one awaited.
            self.inner.emit(UsageEvent {
                request_id: format!("{}.{}", self.request_id, rec.number),
                parent_id: Some(self.request_id.clone()),
                level: Level::Attempt,
                started_at_ms,
                route: self.route.clone(),
                model: rec.model.clone(),
                provider: rec.provider.clone(),
                outcome,
                error_kind: rec.error_kind,
                error_message: rec.error_message.clone(),
                streamed: self.streamed,
                usage: rec.usage.clone(),
                latency_ms: rec.latency_ms,
                ttft_ms: rec.ttft_ms,
                attempt: Some(rec.number),
                hedge: rec.hedge,
                fallback: rec.fallback,
                attempts: Vec::new(),
                tags: self.tags.clone(),
                metadata: self.metadata.clone(),
            });
        }
        self.attempts.push(rec);
    }

    fn emit(&mut self, outcome: Outcome, error: Option<&Error>) {
        if self.emitted {
            return;
        }
        self.emitted = true;
        let mut usage = Usage::none();
        for a in &self.attempts {
            usage.add(&a.usage);
        }
        let fallback = outcome == Outcome::Ok && self.attempts.last().is_some_and(|a| a.fallback);
        let event = UsageEvent {
            request_id: self.request_id.clone(),
            parent_id: self.parent_id.clone(),
            level: Level::Call,
            started_at_ms: self.started_at_ms,
            route: self.route.clone(),
            model: self.model.clone(),
            provider: self.provider.clone(),
            outcome,
            error_kind: match (outcome, error) {
                (_, Some(e)) => Some(e.kind),
                (Outcome::Cancelled, None) => Some(ErrorKind::Cancelled),
                _ => None,
            },
            error_message: error.map(|e| e.message.clone()),
            streamed: self.streamed,
            usage,
            latency_ms: ms(self.started.elapsed()),
            ttft_ms: self.ttft.map(ms),
            attempt: None,
            hedge: false,
            fallback,
            attempts: self.attempts.clone(),
            tags: std::mem::take(&mut self.tags),
            metadata: std::mem::take(&mut self.metadata),
        };
        self.inner.aggregates.add(&event);
        self.ticket = self.inner.emit(event);
    }

    /// The ledger ticket of the call event, once emitted (taken: the call awaits it once).
    pub(super) fn take_ticket(&mut self) -> Option<Ticket> {
        self.ticket.take()
    }

    /// The call succeeded with `c` from `target`: emits the usage event, builds the response
    /// (its usage priced like the answering attempt's).
    pub(super) fn succeed(&mut self, mut c: Completion, target: &Target) -> Response {
        self.inner.price(target, &mut c.usage);
        let model = target.model.as_str();
        self.emit(Outcome::Ok, None);
        Response {
            id: self.request_id.clone(),
            provider_response_id: c.provider_response_id,
            text: c.message.text(),
            message: c.message,
            finish_reason: c.finish_reason,
            usage: c.usage,
            model: model.to_string(),
            provider: self.provider.clone(),
            provider_model: c.provider_model,
            route: self.route.clone(),
            latency_ms: ms(self.started.elapsed()),
            ttft_ms: self.ttft.map(ms),
            attempts: std::mem::take(&mut self.attempts),
            raw: c.raw,
            reasoning: c.reasoning,
        }
    }

    /// The call failed with `e`: emits the usage event, attaches every attempt to the error.
    pub(super) fn fail(&mut self, mut e: Error) -> Error {
        let outcome = if e.kind == ErrorKind::Cancelled {
            Outcome::Cancelled
        } else {
            Outcome::Error
        };
        self.emit(outcome, Some(&e));
        e.attempts = std::mem::take(&mut self.attempts);
        if e.model.is_none() {
            e.model = Some(self.model.clone());
        }
        e
    }
}

fn end_kind(outcome: Outcome, error: Option<&Error>) -> Option<ErrorKind> {
    match (outcome, error) {
        (_, Some(e)) => Some(e.kind),
        (Outcome::Cancelled, None) => Some(ErrorKind::Cancelled),
        _ => None,
    }
}

impl Drop for CallRecord {
    fn drop(&mut self) {
        if !self.emitted {
            self.emit(Outcome::Cancelled, None);
        }
    }
}
