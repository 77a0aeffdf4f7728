//! The [`Client`]: resolves `provider/model`, runs the call against the provider under the
//! config's deadlines, records every attempt, and emits exactly one usage event per call
//! (success, failure or cancellation, streams included).
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use serde_json::Map;

use crate::balance::{Balancer, Candidate, Measure};
use crate::breaker::{Breakers, TargetHealth};
use crate::config::{Config, Midstream, Policy, RouteConfig, BUILTIN_NATIVE, BUILTIN_OPENAI};
use crate::error::{Error, ErrorKind, Result};
use crate::http::build_http_client;
use crate::message::{Content, Message, Role};
use crate::providers::{
    build_providers, CallOptions, Completion, Provider, ProviderEvent, ProviderStream,
};
use crate::request::Request;
use crate::response::{Attempt, Outcome, Response};
use crate::route::{Plan, RouteRun, Target};
use crate::stream::{EventStream, StreamEvent};
use crate::usage::{Usage, UsageCallback, UsageDispatcher, UsageEvent};

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

    /// One non-streaming call: the route's targets in order, with retries and fallback, inside
    /// the total budget.
    pub async fn complete(&self, req: Request) -> Result<Response> {
        let mut call = CallRecord::new(&self.inner, &req, false);
        let plan = match self.plan(&req.model, Measure::Total) {
            Ok(p) => p,
            Err(e) => return Err(call.fail(e)),
        };
        call.route = plan.route.clone();
        let policy = &self.inner.policy;
        let opts = self.options();
        let mut run = RouteRun::new(&plan, policy, &self.inner.breakers, self.total_budget(&req));
        let mut first = true;
        while let Some(target) = run.next_target().await {
            let limit = run
                .remaining()
                .min(Duration::from_millis(policy.attempt_timeout_ms));
            let hedge = match (first, plan.hedge_delay, run.peek_fallback()) {
                (true, Some(delay), Some(backup)) if delay < limit => Some((delay, backup)),
                _ => None,
            };
            first = false;
            let (target, result) = match hedge {
                None => (
                    target,
                    self.attempt(target, &req, &opts, limit, &mut call).await,
                ),
                Some((delay, backup)) => {
                    self.hedged(target, backup, delay, &req, &opts, limit, &mut call)
                        .await
                }
            };
            match result {
                Ok(completion) => {
                    run.succeeded(target);
                    return Ok(call.succeed(completion, &req, target));
                }
                Err(e) => {
                    let silent = e.kind == ErrorKind::Timeout;
                    run.failed(target, e, silent).await;
                }
            }
        }
        Err(call.fail(run.into_error()))
    }

    /// One non-streaming attempt on one target, recorded in the call's attempts.
    async fn attempt(
        &self,
        target: &Target,
        req: &Request,
        opts: &CallOptions,
        limit: Duration,
        call: &mut CallRecord,
    ) -> Result<Completion> {
        let (result, started) = self.exchange(target, req, opts, limit).await;
        record(call, target, &result, started);
        result
    }

    /// One exchange with one target within `limit`, streamed under the hood when the policy says
    /// so (see `Policy::complete_via_stream`). Returns the result and when the exchange started.
    async fn exchange(
        &self,
        t: &Target,
        req: &Request,
        opts: &CallOptions,
        limit: Duration,
    ) -> (Result<Completion>, Instant) {
        let started = Instant::now();
        let _in_flight = self.inner.balancer.start(&t.model);
        let policy = &self.inner.policy;
        let work = async {
            if policy.complete_via_stream && !req.params.include_raw.unwrap_or(false) {
                let ttft = Duration::from_millis(policy.first_token_timeout_ms).min(limit);
                drain(t, req, opts, ttft).await
            } else {
                t.provider.complete(&t.name, req, opts).await
            }
        };
        let result = match tokio::time::timeout(limit, work).await {
            Ok(r) => r,
            Err(_) => Err(deadline_error(limit, t, "the attempt")),
        };
        if result.is_ok() {
            self.inner
                .balancer
                .observe(&t.model, Measure::Total, started.elapsed());
        }
        (result, started)
    }

    /// A hedged attempt: `primary` first, and `backup` too when the primary has not answered
    /// after `delay`. The first success wins; the other request is dropped (its connection
    /// closed) and recorded as cancelled. When both fail, the primary's error is returned and the
    /// backup's stays in the attempt list.
    #[allow(clippy::too_many_arguments)]
    async fn hedged<'t>(
        &self,
        primary: &'t Target,
        backup: &'t Target,
        delay: Duration,
        req: &Request,
        opts: &CallOptions,
        limit: Duration,
        call: &mut CallRecord,
    ) -> (&'t Target, Result<Completion>) {
        let started = Instant::now();
        let run_one = |t: &'t Target| self.exchange(t, req, opts, limit);
        let mut a = Box::pin(run_one(primary));
        tokio::select! {
            (r, st) = &mut a => {
                record(call, primary, &r, st);
                return (primary, r);
            }
            _ = tokio::time::sleep(delay) => {}
        }
        let mut b = Box::pin(run_one(backup));
        let (winner, loser, r, st) = tokio::select! {
            (r, st) = &mut a => (primary, backup, r, st),
            (r, st) = &mut b => (backup, primary, r, st),
        };
        record(call, winner, &r, st);
        if r.is_ok() {
            // The loser is cancelled: dropping its future closes its connection.
            drop(a);
            drop(b);
            call.attempt(
                loser,
                Outcome::Cancelled,
                Some(&Error::cancelled()),
                started,
                None,
                Usage::default(),
            );
            return (winner, r);
        }
        // The first to finish failed: the other decides.
        let (r2, st2) = if std::ptr::eq(winner, primary) {
            b.await
        } else {
            a.await
        };
        record(call, loser, &r2, st2);
        match (r2, std::ptr::eq(winner, primary)) {
            (Ok(c), _) => (loser, Ok(c)),
            (Err(_), true) => (primary, r),
            (Err(e), false) => (primary, Err(e)),
        }
    }

    /// One streaming call. Lazy: nothing is sent until the stream is polled. A target that fails
    /// (before or after its first token) hands over to the next attempt; when the consumer had
    /// already seen output, a `Restart` event comes first. Dropping the stream cancels the request
    /// (the connection is closed) and records the call as cancelled.
    pub fn stream(&self, req: Request) -> EventStream {
        let client = self.clone();
        Box::pin(async_stream::stream! {
            let mut call = CallRecord::new(&client.inner, &req, true);
            let plan = match client.plan(&req.model, Measure::FirstToken) {
                Ok(p) => p,
                Err(e) => { yield Err(call.fail(e)); return; }
            };
            call.route = plan.route.clone();
            let policy = &client.inner.policy;
            let opts = client.options();
            let ttft_limit = Duration::from_millis(policy.first_token_timeout_ms);
            let attempt_limit = Duration::from_millis(policy.attempt_timeout_ms);
            let mut run = RouteRun::new(&plan, policy, &client.inner.breakers, client.total_budget(&req));
            // What the consumer was shown since the last restart. When an attempt fails after
            // output, the next one either continues it by prefill or restarts (a Restart event
            // comes before its first output).
            let mut shown = String::new();
            let mut shown_tools = false;
            let mut last_failure = String::new();
            let mut prefill_rejected = false;
            let mut first = true;
            while let Some(target) = run.next_target().await {
                let prefill = (policy.midstream == Midstream::Continue
                    && !prefill_rejected
                    && !shown_tools
                    && !shown.trim().is_empty()
                    && target.provider.supports_prefill())
                    .then(|| shown.trim_end().to_string());
                let mut restart_pending = (!shown.is_empty() || shown_tools) && prefill.is_none();
                let continued_req = prefill.as_ref().map(|p| {
                    let mut r = req.clone();
                    r.messages.push(Message::new(Role::Assistant, p.clone()));
                    r
                });
                let attempt_req = continued_req.as_ref().unwrap_or(&req);
                let started = Instant::now();
                let first_token_by = tokio::time::Instant::now() + run.remaining().min(ttft_limit);
                let attempt_by = tokio::time::Instant::now() + run.remaining().min(attempt_limit);
                let hedge = match (first, plan.hedge_delay, run.peek_fallback()) {
                    (true, Some(delay), Some(backup)) => Some((delay, backup)),
                    _ => None,
                };
                first = false;
                // Open the stream; a hedged first attempt races a backup for the first event.
                let (target, opened) = match hedge {
                    None => {
                        let opened = match tokio::time::timeout_at(first_token_by, target.provider.stream(&target.name, attempt_req, &opts)).await {
                            Ok(Ok(s)) => Ok((s, None)),
                            Ok(Err(e)) => Err(e),
                            Err(_) => Err(deadline_error(ttft_limit.min(run.remaining()), target, "the first token")),
                        };
                        (target, opened)
                    }
                    Some((delay, backup)) => client.open_hedged(target, backup, delay, &req, &opts, first_token_by, &mut call).await,
                };
                let mut ttft: Option<Duration> = None;
                let in_flight = client.inner.balancer.start(&target.model);
                let failure: Error = 'attempt: {
                    let (mut events, mut pending) = match opened {
                        Ok(o) => o,
                        Err(e) => break 'attempt e,
                    };
                    loop {
                        let by = if ttft.is_none() { first_token_by } else { attempt_by };
                        let next = match pending.take() {
                            Some(first_item) => first_item,
                            None => match tokio::time::timeout_at(by, events.next()).await {
                                Ok(n) => n,
                                Err(_) if ttft.is_none() => break 'attempt deadline_error(ttft_limit.min(run.remaining()), target, "the first token"),
                                Err(_) => break 'attempt deadline_error(attempt_limit.min(run.remaining()), target, "the attempt"),
                            },
                        };
                        let event = match next {
                            Some(Ok(ProviderEvent::Done(mut completion))) => {
                                run.succeeded(target);
                                call.ttft = ttft;
                                call.attempt(target, Outcome::Ok, None, started, ttft, completion.usage.clone());
                                if let Some(p) = &prefill {
                                    // The answer continues the prefill: the response holds both.
                                    let rest = completion.message.text();
                                    completion.message.content = Some(Content::Text(format!("{p}{rest}")));
                                }
                                if restart_pending {
                                    yield Ok(restart_event(target, &last_failure));
                                }
                                let response = call.succeed(*completion, &req, target);
                                yield Ok(StreamEvent::Final { response: Box::new(response) });
                                return;
                            }
                            Some(Ok(ProviderEvent::TextDelta(text))) => StreamEvent::TextDelta { text },
                            Some(Ok(ProviderEvent::ReasoningDelta(text))) => StreamEvent::ReasoningDelta { text },
                            Some(Ok(ProviderEvent::ToolCallDelta { index, id, name, arguments })) => {
                                StreamEvent::ToolCallDelta { index, id, name, arguments }
                            }
                            Some(Err(e)) => break 'attempt e,
                            None => break 'attempt Error::new(ErrorKind::Connection, "the provider stream ended before the response was complete")
                                .with_provider(target.provider.name()).with_model(&target.model),
                        };
                        if ttft.is_none() {
                            ttft = Some(started.elapsed());
                            client.inner.balancer.observe(&target.model, Measure::FirstToken, started.elapsed());
                            if call.ttft.is_none() { call.ttft = ttft; }
                        }
                        if restart_pending {
                            restart_pending = false;
                            shown.clear();
                            shown_tools = false;
                            yield Ok(restart_event(target, &last_failure));
                        }
                        match &event {
                            StreamEvent::TextDelta { text } => shown.push_str(text),
                            StreamEvent::ToolCallDelta { .. } => shown_tools = true,
                            _ => {}
                        }
                        yield Ok(event);
                    }
                };
                drop(in_flight);
                call.attempt(target, Outcome::Error, Some(&failure), started, ttft, Usage::default());
                if ttft.is_some() {
                    last_failure = format!("{} failed mid-stream: {}", target.model, failure.message);
                }
                if prefill.is_some() && ttft.is_none() && failure.kind == ErrorKind::InvalidRequest {
                    // The target rejected the continuation: restart elsewhere, and never let this
                    // rejection stand for the original failure.
                    prefill_rejected = true;
                    run.skip(failure);
                    continue;
                }
                run.failed(target, failure, ttft.is_none()).await;
            }
            yield Err(call.fail(run.into_error()));
        })
    }
}

