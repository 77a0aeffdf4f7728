//! The plan of one call: its targets (a provider and the model name it is asked for), in order,
//! with the route's fallback kinds and hedge delay.
use std::sync::Arc;
use std::time::Duration;

use crate::providers::Provider;
use crate::types::error::ErrorKind;

/// One target: a provider and the model name it is asked for.
#[derive(Clone)]
pub(crate) struct Target {
    /// `provider/model`.
    pub model: String,
    pub provider: Arc<dyn Provider>,
    /// The model name after `provider/`.
    pub name: String,
    pub context_window: Option<u64>,
}

/// The targets of one call, in order.
pub(crate) struct Plan {
    pub route: Option<String>,
    pub targets: Vec<Target>,
    pub fallback_on: Vec<ErrorKind>,
    /// Hedge the first attempt after this delay (routes with `hedge`).
    pub hedge_delay: Option<Duration>,
}
