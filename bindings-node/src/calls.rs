//! What the drop-ins (`openai`, `ai_sdk`) share: reading an `AbortSignal` argument, and running a
//! core future as a Promise that the signal aborts (the future is dropped, which closes its
//! connection, and the Promise rejects with a `cancelled` error), panics caught.
use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use napi::bindgen_prelude::*;

use polyfuse_core as core;

use crate::client::{cancel_watch, wait_cancelled};
use crate::convert::Signal;
use crate::error;
use crate::options::type_name;

/// An `AbortSignal` argument (`what` names it in errors); `undefined` / `null` are none.
pub(crate) fn signal(
    env: &Env,
    value: Option<Unknown>,
    what: &str,
) -> std::result::Result<Option<Signal>, core::Error> {
    let Some(value) = value else { return Ok(None) };
    let bad = |got: &str| {
        core::Error::invalid_request(format!("{what}: expected an AbortSignal, got {got}"))
    };
    let ty = value.get_type().map_err(|e| bad(&e.reason))?;
    if matches!(ty, ValueType::Undefined | ValueType::Null) {
        return Ok(None);
    }
    let object: Object = unsafe { Object::from_napi_value(env.raw(), value.raw()) }
        .map_err(|_| bad(type_name(ty)))?;
    let Some(aborted) = object.get::<bool>("aborted").ok().flatten() else {
        return Err(bad("an object that is not one"));
    };
    let signal = unsafe { AbortSignal::from_napi_value(env.raw(), value.raw()) }
        .map_err(|e| bad(&e.reason))?;
    Ok(Some(Signal { signal, aborted }))
}

/// Runs `fut` (a call on `model`) as a Promise of what `done` makes of its output on the JS
/// thread; `done` also gets the signal back. A signal that fired before (or while) it runs
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
    D: FnOnce(&'env Env, T, Option<AbortSignal>) -> Result<V> + 'static,
{
    let aborted = signal.as_ref().is_some_and(|s| s.aborted);
    let cancelled = cancel_watch(signal.as_ref());
    let fired = cancelled.clone();
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
        match result {
            Ok(value) => done(env, value, signal.map(|s| s.signal)),
            Err(e) => Err(error::to_js_error(env, e)),
        }
    })
}
