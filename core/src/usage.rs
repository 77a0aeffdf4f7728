//! Usage: normalized token counts ([`Usage`]), the per-call [`UsageEvent`], and the dispatcher
//! that hands events to user callbacks off the request's hot path, exactly once each, in order.
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::ErrorKind;
use crate::response::{Attempt, Outcome};

/// Token counts with one meaning for every provider.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// All input tokens, cached ones included.
    pub input_tokens: u64,
    /// All output tokens, reasoning included.
    pub output_tokens: u64,
    /// Of `input_tokens`, those read from the provider's prompt cache.
    pub cached_input_tokens: u64,
    /// Of `input_tokens`, those written to the provider's prompt cache.
    pub cache_write_tokens: u64,
    /// Of `output_tokens`, those spent on reasoning.
    pub reasoning_tokens: u64,
    /// Cost in USD, when known (reported by the provider or priced).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
}

impl Usage {
    pub fn total_tokens(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }

    /// Adds another usage into this one (cost adds when either side knows it).
    pub fn add(&mut self, other: &Usage) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cached_input_tokens += other.cached_input_tokens;
        self.cache_write_tokens += other.cache_write_tokens;
        self.reasoning_tokens += other.reasoning_tokens;
        self.cost_usd = match (self.cost_usd, other.cost_usd) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
        };
    }
}

/// One logical call's accounting: emitted once per `complete` / `stream` call, whatever its end
/// (success, failure, cancellation). Its `attempts` list every try with its own usage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UsageEvent {
    pub request_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// The model requested.
    pub model: String,
    /// The provider that answered (or the last one tried).
    pub provider: String,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<ErrorKind>,
    pub streamed: bool,
    /// Summed over every attempt.
    pub usage: Usage,
    pub latency_ms: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<f64>,
    pub attempts: Vec<Attempt>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub tags: Map<String, Value>,
}

/// A user callback. Bindings wrap Python callables and JS functions in one of these.
pub type UsageCallback = Arc<dyn Fn(&UsageEvent) + Send + Sync>;

enum Msg {
    Event(Box<UsageEvent>),
    Flush(mpsc::Sender<()>),
}

/// Delivers usage events to callbacks on a dedicated thread, so a slow callback never delays a
/// request and no runtime is assumed. The thread exits when the dispatcher is dropped.
pub(crate) struct UsageDispatcher {
    tx: Mutex<Option<mpsc::Sender<Msg>>>,
}

impl UsageDispatcher {
    pub(crate) fn new(callbacks: Vec<UsageCallback>) -> Self {
        if callbacks.is_empty() {
            return UsageDispatcher {
                tx: Mutex::new(None),
            };
        }
        let (tx, rx) = mpsc::channel::<Msg>();
        let spawned = std::thread::Builder::new()
            .name("polyfuse-usage".into())
            .spawn(move || {
                for msg in rx {
                    match msg {
                        Msg::Event(ev) => {
                            for cb in &callbacks {
                                // A panicking callback must not stop delivery to the others.
                                let _ =
                                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                        cb(&ev)
                                    }));
                            }
                        }
                        Msg::Flush(done) => {
                            let _ = done.send(());
                        }
                    }
                }
            });
        UsageDispatcher {
            tx: Mutex::new(spawned.ok().map(|_| tx)),
        }
    }

    pub(crate) fn emit(&self, event: UsageEvent) {
        if let Ok(guard) = self.tx.lock() {
            if let Some(tx) = guard.as_ref() {
                let _ = tx.send(Msg::Event(Box::new(event)));
            }
        }
    }

    /// Blocks until every event emitted before this call has been delivered.
    pub(crate) fn flush(&self) {
        let (done_tx, done_rx) = mpsc::channel();
        let sent = match self.tx.lock() {
            Ok(guard) => guard
                .as_ref()
                .map(|tx| tx.send(Msg::Flush(done_tx)).is_ok())
                .unwrap_or(false),
            Err(_) => false,
        };
        if sent {
            let _ = done_rx.recv();
        }
    }

    /// Stops accepting events; the thread delivers what it has and exits.
    pub(crate) fn close(&self) {
        if let Ok(mut guard) = self.tx.lock() {
            guard.take();
        }
    }
}
