//! The call record: book-keeping of one logical call (its attempts, timings, route) and the one
//! usage event it emits.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Map;

use super::Inner;
use crate::providers::Completion;
use crate::routing::plan::Target;
use crate::types::error::{Error, ErrorKind, Result};
use crate::types::request::Request;
use crate::types::response::{Attempt, Outcome, Response};
use crate::usage::{Usage, UsageEvent};

pub(super) fn record(
    call: &mut CallRecord,
    target: &Target,
    r: &Result<Completion>,
    started: Instant,
) {
    match r {
        Ok(c) => call.attempt(target, Outcome::Ok, None, started, None, c.usage.clone()),
        Err(e) => call.attempt(
            target,
            Outcome::Error,
            Some(e),
            started,
            None,
            Usage::default(),
        ),
    }
}

pub(super) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
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

/// Book-keeping of one logical call. Emits the call's usage event exactly once: on success, on
/// failure, or (when dropped unfinished, i.e. the caller cancelled) as cancelled.
pub(super) struct CallRecord {
    pub(super) inner: Arc<Inner>,
    pub(super) request_id: String,
    pub(super) model: String,
    pub(super) provider: String,
    pub(super) route: Option<String>,
    pub(super) tags: Map<String, serde_json::Value>,
    pub(super) streamed: bool,
    pub(super) started: Instant,
    pub(super) ttft: Option<Duration>,
    pub(super) attempts: Vec<Attempt>,
    pub(super) emitted: bool,
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
            tags: req.params.tags.clone().unwrap_or_default(),
            streamed,
            started: Instant::now(),
            ttft: None,
            attempts: Vec::new(),
            emitted: false,
        }
    }

    pub(super) fn attempt(
        &mut self,
        target: &Target,
        outcome: Outcome,
        error: Option<&Error>,
        started: Instant,
        ttft: Option<Duration>,
        usage: Usage,
    ) {
        self.provider = target.provider.name().to_string();
        self.attempts.push(Attempt {
            model: target.model.clone(),
            provider: self.provider.clone(),
            outcome,
            error_kind: error.map(|e| e.kind),
            error_message: error.map(|e| e.message.clone()),
            status: error.and_then(|e| e.status),
            latency_ms: ms(started.elapsed()),
            ttft_ms: ttft.map(ms),
            usage,
        });
    }

    fn emit(&mut self, outcome: Outcome, error_kind: Option<ErrorKind>) {
        if self.emitted {
            return;
        }
        self.emitted = true;
        let mut usage = Usage::default();
        for a in &self.attempts {
            usage.add(&a.usage);
        }
        self.inner.usage.emit(UsageEvent {
            request_id: self.request_id.clone(),
            parent_id: None,
            route: self.route.clone(),
            model: self.model.clone(),
            provider: self.provider.clone(),
            outcome,
            error_kind,
            streamed: self.streamed,
            usage,
            latency_ms: ms(self.started.elapsed()),
            ttft_ms: self.ttft.map(ms),
            attempts: self.attempts.clone(),
            tags: std::mem::take(&mut self.tags),
        });
    }

    pub(super) fn succeed(&mut self, c: Completion, _req: &Request, target: &Target) -> Response {
        self.emit(Outcome::Ok, None);
        Response {
            id: self.request_id.clone(),
            provider_response_id: c.provider_response_id,
            text: c.message.text(),
            message: c.message,
            finish_reason: c.finish_reason,
            usage: c.usage,
            model: target.model.clone(),
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

    pub(super) fn fail(&mut self, mut e: Error) -> Error {
        let outcome = if e.kind == ErrorKind::Cancelled {
            Outcome::Cancelled
        } else {
            Outcome::Error
        };
        self.emit(outcome, Some(e.kind));
        e.attempts = std::mem::take(&mut self.attempts);
        if e.model.is_none() {
            e.model = Some(self.model.clone());
        }
        e
    }
}

impl Drop for CallRecord {
    fn drop(&mut self) {
        if !self.emitted {
            self.emit(Outcome::Cancelled, Some(ErrorKind::Cancelled));
        }
    }
}
