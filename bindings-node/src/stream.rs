//! `ChatStream`: the async iterator returned by `client.stream()` (events), `client.fuseStream()`
//! (a fusion's events) and by the drop-ins (JSON values in another SDK's shapes: a
//! [`ValueStream`]).
//!
//! The first `next()` spawns one producer task per stream on the tokio runtime (nothing is sent
//! before it): it polls the core stream and pushes converted items into a bounded queue
//! ([`CAPACITY`] items; when it is full the producer waits for room, so an unread stream is not
//! read, as before). `next()` on the JS thread takes a queued item and settles its promise at
//! once, with no tokio spawn and no cross-thread wake; only when the queue is empty does it leave
//! one waiter, which the producer settles through one hop to the JS thread (what that hop
//! delivers is taken from the queue when it lands, so events queued meanwhile wait there for the
//! next `next()`). An error or the end comes after every event queued before it. `return()` (what
//! `break` in `for await` calls) drops the core stream, which closes the connection and records
//! the call as cancelled; an `AbortSignal` ends it with a `cancelled` error at the next `next()`
//! (events still queued are dropped); dropping the `ChatStream` (garbage collected) aborts the
//! producer. `[Symbol.asyncIterator]` is added to the prototype at module load.
use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex as SyncMutex, MutexGuard};

use futures_util::{FutureExt, StreamExt};
use napi::bindgen_prelude::*;
use napi::JsDeferred;
use napi_derive::napi;
use tokio::sync::{watch, Mutex, Semaphore};
use tokio::task::AbortHandle;

use polyfuse_core::{Error as CoreError, EventStream, FusionStream, ValueStream};

use crate::convert::{event_to_js, StreamEvent};
use crate::error;
use crate::fusion::{self, FusionEvent};
use crate::signal::{wait_cancelled, Listener, Signal};

const RUNNING: u8 = 0;
const CLOSED: u8 = 2;

/// Items the producer may queue ahead of `next()` (events converted to Rust values, not yet JS).
const CAPACITY: usize = 64;

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

#[allow(clippy::large_enum_variant)] // boxed in the queue
enum Step {
    Event(StreamEvent),
    Fusion(FusionEvent),
    Value(serde_json::Value),
}

/// What the producer queues: an event, the end, or the error that ends the stream. (Boxed: a
/// `Step` is over 1 KB, and a queue slot should not cost that.)
enum Item {
    Step(Box<Step>),
    End,
    Failed(CoreError),
}

/// What one `next()` settles with.
enum Got {
    Step(Box<Step>),
    Done,
    Failed(CoreError),
}

/// `{ done, value }`, built on the JS thread when a promise settles.
pub struct Settled(Option<Box<Step>>);

impl ToNapiValue for Settled {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> Result<sys::napi_value> {
        let env = Env::from_raw(env);
        let obj = match val.0.map(|step| *step) {
            Some(Step::Event(event)) => iter_result(&env, Some(event)),
            Some(Step::Fusion(event)) => iter_result(&env, Some(event)),
            Some(Step::Value(value)) => iter_result(&env, Some(value)),
            None => iter_result(&env, None::<()>),
        }?;
        Ok(obj.raw())
    }
}

type Resolver = Box<dyn FnOnce(Env) -> Result<Settled> + Send>;
/// A `next()` whose promise the producer settles (through one hop to the JS thread).
type Waiter = JsDeferred<Settled, Resolver>;

struct Queue {
    items: VecDeque<Item>,
    /// `next()`s waiting, oldest first; only when `items` is empty or a hop is on its way.
    waiters: VecDeque<Waiter>,
    /// A waiter's settle is on its way to the JS thread: later `next()`s wait behind it, so
    /// promises settle in the order of the calls.
    waking: bool,
    /// The end, an error or `return()` has been delivered: `next()` is `{ done: true }`.
    finished: bool,
}

impl Queue {
    /// The front of the queue as a `next()` result; `None` when nothing is queued.
    fn pop(&mut self, space: &Semaphore) -> Option<Got> {
        if self.finished {
            return Some(Got::Done);
        }
        let got = match self.items.pop_front()? {
            Item::Step(step) => Got::Step(step),
            Item::End => Got::Done,
            Item::Failed(e) => Got::Failed(e),
        };
        if matches!(got, Got::Step(_)) {
            space.add_permits(1);
        } else {
            self.finished = true;
        }
        Some(got)
    }

    /// The next waiter to settle, when there is something for it and no hop is on its way.
    fn wake_next(&mut self) -> Option<Waiter> {
        if self.waking || (self.items.is_empty() && !self.finished) {
            return None;
        }
        let waiter = self.waiters.pop_front()?;
        self.waking = true;
        Some(waiter)
    }
}

