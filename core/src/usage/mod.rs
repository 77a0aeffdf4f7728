//! Usage: normalized token counts ([`Usage`]), the per-call [`UsageEvent`], and (in `dispatch`)
//! the dispatcher that hands events to user callbacks off the request's hot path.
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::types::error::ErrorKind;

mod dispatch;

use crate::types::response::{Attempt, Outcome};
pub(crate) use dispatch::UsageDispatcher;

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
