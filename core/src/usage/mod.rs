//! Usage: normalized token counts ([`Usage`], in `tokens`), the [`UsageEvent`]s of every attempt
//! and call, their delivery to user callbacks off the request's hot path (`dispatch`), the
//! durable ledger they can be written to ([`ledger`]) and the HTML report drawn from it
//! ([`report`]).
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::types::error::ErrorKind;

mod aggregate;
mod budget;
mod dispatch;
pub mod ledger;
mod pricing;
pub mod report;
mod tokens;

use crate::types::response::{Attempt, Outcome};
pub(crate) use aggregate::Aggregates;
pub use aggregate::{Percentiles, UsageSummary, UsageTotals, MAX_GROUPS};
pub use budget::{Amount, BudgetConfig, BudgetStore, MemoryStore};
pub(crate) use budget::{Budgets, Reservation};
pub(crate) use dispatch::UsageDispatcher;
pub use dispatch::{
    drain_at_exit, exit_bound_in_process, forget_after_fork, pending_in_process, DeliveryStats,
};
pub(crate) use ledger::{Ledger, Ticket};
pub use pricing::{Catalogue, DataSource, ModelInfo, Prices, Tier, UnknownModels};
pub use tokens::{Usage, UsageSource};

/// What a usage event accounts for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// One try at one target (emitted when the attempt ends; its parent is the call).
    Attempt,
    /// One logical `complete` / `stream` call, all its attempts summed.
    Call,
}

/// One usage event: emitted for every attempt when it ends, then once for the logical call,
/// whatever its end (success, failure, cancellation, a stream abandoned by its consumer).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UsageEvent {
    /// The call's id (`pf-...`); for an attempt, the call's id and its number (`pf-....2`).
    pub request_id: String,
    /// For an attempt: its call's id. For a call: the fusion it belongs to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    pub level: Level,
    /// When the call or attempt started, in milliseconds since the Unix epoch.
    pub started_at_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// The model requested (a call) or tried (an attempt).
    pub model: String,
    /// The provider that answered (or the last one tried).
    pub provider: String,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<ErrorKind>,
    /// The error's message (key-free), when the outcome is an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    pub streamed: bool,
    /// A call's: summed over every attempt; an attempt's: its own (what the provider reported).
    pub usage: Usage,
    pub latency_ms: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<f64>,
    /// An attempt's number within its call (1-based).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// An attempt started as a hedge's backup.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hedge: bool,
    /// An attempt on a target other than the call's first; for a call: answered by a fallback.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fallback: bool,
    /// A call's attempts (empty for an attempt event).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<Attempt>,
    /// The caller's tags (`tags=` on the call), also the keys of usage aggregates.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub tags: Map<String, Value>,
    /// The caller's metadata (`metadata=` on the call), carried as is.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub metadata: Map<String, Value>,
}

/// A user callback: receives events in batches (in order), on the usage thread. Bindings wrap
/// Python callables and JS functions in one of these.
pub type UsageCallback = Arc<dyn Fn(&[Arc<UsageEvent>]) + Send + Sync>;
