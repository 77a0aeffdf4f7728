//! The `Client` class: `new Client({ config, onUsage })`, `complete(options)` (a Promise),
//! `stream(options)` (an async-iterable `ChatStream`), `flushUsage()` and `close()`. Each method
//! converts its arguments, calls the core and maps the result or error; an `AbortSignal` cancels
//! through `tokio::select!`, which drops the core future (and with it the connection).
use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use napi::bindgen_prelude::*;
use napi_derive::napi;

use polyfuse_core as core;

use crate::convert::{self, Response};
use crate::error;
use crate::options;
use crate::signal::wait_cancelled;
use crate::stream::ChatStream;
use crate::usage;

/// A polyfuse client: providers, HTTP pool and usage callbacks, shared by all its calls.
#[napi]
pub struct Client {
    pub(crate) inner: core::Client,
    /// The queue to `onUsage`, when there is one (flushes wait for it to drain).
    usage: Option<usage::UsageQueue>,
}

#[napi]
impl Client {
    /// `config`: the configuration document (an object with the core's snake_case keys), a path
    /// to a `.json` / `.toml` file, or `undefined` (built-in providers from the environment and
    /// `mock`). `onUsage(event)` is called exactly once per call, off the request's path.
    /// Throws a `PolyfuseError` of kind `config` naming the key path when the config is wrong.
    #[napi(constructor, catch_unwind, ts_args_type = "options?: ClientOptions")]
    pub fn new(env: Env, options: Option<Unknown>) -> Result<Self> {
        let args = options::client_args(&env, options).map_err(|e| error::to_js_error(&env, e))?;
        let on_usage =
            convert::on_usage(&env, args.on_usage).map_err(|e| error::to_js_error(&env, e))?;
        let config = convert::config(&env, args.config).map_err(|e| error::to_js_error(&env, e))?;
        let usage = on_usage
            .map(|f| usage::UsageQueue::new(&env, f))
            .transpose()?;
        let callbacks = usage.iter().map(usage::UsageQueue::callback).collect();
        let inner =
            core::Client::new(config, callbacks).map_err(|e| error::to_js_error(&env, e))?;
        Ok(Client { inner, usage })
    }

    /// Names of the providers this client can reach.
    #[napi(getter)]
    pub fn providers(&self) -> Vec<String> {
        self.inner.provider_names()
    }

    /// Circuit-breaker state of every target called so far (sorted by target).
    #[napi]
    pub fn health(&self) -> Vec<convert::TargetHealth> {
        self.inner
            .health()
            .into_iter()
            .map(convert::health_to_js)
            .collect()
    }

    /// One non-streaming call. Rejects with a `PolyfuseError` (kind `cancelled` when `signal`
    /// aborts it; an already-aborted signal rejects at once without sending anything, and the
    /// call's usage event says cancelled).
    #[napi(
        catch_unwind,
        ts_args_type = "options: CallOptions",
        ts_return_type = "Promise<Response>"
    )]
    pub fn complete<'env>(
        &self,
        env: &'env Env,
        options: Option<Unknown>,
        second: Option<Unknown>,
    ) -> Result<PromiseRaw<'env, Response>> {
        let client = self.inner.clone();
        let args = options::call_object(env, "complete", options, second)
            .and_then(|o| convert::call_args(env, o));
        // The signal stays on the JS thread; the future gets the call and a watch receiver. The
        // core call starts here, so a call aborted at once still has its (cancelled) usage event.
        let (call, model, aborted, signal) = match args {
            Ok(a) => {
                let aborted = a.signal.as_ref().is_some_and(|s| s.aborted);
                let model = a.request.model.clone();
                (Ok(client.complete(a.request)), model, aborted, a.signal)
            }
            Err(e) => (Err(e), String::new(), false, None),
        };
        let cancelled = signal.as_ref().map(|s| s.fired.clone());
        let fut = async move {
            let call = call?;
            if aborted {
                drop(call);
                return Err(error::cancelled(&model));
            }
            let call = AssertUnwindSafe(call).catch_unwind();
            let result = match cancelled {
                Some(rx) => tokio::select! {
                    r = call => r,
                    _ = wait_cancelled(rx) => return Err(error::cancelled(&model)),
                },
                None => call.await,
            };
            match result {
                Ok(r) => r.map(convert::response_to_js),
                Err(_) => Err(error::panicked("complete")),
            }
        };
        env.spawn_future_with_callback(fut.map(Ok::<_, napi::Error>), move |env, result| {
            // Settled: the abort listener comes off the signal.
            if let Some(signal) = signal {
                signal.settle(env);
            }
            result.map_err(|e| error::to_js_error(env, e))
        })
    }

    /// A streamed call: `for await (const event of client.stream({...}))`. Lazy: the request is
    /// sent on the first `next()`. `break` (or `return()`) drops it at once, closing the connection;
    /// `signal` aborts it with a `cancelled` error.
    #[napi(catch_unwind, ts_args_type = "options: CallOptions")]
    pub fn stream(
        &self,
        env: &Env,
        options: Option<Unknown>,
        second: Option<Unknown>,
    ) -> ChatStream {
        let args = options::call_object(env, "stream", options, second)
            .and_then(|o| convert::call_args(env, o));
        match args {
            Ok(args) => {
                let model = args.request.model.clone();
                // The call exists from here (an aborted one is dropped at once: its usage event
                // says cancelled).
                let stream = self.inner.stream(args.request);
                if args.signal.as_ref().is_some_and(|s| s.aborted) {
                    drop(stream);
                    return ChatStream::failed(error::cancelled(&model));
                }
                ChatStream::new(stream, model, args.signal)
            }
            Err(e) => ChatStream::failed(e),
        }
    }

    /// Usage totals of this client since it was built (or last reset): calls, errors by kind,
    /// tokens by kind, cost, retries, fallbacks, hedges, latency and TTFT p50 / p95 / p99,
    /// overall and by model, provider, route and tag. `reset: true` starts them again.
    #[napi]
    pub fn usage(&self, reset: Option<bool>) -> crate::summary::UsageSummary {
        crate::summary::summary_to_js(&self.inner.usage(reset.unwrap_or(false)))
    }

    /// Usage event delivery counters (`emitted`, `delivered`, `dropped`, `pending`).
    #[napi]
    pub fn delivery_stats(&self) -> crate::summary::DeliveryStats {
        crate::summary::delivery_to_js(self.inner.delivery_stats())
    }

    /// Resolves once every usage event of the calls finished so far has been passed to
    /// `onUsage` (it waits off the JS thread).
    #[napi]
    pub async fn flush_usage(&self) -> Result<()> {
        let client = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            client.flush_usage(None);
        })
        .await
        .map_err(|e| napi::Error::from_reason(format!("polyfuse: flushUsage failed: {e}")))?;
        if let Some(usage) = &self.usage {
            usage.delivered().await;
        }
        Ok(())
    }

    /// Delivers pending usage events to `onUsage` and stops the usage thread; later calls still
    /// work but their usage events are dropped.
    #[napi]
    pub async fn close(&self) -> Result<()> {
        let client = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            client.close(None);
        })
        .await
        .map_err(|e| napi::Error::from_reason(format!("polyfuse: close failed: {e}")))?;
        if let Some(usage) = &self.usage {
            usage.delivered().await;
        }
        Ok(())
    }
}
