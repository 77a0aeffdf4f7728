//! The [`Client`]: resolves `provider/model`, runs the call against the provider under the
//! config's deadlines, records every attempt, and emits exactly one usage event per call
//! (success, failure or cancellation, streams included).
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use serde_json::Map;

use crate::config::{Config, Policy, BUILTIN_OPENAI};
use crate::error::{Error, ErrorKind, Result};
use crate::http::build_http_client;
use crate::providers::{build_providers, CallOptions, Completion, Provider, ProviderEvent};
use crate::request::Request;
use crate::response::{Attempt, Outcome, Response};
use crate::stream::{EventStream, StreamEvent};
use crate::usage::{Usage, UsageCallback, UsageDispatcher, UsageEvent};

/// The entry point. Cheap to clone; clones share providers, the HTTP pool and usage callbacks.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    providers: BTreeMap<String, Arc<dyn Provider>>,
    policy: Policy,
    usage: UsageDispatcher,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("providers", &self.provider_names()).finish()
    }
}

impl Client {
    /// Builds a client: one HTTP pool, the configured providers, and the usage callbacks.
    pub fn new(config: Config, on_usage: Vec<UsageCallback>) -> Result<Client> {
        let http = build_http_client(&config.policy)?;
        let providers = build_providers(&config, &http)?;
        Ok(Client {
            inner: Arc::new(Inner { providers, policy: config.policy, usage: UsageDispatcher::new(on_usage) }),
        })
    }