/// A stream opened, with its first item already read when a hedge race read it.
type Opened = Result<(ProviderStream, Option<Option<Result<ProviderEvent>>>)>;

impl Client {
    /// Opens `primary`'s stream; when no first event arrived after `delay`, opens `backup` too.
    /// The first to deliver an event wins; the other is dropped (connection closed) and recorded
    /// as cancelled. A failed opener leaves the race to the other.
    #[allow(clippy::too_many_arguments)]
    async fn open_hedged<'t>(
        &self,
        primary: &'t Target,
        backup: &'t Target,
        delay: Duration,
        req: &Request,
        opts: &CallOptions,
        by: tokio::time::Instant,
        call: &mut CallRecord,
    ) -> (&'t Target, Opened) {
        let ttft_limit = by.saturating_duration_since(tokio::time::Instant::now());
        let open = |t: &'t Target| async move {
            let started = Instant::now();
            let r = match tokio::time::timeout_at(by, async {
                let mut s = t.provider.stream(&t.name, req, opts).await?;
                let first = s.next().await;
                Ok::<_, Error>((s, Some(first)))
            })
            .await
            {
                Ok(r) => r,
                Err(_) => Err(deadline_error(ttft_limit, t, "the first token")),
            };
            (r, started)
        };
        let mut a = Box::pin(open(primary));
        tokio::select! {
            (r, _) = &mut a => return (primary, r),
            _ = tokio::time::sleep(delay) => {}
        }
        let mut b = Box::pin(open(backup));
        let (winner, loser, r, st) = tokio::select! {
            (r, st) = &mut a => (primary, backup, r, st),
            (r, st) = &mut b => (backup, primary, r, st),
        };
        if r.is_ok() {
            drop(a);
            drop(b);
            call.attempt(
                loser,
                Outcome::Cancelled,
                Some(&Error::cancelled()),
                st,
                None,
                Usage::default(),
            );
            return (winner, r);
        }
        let failed = r.err().unwrap_or_else(Error::cancelled);
        call.attempt(
            winner,
            Outcome::Error,
            Some(&failed),
            st,
            None,
            Usage::default(),
        );
        let (r2, _) = if std::ptr::eq(winner, primary) {
            b.await
        } else {
            a.await
        };
        (loser, r2)
    }
}

