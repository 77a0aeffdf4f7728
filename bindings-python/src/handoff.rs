//! How results cross from the tokio runtime to Python without a task spawn and a cross-thread
//! wake-up per item.
//!
//! A [`Channel`] holds a core stream (a call's events, or a one-item stream of a call's answer).
//! On first use one producer task polls it and queues its items, converted lazily (bounded:
//! [`CAPACITY`] items, then it waits for the consumer, as an unread core stream would). The
//! consumer takes what is queued with `try_next` on its own thread, with no wait and no wake-up
//! at all; only when nothing is queued does it register a waiter:
//! - asyncio: an `asyncio.Future`, resolved through the loop's [`Hub`]. The producer never takes
//!   the GIL: it moves the future to the hub's ready list and, only if the hub was not already
//!   signalled, writes one byte to the hub's socket, which the loop watches (`add_reader`). The
//!   loop's reader callback (`Hub.drain`) resolves every ready future at once, so one wake-up
//!   serves every stream and call that got data meanwhile.
//! - a blocking consumer (`SyncClient`): a condition variable, waited on with the GIL released.
//!
//! Closing (or dropping) a channel drops the core stream at once on the calling thread, which
//! closes the connection and records the call as cancelled, and aborts the producer.
use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::Poll;
use std::time::Duration;

use futures_util::stream::BoxStream;
use futures_util::{FutureExt, Stream, StreamExt};
use polyfuse_core::{Error, ErrorKind};
use pyo3::prelude::*;
use serde::Serialize;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::error::to_pyerr;

/// Items queued ahead of the consumer, at most.
pub const CAPACITY: usize = 64;

/// An item ready for Python: converted (with the GIL) when taken.
pub trait ToPython: Send {
    fn to_python(self: Box<Self>, py: Python<'_>) -> PyResult<Py<PyAny>>;
}

/// A core value of any `Serialize` type, converted straight to Python objects (dicts, lists,
/// str, int, float, bool, None) without a `serde_json::Value` in between.
struct Serialized<T>(T);

impl<T: Serialize + Send> ToPython for Serialized<T> {
    fn to_python(self: Box<Self>, py: Python<'_>) -> PyResult<Py<PyAny>> {
        crate::convert::serialize(py, &self.0)
    }
}

type Item = Result<Box<dyn ToPython>, Error>;
type Source = BoxStream<'static, Item>;

/// Who waits for the next item.
enum Waiter {
    None,
    /// asyncio futures (one per waiting task), resolved through their loop's hub.
    Futures(Arc<HubInner>, Vec<Py<PyAny>>),
    /// A thread blocked in `next_blocking`.
    Blocking,
}

struct State {
    queue: VecDeque<Item>,
    /// The source ended (or failed, or was closed): nothing more will be queued.
    ended: bool,
    started: bool,
    waiter: Waiter,
    producer: Option<JoinHandle<()>>,
}

struct Shared {
    state: Mutex<State>,
    /// The core stream; the producer holds this lock only while polling it (never across an
    /// await), so `close` can take and drop it from any thread.
    source: Mutex<Option<Source>>,
    /// Wakes the producer when the queue has room again.
    space: Notify,
    /// Wakes a blocking consumer.
    ready: Condvar,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    /// Queues an item (or, for `None`, marks the end) and wakes the waiter, if any.
    fn push(&self, item: Option<Item>) {
        let waiter = {
            let mut state = lock(&self.state);
            if state.ended {
                return;
            }
            match item {
                Some(item) => {
                    if item.is_err() {
                        state.ended = true;
                    }
                    state.queue.push_back(item);
                }
                None => state.ended = true,
            }
            std::mem::replace(&mut state.waiter, Waiter::None)
        };
        match waiter {
            Waiter::None => {}
            Waiter::Futures(hub, futures) => hub.wake(futures),
            Waiter::Blocking => self.ready.notify_all(),
        }
    }

    fn is_full(&self) -> bool {
        lock(&self.state).queue.len() >= CAPACITY
    }

    /// Drops the source (closing its connection) and stops the producer.
    fn close(&self) {
        let source = lock(&self.source).take();
        drop(source);
        let producer = {
            let mut state = lock(&self.state);
            state.ended = true;
            state.queue.clear();
            state.producer.take()
        };
        if let Some(p) = producer {
            p.abort();
        }
        self.ready.notify_all();
    }
}

/// Marks the channel ended with a `cancelled` error if the producer is dropped before the source
/// ended (the runtime shutting down), so that no consumer waits forever.
struct EndGuard {
    shared: Arc<Shared>,
    armed: bool,
}

impl Drop for EndGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        self.shared.push(Some(Err(Error::new(
            ErrorKind::Cancelled,
            "the call was cancelled (the polyfuse runtime is shutting down)",
        ))));
    }
}

