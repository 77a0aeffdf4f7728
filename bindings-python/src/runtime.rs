//! The binding's tokio runtime: one multi-thread runtime per process, created on first use, shut
//! down by the `atexit` hook (`_shutdown`) with the GIL released, so that no Rust thread touches
//! Python while the interpreter finalizes. After `os.fork()` the child forgets the parent's runtime
//! (its threads do not exist there) and builds a fresh one on first use (`_after_fork_child`).
//!
//! Futures run as spawned tasks awaited through [`AbortOnDrop`]: dropping the awaiting side (asyncio
//! cancellation, Ctrl-C in a blocking call, a dropped coroutine) aborts the task, so the request is
//! really cancelled and its connection closed.
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use tokio::runtime::{Handle, Runtime};
use tokio::task::{JoinError, JoinHandle};

use crate::error::{join_error, to_pyerr};

static RUNTIME: Mutex<Option<Runtime>> = Mutex::new(None);
static SHUT_DOWN: AtomicBool = AtomicBool::new(false);

/// Whether `_shutdown` ran: the interpreter is exiting, Rust threads must not call into Python.
pub fn is_shut_down() -> bool {
    SHUT_DOWN.load(Ordering::SeqCst)
}

fn build() -> std::io::Result<Runtime> {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(2, 4);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .max_blocking_threads(32)
        .thread_name("polyfuse-tokio")
        .enable_all()
        .build()
}

/// A handle to the runtime, creating it on first use.
pub fn handle() -> PyResult<Handle> {
    if is_shut_down() {
        // A call racing interpreter exit (a daemon thread): cancelled, as the README says.
        return Err(to_pyerr(polyfuse_core::Error::new(
            polyfuse_core::ErrorKind::Cancelled,
            "the call was cancelled (the interpreter is exiting and the polyfuse runtime was shut down)",
        )));
    }
    let mut guard = RUNTIME.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(rt) = guard.as_ref() {
        return Ok(rt.handle().clone());
    }
    let rt = build().map_err(|e| {
        PyRuntimeError::new_err(format!("polyfuse: cannot start the tokio runtime: {e}"))
    })?;
    let handle = rt.handle().clone();
    *guard = Some(rt);
    Ok(handle)
}

/// A JoinHandle that aborts its task when dropped.
pub struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> Future for AbortOnDrop<T> {
    type Output = Result<T, JoinError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

/// Spawns `fut` on the runtime.
pub fn spawn<F>(fut: F) -> PyResult<AbortOnDrop<F::Output>>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    Ok(AbortOnDrop(handle()?.spawn(fut)))
}

/// Runs a core future on the runtime and awaits it (from a pyo3 `async fn`). Cancelling the
/// awaiting coroutine aborts the task.
pub async fn run<F, T>(fut: F) -> PyResult<T>
where
    F: Future<Output = Result<T, polyfuse_core::Error>> + Send + 'static,
    T: Send + 'static,
{
    match spawn(fut)?.await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(to_pyerr(e)),
        Err(e) => Err(join_error(e)),
    }
}

/// Runs a core future to completion from a blocking call: waits with the GIL released, in slices,
/// checking for signals between slices; a KeyboardInterrupt (or any signal handler's exception)
/// aborts the task and is raised. The calling thread never enters the tokio context (it only
/// waits on a channel), so a call racing the runtime's shutdown fails cleanly instead of panicking.
pub fn block_on<F, T>(py: Python<'_>, fut: F) -> PyResult<T>
where
    F: Future<Output = Result<T, polyfuse_core::Error>> + Send + 'static,
    T: Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let rx = Mutex::new(rx);
    let _task = spawn(async move {
        let result = std::panic::AssertUnwindSafe(fut).catch_unwind().await;
        let _ = tx.send(result.map_err(|payload| panic_message(payload.as_ref())));
    })?;
    loop {
        match py.detach(|| {
            rx.lock()
                .unwrap_or_else(|p| p.into_inner())
                .recv_timeout(Duration::from_millis(100))
        }) {
            Ok(Ok(Ok(v))) => return Ok(v),
            Ok(Ok(Err(e))) => return Err(to_pyerr(e)),
            Ok(Err(panic)) => return Err(crate::error::panicked(&panic)),
            Err(RecvTimeoutError::Timeout) => py.check_signals()?, // on error `_task` drops and aborts
            Err(RecvTimeoutError::Disconnected) => {
                // The task was dropped without a result: the runtime is shutting down.
                return Err(to_pyerr(polyfuse_core::Error::new(
                    polyfuse_core::ErrorKind::Cancelled,
                    "the call was cancelled (the polyfuse runtime is shutting down)",
                )));
            }
        }
    }
}

/// The text of a panic payload.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string())
}

/// The `atexit` hook: no Rust thread may call into Python from now on. Waits for usage callbacks
/// in progress, then shuts the runtime down (GIL released). Idempotent.
#[pyfunction]
#[pyo3(signature = (timeout=5.0))]
pub fn _shutdown(py: Python<'_>, timeout: f64) {
    SHUT_DOWN.store(true, Ordering::SeqCst);
    let timeout = Duration::try_from_secs_f64(timeout.max(0.0)).unwrap_or(Duration::from_secs(5));
    let runtime = RUNTIME.lock().unwrap_or_else(|p| p.into_inner()).take();
    py.detach(|| {
        let deadline = Instant::now() + timeout;
        while crate::usage::in_flight() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        if let Some(rt) = runtime {
            rt.shutdown_timeout(timeout);
        }
    });
}

/// `os.register_at_fork(after_in_child=...)`: the parent's runtime threads do not exist in the
/// child; forget it (dropping it would wait for them forever) and build a new one on first use.
#[pyfunction]
pub fn _after_fork_child() {
    let old = RUNTIME.lock().unwrap_or_else(|p| p.into_inner()).take();
    std::mem::forget(old);
    crate::usage::reset_after_fork();
    polyfuse_core::usage::forget_after_fork();
}
