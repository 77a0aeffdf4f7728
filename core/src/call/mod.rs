//! The [`Client`]: built once from a config (providers, routes, the HTTP pool, usage callbacks),
//! it carries out logical calls: `complete` (one response) and `stream` (events). Both run the
//! same engine (`engine`): every attempt goes through one driver (`attempt`) under deadlines
//! resolved per attempt (`deadlines`), and the call record (`record`) accounts for each attempt
//! and emits exactly one usage event per call (success, failure or cancellation, streams
//! included). With the ledger on, a call hands out its end only once its events are durable
//! (`CallRun::next_durable`).
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{build_providers, Config};
use crate::providers::http::build_http_client;
use crate::routing::breaker::TargetHealth;
use crate::routing::plan::Target;
use crate::routing::Router;
use crate::types::error::{Error, ErrorKind, Result};
use crate::types::request::Request;
use crate::types::response::Response;
use crate::types::stream::{EventStream, StreamEvent};
use crate::usage::ledger::LedgerStats;
use crate::usage::{
    Aggregates, Budgets, Catalogue, DeliveryStats, Ledger, MemoryStore, Ticket, UnknownModels,
    UsageCallback, UsageDispatcher, UsageEvent, UsageSummary,
};

mod attempt;
mod deadlines;
mod engine;
mod record;

use engine::CallRun;

/// The entry point. Cheap to clone; clones share providers, the HTTP pool and usage callbacks.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    router: Arc<Router>,
    usage: UsageDispatcher,
    /// Models already warned about for having no price.
    unpriced: UnknownModels,
    /// `usage()`: totals by model, provider, route and tag.
    aggregates: Aggregates,
    /// Spending limits, reserved before every attempt.
    budgets: Budgets,
    /// The durable usage ledger (`usage.ledger`), when on.
    ledger: Option<Ledger>,
}

impl Inner {
    /// Whether usage events are wanted (callbacks or the ledger): else none are built.
    fn usage_on(&self) -> bool {
        self.usage.is_on() || self.ledger.is_some()
    }

    /// Hands a usage event to the ledger and the callbacks; returns its ledger ticket.
    fn emit(&self, event: UsageEvent) -> Option<Ticket> {
        let ticket = match &self.ledger {
            Some(ledger) if self.usage.is_on() => ledger.append(event.clone()),
            Some(ledger) => return ledger.append(event),
            None => None,
        };
        self.usage.emit(event);
        ticket
    }

    /// Resolves once the event of `ticket` (and every one before it) is in the ledger.
    async fn durable(&self, ticket: Ticket) {
        if let Some(ledger) = &self.ledger {
            ledger.durable(ticket).await;
        }
    }

    /// The cost of `usage` on `target`: the provider's report, else the catalogue's price, else
    /// 0 for the in-process mock, else unknown (`None`, never 0), with a warning on stderr the
    /// first time for a model.
    fn price(&self, target: &Target, usage: &mut crate::usage::Usage) {
        let model = target.model.as_str();
        usage.cost_usd = self.router.catalogue.cost(model, usage);
        if usage.cost_usd.is_none() && target.provider.is_free() && usage.is_known() {
            usage.cost_usd = Some(0.0);
        }
        if usage.cost_usd.is_none()
            && usage.is_known()
            && self.router.catalogue.lookup(model).is_none()
            && self.unpriced.first_time(model)
        {
            eprintln!(
                "polyfuse: no price is known for `{}`: its cost is reported as null \
                 (add it under `pricing.models` in the config)",
                model.split(';').next().unwrap_or(model)
            );
        }
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("providers", &self.provider_names())
            .finish()
    }
}

impl Client {
    /// Builds a client: one HTTP pool, the configured providers, every route's targets resolved
    /// (a target naming no configured provider is a config error here, not at call time), and
    /// the usage callbacks.
    pub fn new(config: Config, on_usage: Vec<UsageCallback>) -> Result<Client> {
        let http = build_http_client(&config.policy)?;
        let providers = build_providers(&config, &http, &|v| std::env::var(v).ok())?;
        let catalogue = Catalogue::with_overrides(&config.pricing.models)?;
        let budgets = Budgets::new(&config.budgets, Arc::new(MemoryStore::default()))?;
        let router = Router::new(config.policy, providers, config.routes, catalogue)?;
        let ledger = match &config.usage.ledger {
            Some(location) => Some(Ledger::open(
                location,
                config.usage.queue_capacity,
                Duration::from_millis(config.usage.exit_flush_ms),
            )?),
            None => None,
        };
        Ok(Client {
            inner: Arc::new(Inner {
                router: Arc::new(router),
                usage: UsageDispatcher::new(
                    on_usage,
                    config.usage.queue_capacity,
                    Duration::from_millis(config.usage.exit_flush_ms),
                ),
                unpriced: UnknownModels::new(),
                aggregates: Aggregates::new(record::unix_ms()),
                budgets,
                ledger,
            }),
        })
    }