async fn produce(shared: Arc<Shared>) {
    let mut guard = EndGuard {
        shared: shared.clone(),
        armed: true,
    };
    loop {
        while shared.is_full() {
            shared.space.notified().await;
        }
        let polled = AssertUnwindSafe(futures_util::future::poll_fn(|cx| {
            match lock(&shared.source).as_mut() {
                Some(source) => source.as_mut().poll_next(cx),
                None => Poll::Ready(None),
            }
        }))
        .catch_unwind()
        .await;
        let item = match polled {
            Ok(item) => item,
            Err(payload) => Some(Err(Error::new(
                ErrorKind::Internal,
                format!(
                    "polyfuse internal error (Rust panic): {}; please report it",
                    crate::runtime::panic_message(payload.as_ref())
                ),
            ))),
        };
        let last = !matches!(item, Some(Ok(_)));
        if last {
            // Failed or ended: the stream goes now (a failed call's connection is closed).
            let source = lock(&shared.source).take();
            drop(source);
        }
        shared.push(item);
        if last {
            guard.armed = false;
            return;
        }
    }
}

/// What `try_next` found.
pub enum Next {
    Item(Py<PyAny>),
    End,
    Pending,
}

/// The consumer's side of a core stream.
pub struct Channel {
    shared: Arc<Shared>,
}

impl Channel {
    /// A channel over a stream of `Serialize` values.
    pub fn of_stream<S, E>(stream: S) -> Channel
    where
        S: Stream<Item = Result<E, Error>> + Send + 'static,
        E: Serialize + Send + 'static,
    {
        let items = stream.map(|r| r.map(|e| Box::new(Serialized(e)) as Box<dyn ToPython>));
        Channel::new(items.boxed())
    }

    /// A channel whose one item is the answer of `future`.
    pub fn of_future<F, T>(future: F) -> Channel
    where
        F: std::future::Future<Output = Result<T, Error>> + Send + 'static,
        T: Serialize + Send + 'static,
    {
        Channel::of_stream(futures_util::stream::once(future))
    }

    fn new(source: Source) -> Channel {
        Channel {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    queue: VecDeque::new(),
                    ended: false,
                    started: false,
                    waiter: Waiter::None,
                    producer: None,
                }),
                source: Mutex::new(Some(source)),
                space: Notify::new(),
                ready: Condvar::new(),
            }),
        }
    }

    /// Starts the producer on first use (streams are lazy until then).
    fn start(&self, state: &mut State) -> PyResult<()> {
        if !state.started && !state.ended {
            state.started = true;
            let handle = crate::runtime::handle()?;
            state.producer = Some(handle.spawn(produce(self.shared.clone())));
        }
        Ok(())
    }

    /// The next queued item, without waiting; raises the call's error.
    pub fn try_next(&self, py: Python<'_>) -> PyResult<Next> {
        let (item, was_full) = {
            let mut state = lock(&self.shared.state);
            self.start(&mut state)?;
            let was_full = state.queue.len() >= CAPACITY;
            match state.queue.pop_front() {
                Some(item) => (item, was_full),
                None if state.ended => return Ok(Next::End),
                None => return Ok(Next::Pending),
            }
        };
        if was_full {
            self.shared.space.notify_one();
        }
        match item {
            Ok(v) => Ok(Next::Item(v.to_python(py)?)),
            Err(e) => Err(to_pyerr(e)),
        }
    }

    /// What a binding's `try_next(pending)` returns: the item, `None` at the end, or `pending`
    /// when nothing is queued yet.
    pub fn next_or(&self, py: Python<'_>, pending: Py<PyAny>) -> PyResult<Option<Py<PyAny>>> {
        Ok(match self.try_next(py)? {
            Next::Item(v) => Some(v),
            Next::End => None,
            Next::Pending => Some(pending),
        })
    }

    /// Registers `future` (an `asyncio.Future` of `hub`'s loop) to be resolved when an item is
    /// queued; false when one already is (or the stream ended): then nothing is registered.
    pub fn wait(&self, hub: &Hub, future: Py<PyAny>) -> PyResult<bool> {
        let mut state = lock(&self.shared.state);
        self.start(&mut state)?;
        if !state.queue.is_empty() || state.ended {
            return Ok(false);
        }
        match &mut state.waiter {
            Waiter::Futures(h, futures) if Arc::ptr_eq(h, &hub.inner) => futures.push(future),
            waiter => *waiter = Waiter::Futures(hub.inner.clone(), vec![future]),
        }
        Ok(true)
    }

    /// The next item, blocking with the GIL released (checking for Ctrl-C every 100 ms; an
    /// exception from a signal handler closes the channel and is raised).
    pub fn next_blocking(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        loop {
            match self.try_next(py)? {
                Next::Item(v) => return Ok(Some(v)),
                Next::End => return Ok(None),
                Next::Pending => {}
            }
            let shared = &self.shared;
            py.detach(|| {
                let mut state = lock(&shared.state);
                if state.queue.is_empty() && !state.ended {
                    state.waiter = Waiter::Blocking;
                    let _ = shared.ready.wait_timeout(state, Duration::from_millis(100));
                }
            });
            if let Err(e) = py.check_signals() {
                self.close();
                return Err(e);
            }
        }
    }

    /// Drops the core stream now (closing its connection) and stops the producer. Idempotent.
    pub fn close(&self) {
        self.shared.close();
    }
}

