//! The [`Client`]: resolves `provider/model`, runs the call against the provider under the
//! config's deadlines, records every attempt, and emits exactly one usage event per call
//! (success, failure or cancellation, streams included).
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{build_providers, Config, Policy, RouteConfig, BUILTIN_NATIVE, BUILTIN_OPENAI};
use crate::providers::http::build_http_client;
use crate::providers::{CallOptions, Provider};
use crate::routing::balance::{Balancer, Candidate, Measure};
use crate::routing::breaker::{Breakers, TargetHealth};
use crate::routing::plan::{Plan, Target};
use crate::types::error::{Error, ErrorKind, Result};
use crate::types::request::Request;
use crate::usage::{UsageCallback, UsageDispatcher};

mod complete;
mod record;
mod stream;

/// The entry point. Cheap to clone; clones share providers, the HTTP pool and usage callbacks.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    providers: BTreeMap<String, Arc<dyn Provider>>,
    routes: BTreeMap<String, RouteConfig>,
    policy: Policy,
    breakers: Breakers,
    balancer: Arc<Balancer>,
    usage: UsageDispatcher,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("providers", &self.provider_names())
            .finish()
    }
}

impl Client {
    /// Builds a client: one HTTP pool, the configured providers, and the usage callbacks.
    pub fn new(config: Config, on_usage: Vec<UsageCallback>) -> Result<Client> {
        let http = build_http_client(&config.policy)?;
        let providers = build_providers(&config, &http)?;
        let breakers = Breakers::new(config.policy.breaker.clone());
        let client = Client {
            inner: Arc::new(Inner {
                providers,
                routes: config.routes,
                policy: config.policy,
                breakers,
                balancer: Arc::new(Balancer::default()),
                usage: UsageDispatcher::new(on_usage),
            }),
        };
        // Every route target must name a reachable provider: fail at construction, not per call.
        for (name, route) in &client.inner.routes {
            for (i, t) in route.targets.iter().enumerate() {
                client.target(t.model(), t.context_window()).map_err(|e| {
                    Error::config(format!(
                        "config key `routes.{name}.targets[{i}]`: {}",
                        e.message
                    ))
                })?;
            }
        }
        Ok(client)
    }

    /// Names of the providers this client can reach.
    pub fn provider_names(&self) -> Vec<String> {
        self.inner.providers.keys().cloned().collect()
    }

    /// Circuit-breaker state of every target that has been called.
    pub fn health(&self) -> Vec<TargetHealth> {
        self.inner.breakers.health()
    }

    /// Blocks until every usage event emitted so far has been handed to the callbacks.
    pub fn flush_usage(&self) {
        self.inner.usage.flush();
    }

    /// Delivers pending usage events and stops the usage thread. Calls made afterwards still work
    /// but their events are dropped.
    pub fn close(&self) {
        self.inner.usage.flush();
        self.inner.usage.close();
    }

    fn target(&self, model: &str, context_window: Option<u64>) -> Result<Target> {
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
        match self.inner.providers.get(provider) {
            Some(p) => Ok(Target {
                model: model.to_string(),
                provider: p.clone(),
                name: name.to_string(),
                context_window,
            }),
            None => {
                let vars: Option<String> = BUILTIN_OPENAI
                    .iter()
                    .find(|(n, _, _)| *n == provider)
                    .map(|(_, _, var)| var.to_string())
                    .or_else(|| {
                        BUILTIN_NATIVE
                            .iter()
                            .find(|(n, ..)| *n == provider)
                            .map(|(.., vars)| vars.join(" or "))
                    });
                let hint = match vars {
                    Some(vars) => format!("set {vars} or add `providers.{provider}` to the config"),
                    None => format!(
                        "add `providers.{provider}` (format, base_url, api_key) to the config"
                    ),
                };
                Err(Error::config(format!(
                    "model `{model}`: provider `{provider}` is not configured ({hint}); configured: {}",
                    self.provider_names().join(", ")
                )))
            }
        }
    }

    /// The targets for `model`: a route (`route/<name>` or a bare route name) or one model.
    fn plan(&self, model: &str, measure: Measure) -> Result<Plan> {
        let route_name = model.strip_prefix("route/").unwrap_or(model);
        if let Some(route) = self.inner.routes.get(route_name) {
            let candidates: Vec<Candidate<'_>> = route
                .targets
                .iter()
                .map(|t| Candidate {
                    model: t.model(),
                    weight: t.weight(),
                    cost_per_mtok: t.cost_per_mtok(),
                })
                .collect();
            let targets = self
                .inner
                .balancer
                .order(route.strategy, measure, &candidates)
                .into_iter()
                .map(|i| self.target(route.targets[i].model(), route.targets[i].context_window()))
                .collect::<Result<Vec<_>>>()?;
            let hedge_delay = route.hedge.as_ref().map(|h| {
                let p95 = if h.delay.as_deref() == Some("p95") {
                    self.inner.balancer.p95(&targets[0].model, measure)
                } else {
                    None
                };
                p95.or(h.delay_ms.map(Duration::from_millis))
                    .unwrap_or(Duration::from_secs(2))
            });
            return Ok(Plan {
                route: Some(route_name.to_string()),
                targets,
                fallback_on: route
                    .fallback_on
                    .clone()
                    .unwrap_or_else(|| self.inner.policy.fallback_on.clone()),
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
            targets: vec![self.target(model, None)?],
            fallback_on: self.inner.policy.fallback_on.clone(),
            hedge_delay: None,
        })
    }

    fn options(&self) -> CallOptions {
        CallOptions {
            stream_idle_timeout: Duration::from_millis(self.inner.policy.stream_idle_timeout_ms),
        }
    }

    fn total_budget(&self, req: &Request) -> Duration {
        Duration::from_millis(
            req.params
                .timeout_ms
                .unwrap_or(self.inner.policy.total_timeout_ms),
        )
    }
}

fn deadline_error(limit: Duration, target: &Target, what: &str) -> Error {
    Error::new(
        ErrorKind::Timeout,
        format!("{what} did not complete within {:.1}s", limit.as_secs_f64()),
    )
    .with_provider(target.provider.name())
    .with_model(&target.model)
}
