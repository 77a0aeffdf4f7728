//! What the drop-ins (`openai`, `ai_sdk`) share: reading an `AbortSignal` argument, and running a
//! core future as a Promise that the signal aborts (the future is dropped, which closes its
//! connection, and the Promise rejects with a `cancelled` error), panics caught.
use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use napi::bindgen_prelude::*;

use polyfuse_core as core;

use crate::error;
use crate::signal::{wait_cancelled, Signal};

/// An `AbortSignal` argument (`what` names it in errors); `undefined` / `null` are none.
pub(crate) fn signal(
    env: &Env,
    value: Option<Unknown>,
    what: &str,
) -> std::result::Result<Option<Signal>, core::Error> {
    Signal::read(env, value, what)
}

/// Runs `fut` (a call on `model`) as a Promise of what `done` makes of its output on the JS
/// thread; `done` may take the signal (a stream that outlives the Promise keeps listening), else its
/// listener comes off when the Promise settles. A signal that fired before (or while) it runs
/// rejects the Promise with a `cancelled` error and drops the future.
pub(crate) fn spawn<'env, T, V, F, D>(
    env: &'env Env,
    model: String,
    signal: Option<Signal>,
    fut: F,
    done: D,
) -> Result<PromiseRaw<'env, V>>
where
    T: Send + 'static,
    V: ToNapiValue,
    F: Future<Output = std::result::Result<T, core::Error>> + Send + 'static,
    D: FnOnce(&'env Env, T, &mut Option<Signal>) -> Result<V> + 'static,
{
    let aborted = signal.as_ref().is_some_and(|s| s.aborted);
    let cancelled = signal.as_ref().map(|s| s.fired.clone());
    let fired = cancelled.clone();
    let mut signal = signal;
    let call_model = model.clone();
    let run = async move {
        if aborted {
            return Err(error::cancelled(&call_model));
        }
        let call = AssertUnwindSafe(fut).catch_unwind();
        let result = match cancelled {
            Some(rx) => tokio::select! {
                r = call => r,
                _ = wait_cancelled(rx) => return Err(error::cancelled(&call_model)),
            },
            None => call.await,
        };
        result.unwrap_or_else(|_| Err(error::panicked("a drop-in call")))
    };
    env.spawn_future_with_callback(run.map(Ok::<_, napi::Error>), move |env, result| {
        // The signal may have fired after the future finished, before this runs.
        let result = match result {
            Ok(_) if fired.as_ref().is_some_and(|rx| *rx.borrow()) => Err(error::cancelled(&model)),
            other => other,
        };
        let settled = match result {
            Ok(value) => done(env, value, &mut signal),
            Err(e) => Err(error::to_js_error(env, e)),
        };
        if let Some(signal) = signal {
            signal.settle(env);
        }
        settled
    })
}