impl Drop for Channel {
    fn drop(&mut self) {
        self.shared.close();
    }
}

/// One asyncio loop's wake-up point: a socket pair whose read end the loop watches.
#[pyclass(frozen, name = "_Hub", module = "polyfuse._polyfuse")]
pub struct Hub {
    inner: Arc<HubInner>,
}

/// A loop's `call_soon_threadsafe` and the hub's `drain`.
type CallSoon = (Py<PyAny>, Py<PyAny>);

struct HubInner {
    /// A byte was written and not yet drained: later wake-ups need not write again.
    signalled: AtomicBool,
    ready: Mutex<Vec<Py<PyAny>>>,
    #[cfg(unix)]
    tx: std::os::unix::net::UnixStream,
    #[cfg(unix)]
    rx: std::os::unix::net::UnixStream,
    /// For a loop that cannot watch a socket (or where there is none): wake-ups call this
    /// loop's `call_soon_threadsafe(drain)` instead (taking the GIL), once per drain.
    fallback: Mutex<Option<Arc<CallSoon>>>,
}

impl HubInner {
    fn wake(&self, futures: Vec<Py<PyAny>>) {
        lock(&self.ready).extend(futures);
        if self.signalled.swap(true, Ordering::SeqCst) {
            return;
        }
        // Cloned out of the lock before taking the GIL (the loop's thread may hold the GIL
        // while it waits for this lock in `use_call_soon`).
        let fallback = lock(&self.fallback).clone();
        match fallback {
            Some(f) => Python::attach(|py| {
                let _ = f.0.call1(py, (f.1.clone_ref(py),));
            }),
            None => {
                #[cfg(unix)]
                {
                    use std::io::Write;
                    // Non-blocking; a full socket buffer already holds a wake-up.
                    let _ = (&self.tx).write(&[1]);
                }
            }
        }
    }
}

#[pymethods]
impl Hub {
    #[new]
    fn new() -> PyResult<Hub> {
        #[cfg(unix)]
        {
            let io = |e: std::io::Error| {
                pyo3::exceptions::PyOSError::new_err(format!(
                    "polyfuse: cannot create a socket pair: {e}"
                ))
            };
            let (tx, rx) = std::os::unix::net::UnixStream::pair().map_err(io)?;
            tx.set_nonblocking(true).map_err(io)?;
            rx.set_nonblocking(true).map_err(io)?;
            Ok(Hub {
                inner: Arc::new(HubInner {
                    signalled: AtomicBool::new(false),
                    ready: Mutex::new(Vec::new()),
                    tx,
                    rx,
                    fallback: Mutex::new(None),
                }),
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Hub {
                inner: Arc::new(HubInner {
                    signalled: AtomicBool::new(false),
                    ready: Mutex::new(Vec::new()),
                    fallback: Mutex::new(None),
                }),
            })
        }
    }

    /// The file descriptor the loop watches (`loop.add_reader(hub.fileno(), hub.drain)`); -1
    /// where there is none (then `use_call_soon` is needed).
    fn fileno(&self) -> i64 {
        #[cfg(unix)]
        {
            use std::os::fd::AsRawFd;
            i64::from(self.inner.rx.as_raw_fd())
        }
        #[cfg(not(unix))]
        {
            -1
        }
    }

    /// For a loop that cannot watch a socket: wake-ups call `call_soon_threadsafe(drain)`.
    fn use_call_soon(&self, call_soon_threadsafe: Py<PyAny>, drain: Py<PyAny>) {
        *lock(&self.inner.fallback) = Some(Arc::new((call_soon_threadsafe, drain)));
    }

    /// The loop's reader callback: resolves every future whose data arrived.
    fn drain(&self, py: Python<'_>) -> PyResult<()> {
        // In this order: read the wake-up bytes, then clear the flag, then take the ready list.
        // A wake-up after the clear writes a new byte (seen next time); one before it put its
        // future on the list before the take. Clearing first could eat the byte of a wake-up
        // that set the flag again, leaving it set with no byte to wake the loop.
        #[cfg(unix)]
        {
            use std::io::Read;
            let mut buf = [0u8; 64];
            while let Ok(n) = (&self.inner.rx).read(&mut buf) {
                if n < buf.len() {
                    break;
                }
            }
        }
        self.inner.signalled.store(false, Ordering::SeqCst);
        let ready = std::mem::take(&mut *lock(&self.inner.ready));
        for future in ready {
            let future = future.bind(py);
            if !future
                .call_method0(pyo3::intern!(py, "done"))?
                .is_truthy()?
            {
                future.call_method1(pyo3::intern!(py, "set_result"), (py.None(),))?;
            }
        }
        Ok(())
    }
}
