//! What a call may try: [`Target`]s (a provider and the model name it is asked for, with what
//! the route declared about it), [`Route`]s resolved once when the client is built, and the
//! [`Plan`] of one call (its targets in the order the strategy chose).
use std::sync::Arc;
use std::time::Duration;

use crate::config::{DeadlineOverrides, HedgeConfig, Strategy};
use crate::providers::Provider;
use crate::types::error::ErrorKind;

/// One target: a provider and the model name it is asked for.
pub(crate) struct Target {
    /// `provider/model`.
    pub model: String,
    pub provider: Arc<dyn Provider>,
    /// The model name after `provider/`.
    pub name: String,
    pub context_window: Option<u64>,
    /// Share of traffic under the `weighted` strategy.
    pub weight: f64,
    /// USD per million tokens, for the `lowest_cost` strategy.
    pub cost_per_mtok: Option<f64>,
    /// This target's own deadlines.
    pub deadlines: DeadlineOverrides,
}

/// A route of the config, its targets resolved to providers.
pub(crate) struct Route {
    pub name: String,
    pub targets: Vec<Arc<Target>>,
    pub strategy: Strategy,
    pub fallback_on: Vec<ErrorKind>,
    pub hedge: Option<HedgeConfig>,
    pub deadlines: DeadlineOverrides,
}

/// The targets of one call, in order.
pub(crate) struct Plan {
    pub route: Option<Arc<Route>>,
    pub targets: Vec<Arc<Target>>,
    /// Hedge the first attempt after this delay (routes with `hedge`).
    pub hedge_delay: Option<Duration>,
}

impl Plan {
    /// The route's name, if the call named one.
    pub(crate) fn route_name(&self) -> Option<&str> {
        self.route.as_deref().map(|r| r.name.as_str())
    }

    /// The route's deadline overrides (none for a single model).
    pub(crate) fn route_deadlines(&self) -> DeadlineOverrides {
        self.route
            .as_deref()
            .map(|r| r.deadlines)
            .unwrap_or_default()
    }
}