/// What the producer and `next()` share.
struct Shared {
    queue: SyncMutex<Queue>,
    /// Room in the queue (one permit per free slot).
    space: Semaphore,
    /// The signal's abort listener, removed when the stream ends (done, failed or returned).
    listener: SyncMutex<Option<Listener>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A poisoned lock only means a panic elsewhere while it was held; the queue stays usable.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues an item (producer side) and wakes the oldest waiter if it can take it.
    fn push(self: &Arc<Self>, item: Item) {
        let waiter = {
            let mut q = self.lock();
            q.items.push_back(item);
            q.wake_next()
        };
        if let Some(waiter) = waiter {
            self.wake(waiter);
        }
    }

    /// Settles `waiter` on the JS thread with what is at the front of the queue by then.
    fn wake(self: &Arc<Self>, waiter: Waiter) {
        let shared = self.clone();
        waiter.resolve(Box::new(move |env| {
            let (got, next) = {
                let mut q = shared.lock();
                q.waking = false;
                let got = q.pop(&shared.space).unwrap_or(Got::Done);
                (got, q.wake_next())
            };
            if let Some(next) = next {
                shared.wake(next);
            }
            shared.settle(&env, got)
        }));
    }

    /// A `next()` result on the JS thread; the end or an error takes the abort listener off.
    fn settle(&self, env: &Env, got: Got) -> Result<Settled> {
        match got {
            Got::Step(step) => Ok(Settled(Some(step))),
            Got::Done => {
                self.remove_listener(env);
                Ok(Settled(None))
            }
            Got::Failed(e) => {
                self.remove_listener(env);
                Err(error::to_js_error(env, e))
            }
        }
    }

    /// The stream has ended: its abort listener comes off the signal.
    fn remove_listener(&self, env: &Env) {
        let taken = self.listener.lock().ok().and_then(|mut l| l.take());
        if let Some(l) = taken {
            l.remove(env);
        }
    }
}

/// The events of one streamed call; `for await (const event of stream)`.
#[napi]
pub struct ChatStream {
    /// The core stream; the producer holds the lock while it runs and drops the stream when it
    /// ends, fails or is stopped.
    source: Arc<Mutex<Option<Source>>>,
    shared: Arc<Shared>,
    control: watch::Sender<u8>,
    /// Turns true when the call's `AbortSignal` fires.
    fired: Option<watch::Receiver<bool>>,
    producer: Option<AbortHandle>,
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
        let (control, _) = watch::channel(RUNNING);
        let fired = signal.as_ref().map(|s| s.fired.clone());
        let listener = signal.and_then(|mut s| s.take_listener());
        ChatStream {
            source: Arc::new(Mutex::new(Some(events))),
            shared: Arc::new(Shared {
                queue: SyncMutex::new(Queue {
                    items: VecDeque::new(),
                    waiters: VecDeque::new(),
                    waking: false,
                    finished: false,
                }),
                space: Semaphore::new(CAPACITY),
                listener: SyncMutex::new(listener),
            }),
            control,
            fired,
            producer: None,
            model,
        }
    }

    /// A stream whose first `next()` rejects with `error` (bad arguments, already-aborted signal).
    pub(crate) fn failed(error: CoreError) -> ChatStream {
        let model = error.model.clone().unwrap_or_default();
        let events: EventStream = Box::pin(futures_util::stream::once(async move { Err(error) }));
        ChatStream::new(events, model, None)
    }

    fn aborted(&self) -> bool {
        self.fired.as_ref().is_some_and(|rx| *rx.borrow())
    }

    /// Tells the producer to drop the core stream and stop.
    fn stop(&self) {
        self.control.send_if_modified(|state| {
            let changed = *state == RUNNING;
            if changed {
                *state = CLOSED;
            }
            changed
        });
    }

    fn start(&mut self) {
        if self.producer.is_some() {
            return;
        }
        let task = produce(
            self.source.clone(),
            self.shared.clone(),
            self.control.subscribe(),
            self.fired.clone(),
            self.model.clone(),
        );
        self.producer = Some(napi::bindgen_prelude::spawn(task).abort_handle());
    }
}

impl Drop for ChatStream {
    /// An abandoned stream (garbage collected) is cancelled: the producer is aborted, which drops
    /// the core stream.
    fn drop(&mut self) {
        if let Some(producer) = self.producer.take() {
            producer.abort();
        }
    }
}