    /// Names of the providers this client can reach.
    pub fn provider_names(&self) -> Vec<String> {
        self.inner.router.providers.keys().cloned().collect()
    }

    /// Circuit-breaker state of every target that has been called.
    pub fn health(&self) -> Vec<TargetHealth> {
        self.inner.router.breakers.health()
    }

    /// Blocks until every usage event emitted so far has been delivered (the callbacks
    /// returned) and written to the ledger (when on), or `bound` passed; the counters say what
    /// is still pending.
    pub fn flush_usage(&self, bound: Option<Duration>) -> DeliveryStats {
        let left = self.flush_ledger(bound);
        self.inner.usage.flush(left)
    }

    /// Delivers pending usage events (within `bound`) and stops the usage thread. Calls made
    /// afterwards still work but their events are dropped (and counted); the ledger, when on,
    /// is written first and keeps recording.
    pub fn close(&self, bound: Option<Duration>) -> DeliveryStats {
        let left = self.flush_ledger(bound);
        self.inner.usage.close(left)
    }

    /// The ledger's counters (written, failed, dropped, pending); all 0 with the ledger off.
    pub fn ledger_stats(&self) -> LedgerStats {
        self.inner
            .ledger
            .as_ref()
            .map(Ledger::stats)
            .unwrap_or_default()
    }

    /// Waits (within `bound`) until the ledger has settled every event queued; returns what
    /// is left of the bound.
    fn flush_ledger(&self, bound: Option<Duration>) -> Option<Duration> {
        let start = std::time::Instant::now();
        if let Some(ledger) = &self.inner.ledger {
            ledger.flush(bound);
        }
        bound.map(|b| b.saturating_sub(start.elapsed()))
    }

    /// Usage totals of this client (calls, errors by kind, tokens by kind, cost, retries,
    /// fallbacks, hedges, latency and TTFT percentiles), overall and by model, provider, route
    /// and tag, since it was built or last reset; `reset` starts them again from zero.
    pub fn usage(&self, reset: bool) -> UsageSummary {
        self.inner.aggregates.summary(reset, record::unix_ms())
    }

    /// The usage delivery counters (emitted, delivered, dropped, pending).
    pub fn delivery_stats(&self) -> DeliveryStats {
        self.inner.usage.stats()
    }

    /// One call, answered as one [`Response`]: the stream engine with a collect step (or one
    /// plain request per attempt with `include_raw` / `policy.complete_via_stream = false`),
    /// with retries, fallback, hedging and deadlines inside the total budget.
    ///
    /// The call exists from this method's return, not from the future's first poll: a future
    /// dropped unpolled (a call cancelled at once) still produces its cancelled usage event.
    pub fn complete(
        &self,
        req: Request,
    ) -> impl Future<Output = Result<Response>> + Send + 'static {
        self.complete_in(req, CallContext::default())
    }

    /// [`Client::complete`] as part of a larger operation (a fusion member or judge): its usage
    /// events carry `ctx.parent_id`.
    pub fn complete_in(
        &self,
        req: Request,
        ctx: CallContext,
    ) -> impl Future<Output = Result<Response>> + Send + 'static {
        let mut call = CallRun::new(self.inner.clone(), req, false, ctx);
        async move {
            loop {
                match call.next_durable().await {
                    Some(Ok(StreamEvent::Final { response })) => return Ok(*response),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(e),
                    None => {
                        return Err(Error::new(
                            ErrorKind::Internal,
                            "polyfuse internal error: the call ended without a response",
                        ))
                    }
                }
            }
        }
    }

    /// One streamed call. Lazy: nothing is sent until the stream is polled. A target that fails
    /// (before or after its first output) hands over to the next attempt; when the consumer had
    /// already seen output, a `Restart` event comes first. The stream ends with a `Final` event
    /// or an error, never silently truncated. Dropping it cancels the request (the connection is
    /// closed) and records the call as cancelled.
    pub fn stream(&self, req: Request) -> EventStream {
        self.stream_in(req, CallContext::default())
    }

    /// [`Client::stream`] as part of a larger operation: its usage events carry `ctx.parent_id`.
    pub fn stream_in(&self, req: Request, ctx: CallContext) -> EventStream {
        let call = CallRun::new(self.inner.clone(), req, true, ctx);
        Box::pin(futures_util::stream::unfold(call, |mut call| async move {
            call.next_durable().await.map(|ev| (ev, call))
        }))
    }
}

/// What a call belongs to, when it is part of a larger operation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallContext {
    /// The id of the operation (a fusion), carried by the call's usage event as `parent_id`.
    pub parent_id: Option<String>,
}
