//! `ChatStream`: the async iterator returned by `client.stream()` (and `client.fuseStream()`,
//! whose events are a fusion's). `next()` polls the core [`EventStream`] (or `FusionStream`) on
//! the tokio runtime; `return()` (what `break` in `for await` calls) drops it,
//! which closes the connection and records the call as cancelled; an `AbortSignal` ends it with a
//! `cancelled` error. `[Symbol.asyncIterator]` is added to the prototype at module load.
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::stream::BoxStream;
use futures_util::{FutureExt, StreamExt};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use tokio::sync::{watch, Mutex};

use polyfuse_core::{Error as CoreError, EventStream, FusionStream};

use crate::convert::{event_to_js, StreamEvent};
use crate::error;
use crate::fusion::{self, FusionEvent};

/// What a `ChatStream` hands out: a call's events, or a fusion's.
enum Event {
    Call(polyfuse_core::StreamEvent),
    Fusion(polyfuse_core::FusionEvent),
}

/// The core events a `ChatStream` polls.
type Events = BoxStream<'static, std::result::Result<Event, CoreError>>;

#[allow(clippy::large_enum_variant)] // one per next(), moved once
enum JsEvent {
    Call(StreamEvent),
    Fusion(FusionEvent),
}

const RUNNING: u8 = 0;
const ABORTED: u8 = 1;
const CLOSED: u8 = 2;

/// The events of one streamed call; `for await (const event of stream)`.
#[napi]
pub struct ChatStream {
    events: Arc<Mutex<Option<Events>>>,
    control: Arc<watch::Sender<u8>>,
    model: String,
}

impl ChatStream {
    pub(crate) fn new(
        events: EventStream,
        model: String,
        signal: Option<AbortSignal>,
    ) -> ChatStream {
        ChatStream::over(events.map(|e| e.map(Event::Call)).boxed(), model, signal)
    }

    /// The events of a streamed fusion.
    pub(crate) fn fusion(events: FusionStream, signal: Option<AbortSignal>) -> ChatStream {
        let events = events.map(|e| e.map(Event::Fusion)).boxed();
        ChatStream::over(events, "fusion".to_string(), signal)
    }

    fn over(events: Events, model: String, signal: Option<AbortSignal>) -> ChatStream {
        let (tx, _) = watch::channel(RUNNING);
        let control = Arc::new(tx);
        if let Some(signal) = signal {
            let on_abort = control.clone();
            signal.on_abort(move || {
                on_abort.send_if_modified(|state| {
                    let changed = *state == RUNNING;
                    if changed {
                        *state = ABORTED;
                    }
                    changed
                });
            });
        }
        ChatStream {
            events: Arc::new(Mutex::new(Some(events))),
            control,
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
    Event(JsEvent),
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
        let model = self.model.clone();
        let fut = async move {
            let mut guard = events.lock().await;
            let Some(stream) = guard.as_mut() else {
                return Ok(Step::Done);
            };
            let polled = tokio::select! {
                biased;
                state = control.wait_for(|s| *s != RUNNING) => match state.map(|s| *s) {
                    Ok(ABORTED) => Err(error::cancelled(&model)),
                    _ => Ok(None),
                },
                next = AssertUnwindSafe(stream.next()).catch_unwind() => match next {
                    Ok(Some(Ok(event))) => Ok(Some(event)),
                    Ok(Some(Err(e))) => Err(e),
                    Ok(None) => Ok(None),
                    Err(_) => Err(error::panicked("stream")),
                },
            };
            match polled {
                Ok(Some(Event::Call(event))) => Ok(Step::Event(JsEvent::Call(event_to_js(event)))),
                Ok(Some(Event::Fusion(event))) => {
                    Ok(Step::Event(JsEvent::Fusion(fusion::event_to_js(event))))
                }
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
        env.spawn_future_with_callback(fut.map(Ok::<_, napi::Error>), |env, step| match step {
            Ok(Step::Event(event)) => iter_result(env, Some(event)),
            Ok(Step::Done) => iter_result(env, None),
            Err(e) => Err(error::to_js_error(env, e)),
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
        let events = self.events.clone();
        let fut = async move {
            let dropped = events.lock().await.take();
            drop(dropped);
            Ok::<_, napi::Error>(())
        };
        env.spawn_future_with_callback(fut, |env, ()| iter_result(env, None))
    }
}

fn iter_result<'env>(env: &'env Env, event: Option<JsEvent>) -> Result<Object<'env>> {
    let mut obj = Object::new(env)?;
    obj.set("done", event.is_none())?;
    match event {
        Some(JsEvent::Call(e)) => obj.set("value", e)?,
        Some(JsEvent::Fusion(e)) => obj.set("value", e)?,
        None => obj.set("value", ())?,
    }
    Ok(obj)
}