    /// Names of the providers this client can reach.
    pub fn provider_names(&self) -> Vec<String> {
        self.inner.providers.keys().cloned().collect()
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

    fn resolve(&self, model: &str) -> Result<(Arc<dyn Provider>, String)> {
        let (provider, name) = model.split_once('/').ok_or_else(|| {
            Error::invalid_request(format!(
                "model `{model}`: expected `provider/model` (e.g. `openai/gpt-4o-mini` or `mock/echo`)"
            ))
        })?;
        if name.is_empty() {
            return Err(Error::invalid_request(format!("model `{model}`: the model name after `{provider}/` is empty")));
        }
        match self.inner.providers.get(provider) {
            Some(p) => Ok((p.clone(), name.to_string())),
            None => {
                let hint = match BUILTIN_OPENAI.iter().find(|(n, _, _)| *n == provider) {
                    Some((_, _, var)) => format!("set {var} or add `providers.{provider}` to the config"),
                    None => format!("add `providers.{provider}` (format, base_url, api_key) to the config"),
                };
                Err(Error::config(format!(
                    "model `{model}`: provider `{provider}` is not configured ({hint}); configured: {}",
                    self.provider_names().join(", ")
                )))
            }
        }
    }

    fn options(&self) -> CallOptions {
        CallOptions { stream_idle_timeout: Duration::from_millis(self.inner.policy.stream_idle_timeout_ms) }
    }

    fn total_budget(&self, req: &Request) -> Duration {
        Duration::from_millis(req.params.timeout_ms.unwrap_or(self.inner.policy.total_timeout_ms))
    }

    /// One non-streaming call.
    pub async fn complete(&self, req: Request) -> Result<Response> {
        let mut call = CallRecord::new(&self.inner, &req, false);
        let (provider, model) = match self.resolve(&req.model) {
            Ok(r) => r,
            Err(e) => return Err(call.fail(e)),
        };
        call.provider = provider.name().to_string();
        let budget = self.total_budget(&req);
        let opts = self.options();
        let started = Instant::now();
        let result = match tokio::time::timeout(budget, provider.complete(&model, &req, &opts)).await {
            Ok(r) => r,
            Err(_) => Err(budget_error(budget, &req.model, provider.name())),
        };
        match result {
            Ok(completion) => {
                call.attempt(Outcome::Ok, None, started, None, completion.usage.clone());
                Ok(call.succeed(completion, &req))
            }
            Err(e) => {
                call.attempt(Outcome::Error, Some(&e), started, None, Usage::default());
                Err(call.fail(e))
            }
        }
    }

    /// One streaming call. Lazy: nothing is sent until the stream is polled. Dropping the stream
    /// cancels the request (the connection is closed) and records the call as cancelled.
    pub fn stream(&self, req: Request) -> EventStream {
        let client = self.clone();
        Box::pin(async_stream::stream! {
            let mut call = CallRecord::new(&client.inner, &req, true);
            let (provider, model) = match client.resolve(&req.model) {
                Ok(r) => r,
                Err(e) => { yield Err(call.fail(e)); return; }
            };
            call.provider = provider.name().to_string();
            let budget = client.total_budget(&req);
            let deadline = tokio::time::Instant::now() + budget;
            let opts = client.options();
            let started = Instant::now();
            let opened = match tokio::time::timeout_at(deadline, provider.stream(&model, &req, &opts)).await {
                Ok(r) => r,
                Err(_) => Err(budget_error(budget, &req.model, provider.name())),
            };
            let mut events = match opened {
                Ok(s) => s,
                Err(e) => {
                    call.attempt(Outcome::Error, Some(&e), started, None, Usage::default());
                    yield Err(call.fail(e));
                    return;
                }
            };
            let mut ttft: Option<Duration> = None;
            loop {
                let next = match tokio::time::timeout_at(deadline, events.next()).await {
                    Ok(n) => n,
                    Err(_) => Some(Err(budget_error(budget, &req.model, provider.name()))),
                };
                let event = match next {
                    Some(Ok(ProviderEvent::Done(completion))) => {
                        call.ttft = ttft;
                        call.attempt(Outcome::Ok, None, started, ttft, completion.usage.clone());
                        let response = call.succeed(*completion, &req);
                        yield Ok(StreamEvent::Final { response: Box::new(response) });
                        return;
                    }
                    Some(Ok(ProviderEvent::TextDelta(text))) => StreamEvent::TextDelta { text },
                    Some(Ok(ProviderEvent::ReasoningDelta(text))) => StreamEvent::ReasoningDelta { text },
                    Some(Ok(ProviderEvent::ToolCallDelta { index, id, name, arguments })) => {
                        StreamEvent::ToolCallDelta { index, id, name, arguments }
                    }
                    Some(Err(e)) => {
                        call.ttft = ttft;
                        call.attempt(Outcome::Error, Some(&e), started, ttft, Usage::default());
                        yield Err(call.fail(e));
                        return;
                    }
                    None => {
                        let e = Error::new(ErrorKind::Connection, "the provider stream ended before the response was complete")
                            .with_provider(provider.name()).with_model(&req.model);
                        call.attempt(Outcome::Error, Some(&e), started, ttft, Usage::default());
                        yield Err(call.fail(e));
                        return;
                    }
                };
                if ttft.is_none() {
                    ttft = Some(started.elapsed());
                }
                yield Ok(event);
            }
        })
    }
}

fn budget_error(budget: Duration, model: &str, provider: &str) -> Error {
    Error::new(ErrorKind::Timeout, format!("the call exceeded its total budget of {:.1}s", budget.as_secs_f64()))
        .with_provider(provider)
        .with_model(model)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A fresh polyfuse request id: time-ordered and unique within the process.
fn new_request_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
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
            provider: req.model.split_once('/').map(|(p, _)| p.to_string()).unwrap_or_default(),
            tags: req.params.tags.clone().unwrap_or_default(),
            streamed,
            started: Instant::now(),
            ttft: None,
            attempts: Vec::new(),
            emitted: false,
        }
    }

    fn attempt(&mut self, outcome: Outcome, error: Option<&Error>, started: Instant, ttft: Option<Duration>, usage: Usage) {
        self.attempts.push(Attempt {
            model: self.model.clone(),
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
            route: None,
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

    fn succeed(&mut self, c: Completion, req: &Request) -> Response {
        self.emit(Outcome::Ok, None);
        Response {
            id: self.request_id.clone(),
            provider_response_id: c.provider_response_id,
            text: c.message.text(),
            message: c.message,
            finish_reason: c.finish_reason,
            usage: c.usage,
            model: req.model.clone(),
            provider: self.provider.clone(),
            provider_model: c.provider_model,
            route: None,
            latency_ms: ms(self.started.elapsed()),
            ttft_ms: self.ttft.map(ms),
            attempts: std::mem::take(&mut self.attempts),
            raw: c.raw,
        }
    }

    fn fail(&mut self, mut e: Error) -> Error {
        let outcome = if e.kind == ErrorKind::Cancelled { Outcome::Cancelled } else { Outcome::Error };
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
