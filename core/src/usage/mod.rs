//! Usage: normalized token counts ([`Usage`], in `tokens`), the per-call [`UsageEvent`], and (in
//! `dispatch`) the dispatcher that hands events to user callbacks off the request's hot path.
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::types::error::ErrorKind;

mod dispatch;
mod pricing;
mod tokens;

use crate::types::response::{Attempt, Outcome};
pub(crate) use dispatch::UsageDispatcher;
pub use pricing::{Catalogue, DataSource, ModelInfo, Prices, Tier, UnknownModels};
pub use tokens::{Usage, UsageSource};

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