/// Reads a provider stream to its end, as one Completion. The first event must come within `ttft`.
async fn drain(
    t: &Target,
    req: &Request,
    opts: &CallOptions,
    ttft: Duration,
) -> Result<Completion> {
    let by = tokio::time::Instant::now() + ttft;
    let silent = || deadline_error(ttft, t, "the first token");
    let mut events = match tokio::time::timeout_at(by, t.provider.stream(&t.name, req, opts)).await
    {
        Ok(opened) => opened?,
        Err(_) => return Err(silent()),
    };
    let mut first = true;
    loop {
        let next = if first {
            first = false;
            match tokio::time::timeout_at(by, events.next()).await {
                Ok(n) => n,
                Err(_) => return Err(silent()),
            }
        } else {
            events.next().await
        };
        match next {
            Some(Ok(ProviderEvent::Done(completion))) => return Ok(*completion),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e),
            None => {
                return Err(Error::new(
                    ErrorKind::Connection,
                    "the provider stream ended before the response was complete",
                )
                .with_provider(t.provider.name())
                .with_model(&t.model))
            }
        }
    }
}

fn restart_event(target: &Target, reason: &str) -> StreamEvent {
    StreamEvent::Restart {
        model: target.model.clone(),
        provider: target.provider.name().to_string(),
        reason: reason.to_string(),
    }
}

