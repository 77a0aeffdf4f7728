//! `ChatStream`: the async iterator returned by `client.stream()` (events), `client.fuseStream()`
//! (a fusion's events) and by the drop-ins (JSON values in another SDK's shapes: a
//! [`ValueStream`]). `next()` polls the core stream on the
//! tokio runtime; `return()` (what `break` in `for await` calls) drops it,
//! which closes the connection and records the call as cancelled; an `AbortSignal` ends it with a
//! `cancelled` error. `[Symbol.asyncIterator]` is added to the prototype at module load.
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::{FutureExt, StreamExt};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use tokio::sync::{watch, Mutex};

use polyfuse_core::{Error as CoreError, EventStream, FusionStream, ValueStream};

use crate::convert::{event_to_js, StreamEvent};
use crate::error;
use crate::fusion::{self, FusionEvent};
use crate::signal::{wait_cancelled, Listener, Signal};

const RUNNING: u8 = 0;
const CLOSED: u8 = 2;

/// What a stream reads: core events, a fusion's events, or values already in another SDK's
/// shapes.
enum Source {
    Events(EventStream),
    Fusion(FusionStream),
    Values(ValueStream),
}

impl Source {
    async fn next(&mut self) -> Option<std::result::Result<Step, CoreError>> {
        match self {
            Source::Events(s) => s
                .next()
                .await
                .map(|r| r.map(|e| Step::Event(event_to_js(e)))),
            Source::Fusion(s) => s
                .next()
                .await
                .map(|r| r.map(|e| Step::Fusion(fusion::event_to_js(e)))),
            Source::Values(s) => s.next().await.map(|r| r.map(Step::Value)),
        }
    }
}

/// The events of one streamed call; `for await (const event of stream)`.
#[napi]
pub struct ChatStream {
    events: Arc<Mutex<Option<Source>>>,
    control: Arc<watch::Sender<u8>>,
    /// Turns true when the call's `AbortSignal` fires.
    fired: Option<watch::Receiver<bool>>,
    /// The signal's abort listener, removed when the stream ends (done, failed or returned).
    listener: Arc<std::sync::Mutex<Option<Listener>>>,
    model: String,
}

impl ChatStream {
    pub(crate) fn new(events: EventStream, model: String, signal: Option<Signal>) -> ChatStream {
        ChatStream::of(Source::Events(events), model, signal)
    }

    /// A stream of JSON values (the drop-ins' chunks and parts).
    pub(crate) fn of_values(
        values: ValueStream,
        model: String,
        signal: Option<Signal>,
    ) -> ChatStream {
        ChatStream::of(Source::Values(values), model, signal)
    }

    /// The events of a streamed fusion.
    pub(crate) fn fusion(events: FusionStream, signal: Option<Signal>) -> ChatStream {
        ChatStream::of(Source::Fusion(events), "fusion".to_string(), signal)
    }

    fn of(events: Source, model: String, signal: Option<Signal>) -> ChatStream {
        let (tx, _) = watch::channel(RUNNING);
        let fired = signal.as_ref().map(|s| s.fired.clone());
        let listener = signal.and_then(|mut s| s.take_listener());
        ChatStream {
            events: Arc::new(Mutex::new(Some(events))),
            control: Arc::new(tx),
            fired,
            listener: Arc::new(std::sync::Mutex::new(listener)),
            model,
        }
    }

    /// A stream whose first `next()` rejects with `error` (bad arguments, already-aborted signal).
    pub(crate) fn failed(error: CoreError) -> ChatStream {
        let model = error.model.clone().unwrap_or_default();
        let events: EventStream = Box::pin(futures_util::stream::once(async move { Err(error) }));
        ChatStream::new(events, model, None)
    }
}

#[allow(clippy::large_enum_variant)] // one per next(), moved once
enum Step {
    Event(StreamEvent),
    Fusion(FusionEvent),
    Value(serde_json::Value),
    Done,
}

#[napi]
impl ChatStream {
    /// The next event; `{ done: true }` after the `final` event. Rejects with a `PolyfuseError`.
    #[napi(
        catch_unwind,
        ts_return_type = "Promise<IteratorResult<StreamEvent, undefined>>"
    )]
    pub fn next<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, Object<'env>>> {
        let events = self.events.clone();
        let mut control = self.control.subscribe();
        let fired = self.fired.clone();
        let listener = self.listener.clone();
        let model = self.model.clone();
        let fut = async move {
            let mut guard = events.lock().await;
            let Some(stream) = guard.as_mut() else {
                return Ok(Step::Done);
            };
            let polled = tokio::select! {
                biased;
                _ = control.wait_for(|s| *s != RUNNING) => Ok(None),
                _ = aborted(fired) => Err(error::cancelled(&model)),
                next = AssertUnwindSafe(stream.next()).catch_unwind() => match next {
                    Ok(Some(Ok(step))) => Ok(Some(step)),
                    Ok(Some(Err(e))) => Err(e),
                    Ok(None) => Ok(None),
                    Err(_) => Err(error::panicked("stream")),
                },
            };
            match polled {
                Ok(Some(step)) => Ok(step),
                Ok(None) => {
                    *guard = None;
                    Ok(Step::Done)
                }
                Err(e) => {
                    // Dropping the core stream closes the connection and records the call.
                    *guard = None;
                    Err(e)
                }
            }
        };
        env.spawn_future_with_callback(fut.map(Ok::<_, napi::Error>), move |env, step| {
            if matches!(step, Ok(Step::Done) | Err(_)) {
                remove_listener(env, &listener);
            }
            match step {
                Ok(Step::Event(event)) => iter_result(env, Some(event)),
                Ok(Step::Fusion(event)) => iter_result(env, Some(event)),
                Ok(Step::Value(value)) => iter_result(env, Some(value)),
                Ok(Step::Done) => iter_result(env, None::<()>),
                Err(e) => Err(error::to_js_error(env, e)),
            }
        })
    }

    /// Ends the stream now (what `break` calls): the request is cancelled and its connection closed.
    #[napi(
        js_name = "return",
        catch_unwind,
        ts_return_type = "Promise<IteratorResult<StreamEvent, undefined>>"
    )]
    pub fn close<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, Object<'env>>> {
        self.control.send_if_modified(|state| {
            let changed = *state == RUNNING;
            if changed {
                *state = CLOSED;
            }
            changed
        });
        remove_listener(env, &self.listener);
        let events = self.events.clone();
        let fut = async move {
            let dropped = events.lock().await.take();
            drop(dropped);
            Ok::<_, napi::Error>(())
        };
        env.spawn_future_with_callback(fut, |env, ()| iter_result(env, None::<()>))
    }
}

/// Resolves when the signal fires; never without one.
async fn aborted(fired: Option<watch::Receiver<bool>>) {
    match fired {
        Some(rx) => wait_cancelled(rx).await,
        None => std::future::pending().await,
    }
}

/// The stream has ended: its abort listener comes off the signal.
fn remove_listener(env: &Env, listener: &std::sync::Mutex<Option<Listener>>) {
    let taken = listener.lock().ok().and_then(|mut l| l.take());
    if let Some(l) = taken {
        l.remove(env);
    }
}

fn iter_result<'env, T: ToNapiValue>(env: &'env Env, event: Option<T>) -> Result<Object<'env>> {
    let mut obj = Object::new(env)?;
    obj.set("done", event.is_none())?;
    match event {
        Some(e) => obj.set("value", e)?,
        None => obj.set("value", ())?,
    }
    Ok(obj)
}
