//! Routing: what one call may try and in which order. [`Router`] holds the providers, the routes
//! (their targets resolved once, when the client is built), the policy, and the per-target state
//! that ordering and admission read: circuit breakers (`breaker`) and live statistics
//! (`balance`). A shared store (e.g. Redis) can later replace that state behind the same calls.
//! `plan` holds a call's targets; `run` the walk over them (retries, backoff, fallback, the total
//! budget); `retry` the decision after a failed attempt.
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{builtin, Policy, RouteConfig};
use crate::providers::Provider;
use crate::types::error::{Error, Result};
use crate::usage::Catalogue;

pub(crate) mod balance;
pub mod breaker;
pub(crate) mod plan;
pub(crate) mod retry;
pub(crate) mod run;

use balance::{Balancer, Candidate, Measure};
use breaker::Breakers;
use plan::{Plan, Route, Target};

/// Providers, routes, policy and per-target state of one client.
pub(crate) struct Router {
    pub policy: Policy,
    /// Prices and context windows (built-in data plus the config's `pricing`).
    pub catalogue: Arc<Catalogue>,
    pub providers: BTreeMap<String, Arc<dyn Provider>>,
    routes: BTreeMap<String, Arc<Route>>,
    pub breakers: Breakers,
    pub balancer: Arc<Balancer>,
}

impl Router {
    /// Resolves every route's targets now: a target that names no configured provider is a
    /// config error naming its key path.
    pub(crate) fn new(
        policy: Policy,
        providers: BTreeMap<String, Arc<dyn Provider>>,
        routes: BTreeMap<String, RouteConfig>,
        catalogue: Catalogue,
    ) -> Result<Router> {
        let mut router = Router {
            breakers: Breakers::new(policy.breaker.clone()),
            policy,
            catalogue: Arc::new(catalogue),
            providers,
            routes: BTreeMap::new(),
            balancer: Arc::new(Balancer::default()),
        };
        for (name, rc) in routes {
            let mut targets = Vec::with_capacity(rc.targets.len());
            for (i, t) in rc.targets.iter().enumerate() {
                let mut target = router.target(t.model()).map_err(|e| {
                    Error::config(format!(
                        "config key `routes.{name}.targets[{i}]`: {}",
                        e.message
                    ))
                })?;
                // Declared values first, else the catalogue's (windows feed the context-window
                // fallback, prices the lowest_cost strategy).
                target.context_window = t
                    .context_window()
                    .or_else(|| router.catalogue.context_window(t.model()));
                target.weight = t.weight();
                target.cost_per_mtok = t
                    .cost_per_mtok()
                    .or_else(|| router.catalogue.blended_per_mtok(t.model()));
                target.deadlines = t.deadlines();
                targets.push(Arc::new(target));
            }
            let route = Route {
                name: name.clone(),
                targets,
                strategy: rc.strategy,
                fallback_on: rc
                    .fallback_on
                    .clone()
                    .unwrap_or_else(|| router.policy.fallback_on.clone()),
                hedge: rc.hedge.clone(),
                deadlines: rc.deadlines(),
            };
            router.routes.insert(name, Arc::new(route));
        }
        Ok(router)
    }

    /// The target for one `provider/model`.
    pub(crate) fn target(&self, model: &str) -> Result<Target> {
        let (provider, name) = model.split_once('/').ok_or_else(|| {
            Error::invalid_request(format!(
                "model `{model}`: expected `provider/model` (e.g. `openai/gpt-4o-mini` or `mock/echo`) or a route name"
            ))
        })?;
        if name.is_empty() {
            return Err(Error::invalid_request(format!(
                "model `{model}`: the model name after `{provider}/` is empty"
            )));
        }
        let Some(p) = self.providers.get(provider) else {
            let hint = match builtin(provider) {
                Some(b) => format!(
                    "set {} or add `providers.{provider}` to the config",
                    b.key_vars.join(" or ")
                ),
                None => {
                    format!("add `providers.{provider}` (format, base_url, api_key) to the config")
                }
            };
            return Err(Error::config(format!(
                "model `{model}`: provider `{provider}` is not configured ({hint}); configured: {}",
                self.providers
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        Ok(Target {
            model: model.to_string(),
            provider: p.clone(),
            name: name.to_string(),
            context_window: None,
            weight: 1.0,
            cost_per_mtok: None,
            deadlines: Default::default(),
        })
    }

    /// The targets for `model`: a route (`route/<name>` or a bare route name) in the order its
    /// strategy picks for this call, or one model.
    pub(crate) fn plan(&self, model: &str, measure: Measure) -> Result<Plan> {
        let route_name = model.strip_prefix("route/").unwrap_or(model);
        if let Some(route) = self.routes.get(route_name) {
            let candidates: Vec<Candidate<'_>> = route
                .targets
                .iter()
                .map(|t| Candidate {
                    model: &t.model,
                    weight: t.weight,
                    cost_per_mtok: t.cost_per_mtok,
                })
                .collect();
            let targets: Vec<Arc<Target>> = self
                .balancer
                .order(route.strategy, measure, &candidates)
                .into_iter()
                .map(|i| route.targets[i].clone())
                .collect();
            let hedge_delay = match (&route.hedge, targets.first()) {
                (Some(h), Some(first)) => {
                    let p95 = if h.delay.as_deref() == Some("p95") {
                        self.balancer.p95(&first.model, measure)
                    } else {
                        None
                    };
                    Some(
                        p95.or(h.delay_ms.map(Duration::from_millis))
                            .unwrap_or(Duration::from_secs(2)),
                    )
                }
                _ => None,
            };
            return Ok(Plan {
                route: Some(route.clone()),
                targets,
                hedge_delay,
            });
        }
        if model.starts_with("route/") {
            return Err(Error::config(format!(
                "model `{model}`: no route named `{route_name}` in the config"
            )));
        }
        Ok(Plan {
            route: None,
            targets: vec![Arc::new(self.target(model)?)],
            hedge_delay: None,
        })
    }
}
