//! The fusion record: the fusion's id (the `parent_id` of every member's and judge's usage
//! events), the log of its calls with their usage summed, and its own usage event (level
//! `fusion`: the total of its members and judges, cost included, the calls' outcomes as its
//! attempts), emitted exactly once: on success, on failure, or (dropped unfinished: the caller
//! cancelled) as cancelled.
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Map;
use tokio::time::Instant;

use crate::call::Client;
use crate::types::error::{Error, ErrorKind};
use crate::types::request::Params;
use crate::types::response::{Attempt, Outcome, Response};
use crate::usage::{Level, Usage, UsageEvent};

fn since_epoch() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// A fresh fusion id: `pf-fusion-<time>-<n>`, unique within the process.
fn new_fusion_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("pf-fusion-{:x}-{n:x}", since_epoch().as_nanos() as u64)
}

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// How one call of the fusion ended.
pub(crate) enum Ended<'a> {
    Answered(&'a Response),
    Failed(&'a Error),
    Cancelled,
}

impl Ended<'_> {
    /// What the call consumed: the answer's usage, the failed attempts' summed, or unknown for
    /// a call cancelled before it answered.
    pub(crate) fn usage(&self) -> Usage {
        match self {
            Ended::Answered(r) => r.usage.clone(),
            Ended::Failed(e) => {
                let mut u = Usage::none();
                for a in &e.attempts {
                    u.add(&a.usage);
                }
                u
            }
            Ended::Cancelled => Usage::default(),
        }
    }
}

/// Book-keeping of one fusion.
pub(crate) struct FusionRecord {
    client: Client,
    pub id: String,
    model: String,
    parent_id: Option<String>,
    streamed: bool,
    pub started: Instant,
    started_at_ms: u64,
    pub calls: Vec<Attempt>,
    pub usage: Usage,
    pub ttft: Option<Duration>,
    tags: Map<String, serde_json::Value>,
    metadata: Map<String, serde_json::Value>,
    emitted: bool,
}

impl FusionRecord {
    pub(crate) fn new(
        client: &Client,
        name: Option<&str>,
        parent_id: Option<String>,
        params: &Params,
        streamed: bool,
    ) -> FusionRecord {
        FusionRecord {
            client: client.clone(),
            id: new_fusion_id(),
            model: match name {
                Some(n) => format!("fusion/{n}"),
                None => "fusion".to_string(),
            },
            parent_id,
            streamed,
            started: Instant::now(),
            started_at_ms: since_epoch().as_millis() as u64,
            calls: Vec::new(),
            usage: Usage::none(),
            ttft: None,
            tags: params.tags.clone().unwrap_or_default(),
            metadata: params.metadata.clone().unwrap_or_default(),
            emitted: false,
        }
    }

    /// Records one call of the fusion (a member's or a judge's) that is over.
    pub(crate) fn call(&mut self, model: &str, ended: &Ended<'_>, latency: Duration) {
        let usage = ended.usage();
        self.usage.add(&usage);
        let (outcome, error_kind, error_message, provider, status) = match ended {
            Ended::Answered(r) => (Outcome::Ok, None, None, r.provider.clone(), None),
            Ended::Failed(e) => (
                Outcome::Error,
                Some(e.kind),
                Some(e.message.clone()),
                e.provider.clone().unwrap_or_default(),
                e.status,
            ),
            Ended::Cancelled => (
                Outcome::Cancelled,
                Some(ErrorKind::Cancelled),
                None,
                String::new(),
                None,
            ),
        };
        self.calls.push(Attempt {
            model: model.to_string(),
            provider,
            outcome,
            error_kind,
            error_message,
            status,
            latency_ms: ms(latency),
            ttft_ms: match ended {
                Ended::Answered(r) => r.ttft_ms,
                _ => None,
            },
            usage,
            number: self.calls.len() as u32 + 1,
            hedge: false,
            fallback: false,
        });
    }

    /// Emits the fusion's usage event (once).
    pub(crate) fn finish(&mut self, outcome: Outcome, error: Option<&Error>) {
        if self.emitted {
            return;
        }
        self.emitted = true;
        self.client.emit_usage(UsageEvent {
            request_id: self.id.clone(),
            parent_id: self.parent_id.clone(),
            level: Level::Fusion,
            started_at_ms: self.started_at_ms,
            route: None,
            model: self.model.clone(),
            provider: "fusion".to_string(),
            outcome,
            error_kind: match (outcome, error) {
                (_, Some(e)) => Some(e.kind),
                (Outcome::Cancelled, None) => Some(ErrorKind::Cancelled),
                _ => None,
            },
            error_message: error.map(|e| e.message.clone()),
            streamed: self.streamed,
            usage: self.usage.clone(),
            latency_ms: ms(self.started.elapsed()),
            ttft_ms: self.ttft.map(ms),
            attempt: None,
            hedge: false,
            fallback: false,
            attempts: self.calls.clone(),
            tags: std::mem::take(&mut self.tags),
            metadata: std::mem::take(&mut self.metadata),
        });
    }
}

impl Drop for FusionRecord {
    fn drop(&mut self) {
        if !self.emitted {
            self.finish(Outcome::Cancelled, None);
        }
    }
}