fn record(call: &mut CallRecord, target: &Target, r: &Result<Completion>, started: Instant) {
    match r {
        Ok(c) => call.attempt(target, Outcome::Ok, None, started, None, c.usage.clone()),
        Err(e) => call.attempt(
            target,
            Outcome::Error,
            Some(e),
            started,
            None,
            Usage::default(),
        ),
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

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A fresh polyfuse request id: time-ordered and unique within the process.
fn new_request_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("pf-{nanos:x}-{n:x}")
}

/// Book-keeping of one logical call. Emits the call's usage event exactly once: on success, on
/// failure, or (when dropped unfinished, i.e. the caller cancelled) as cancelled.
struct CallRecord {
    inner: Arc<Inner>,
    request_id: String,
    model: String,
    provider: String,
    route: Option<String>,
    tags: Map<String, serde_json::Value>,
    streamed: bool,
    started: Instant,
    ttft: Option<Duration>,
    attempts: Vec<Attempt>,
    emitted: bool,
}

impl CallRecord {
    fn new(inner: &Arc<Inner>, req: &Request, streamed: bool) -> Self {
        CallRecord {
            inner: inner.clone(),
            request_id: new_request_id(),
            model: req.model.clone(),
            provider: req
                .model
                .split_once('/')
                .map(|(p, _)| p.to_string())
                .unwrap_or_default(),
            route: None,
            tags: req.params.tags.clone().unwrap_or_default(),
            streamed,
            started: Instant::now(),
            ttft: None,
            attempts: Vec::new(),
            emitted: false,
        }
    }

    fn attempt(
        &mut self,
        target: &Target,
        outcome: Outcome,
        error: Option<&Error>,
        started: Instant,
        ttft: Option<Duration>,
        usage: Usage,
    ) {
        self.provider = target.provider.name().to_string();
        self.attempts.push(Attempt {
            model: target.model.clone(),
            provider: self.provider.clone(),
            outcome,
            error_kind: error.map(|e| e.kind),
            error_message: error.map(|e| e.message.clone()),
            status: error.and_then(|e| e.status),
            latency_ms: ms(started.elapsed()),
            ttft_ms: ttft.map(ms),
            usage,
        });
    }

    fn emit(&mut self, outcome: Outcome, error_kind: Option<ErrorKind>) {
        if self.emitted {
            return;
        }
        self.emitted = true;
        let mut usage = Usage::default();
        for a in &self.attempts {
            usage.add(&a.usage);
        }
        self.inner.usage.emit(UsageEvent {
            request_id: self.request_id.clone(),
            parent_id: None,
            route: self.route.clone(),
            model: self.model.clone(),
            provider: self.provider.clone(),
            outcome,
            error_kind,
            streamed: self.streamed,
            usage,
            latency_ms: ms(self.started.elapsed()),
            ttft_ms: self.ttft.map(ms),
            attempts: self.attempts.clone(),
            tags: std::mem::take(&mut self.tags),
        });
    }

    fn succeed(&mut self, c: Completion, _req: &Request, target: &Target) -> Response {
        self.emit(Outcome::Ok, None);
        Response {
            id: self.request_id.clone(),
            provider_response_id: c.provider_response_id,
            text: c.message.text(),
            message: c.message,
            finish_reason: c.finish_reason,
            usage: c.usage,
            model: target.model.clone(),
            provider: self.provider.clone(),
            provider_model: c.provider_model,
            route: self.route.clone(),
            latency_ms: ms(self.started.elapsed()),
            ttft_ms: self.ttft.map(ms),
            attempts: std::mem::take(&mut self.attempts),
            raw: c.raw,
            reasoning: c.reasoning,
        }
    }

    fn fail(&mut self, mut e: Error) -> Error {
        let outcome = if e.kind == ErrorKind::Cancelled {
            Outcome::Cancelled
        } else {
            Outcome::Error
        };
        self.emit(outcome, Some(e.kind));
        e.attempts = std::mem::take(&mut self.attempts);
        if e.model.is_none() {
            e.model = Some(self.model.clone());
        }
        e
    }
}

impl Drop for CallRecord {
    fn drop(&mut self) {
        if !self.emitted {
            self.emit(Outcome::Cancelled, Some(ErrorKind::Cancelled));
        }
    }
}