/// The producer: reads the core stream into the queue while there is room, until the end, an
/// error, the signal or `return()`; then drops the core stream.
async fn produce(
    source: Arc<Mutex<Option<Source>>>,
    shared: Arc<Shared>,
    mut control: watch::Receiver<u8>,
    fired: Option<watch::Receiver<bool>>,
    model: String,
) {
    // Whatever way the task ends (even aborted), waiters still pending are settled.
    let mut guard = Producing {
        shared: shared.clone(),
        ended: false,
    };
    let aborted = aborted(fired);
    tokio::pin!(aborted);
    let mut events = source.lock().await;
    while let Some(stream) = events.as_mut() {
        // Room in the queue first: an unread stream is not read.
        let early = tokio::select! {
            biased;
            _ = control.wait_for(|s| *s != RUNNING) => break,
            _ = &mut aborted => Some(Item::Failed(error::cancelled(&model))),
            room = shared.space.acquire() => match room {
                Ok(permit) => {
                    permit.forget();
                    None
                }
                Err(_) => break,
            },
        };
        let item = match early {
            Some(item) => item,
            None => tokio::select! {
                biased;
                _ = control.wait_for(|s| *s != RUNNING) => break,
                _ = &mut aborted => Item::Failed(error::cancelled(&model)),
                next = AssertUnwindSafe(stream.next()).catch_unwind() => match next {
                    Ok(Some(Ok(step))) => Item::Step(Box::new(step)),
                    Ok(Some(Err(e))) => Item::Failed(e),
                    Ok(None) => Item::End,
                    Err(_) => Item::Failed(error::panicked("stream")),
                },
            },
        };
        let last = !matches!(item, Item::Step(_));
        shared.push(item);
        if last {
            guard.ended = true;
            break;
        }
    }
    // Dropping the core stream closes the connection and records the call.
    *events = None;
}

/// Settles the waiters of a producer that ends without queuing the end (stopped or aborted).
struct Producing {
    shared: Arc<Shared>,
    ended: bool,
}

impl Drop for Producing {
    fn drop(&mut self) {
        if !self.ended {
            self.shared.push(Item::End);
        }
    }
}

#[napi]
impl ChatStream {
    /// The next event; `{ done: true }` after the `final` event. Rejects with a `PolyfuseError`.
    #[napi(
        catch_unwind,
        ts_return_type = "Promise<IteratorResult<StreamEvent, undefined>>"
    )]
    pub fn next<'env>(&mut self, env: &'env Env) -> Result<PromiseRaw<'env, Settled>> {
        let aborted = self.aborted();
        let ready = {
            let mut q = self.shared.lock();
            if !q.waiters.is_empty() || q.waking {
                None
            } else if aborted && !q.finished {
                q.items.clear();
                q.finished = true;
                Some(Got::Failed(error::cancelled(&self.model)))
            } else {
                q.pop(&self.shared.space)
            }
        };
        if let Some(got) = ready {
            if matches!(got, Got::Failed(_)) {
                self.stop();
            }
            return match self.shared.settle(env, got) {
                Ok(settled) => PromiseRaw::resolve(env, settled),
                Err(e) => PromiseRaw::reject(env, e),
            };
        }
        let (waiter, promise) = env.create_deferred::<Settled, Resolver>()?;
        let now = {
            let mut q = self.shared.lock();
            q.waiters.push_back(waiter);
            // Something may have been queued since the check above.
            q.wake_next()
        };
        if let Some(now) = now {
            self.shared.wake(now);
        }
        self.start();
        Ok(PromiseRaw::new(env.raw(), promise.raw()))
    }

    /// Ends the stream now (what `break` calls): the request is cancelled and its connection closed.
    #[napi(
        js_name = "return",
        catch_unwind,
        ts_return_type = "Promise<IteratorResult<StreamEvent, undefined>>"
    )]
    pub fn close<'env>(&mut self, env: &'env Env) -> Result<PromiseRaw<'env, Settled>> {
        self.stop();
        let waiters = {
            let mut q = self.shared.lock();
            q.finished = true;
            q.items.clear();
            std::mem::take(&mut q.waiters)
        };
        for waiter in waiters {
            waiter.resolve(Box::new(|_| Ok(Settled(None))));
        }
        self.shared.remove_listener(env);
        // Not started, or already ended: the core stream is dropped here and now.
        if let Ok(mut events) = self.source.try_lock() {
            drop(events.take());
            return PromiseRaw::resolve(env, Settled(None));
        }
        // The producer holds it: it drops it as soon as it sees the stop.
        let source = self.source.clone();
        let fut = async move {
            let dropped = source.lock().await.take();
            drop(dropped);
            Ok::<_, napi::Error>(())
        };
        env.spawn_future_with_callback(fut, |_, ()| Ok(Settled(None)))
    }
}

/// Resolves when the signal fires; never without one.
async fn aborted(fired: Option<watch::Receiver<bool>>) {
    match fired {
        Some(rx) => wait_cancelled(rx).await,
        None => std::future::pending().await,
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
