//! The `onUsage` option: a JS function wrapped as a core [`UsageCallback`]. The core calls it on
//! its usage thread; a threadsafe function (callee-handled = false, so JS receives `(event)` and
//! not `(err, event)`; weak, so it never keeps the process alive) queues each event to the JS
//! thread without blocking.
use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};

use polyfuse_core::UsageCallback;

use crate::convert::{usage_event_to_js, UsageEvent};

type UsageFn = ThreadsafeFunction<UsageEvent, Unknown<'static>, UsageEvent, Status, false, true>;

/// Wraps `onUsage` for the core.
pub(crate) fn callback(f: Function<UsageEvent, Unknown<'static>>) -> Result<UsageCallback> {
    let tsfn: UsageFn = f
        .build_threadsafe_function()
        .callee_handled::<false>()
        .weak::<true>()
        .build()?;
    Ok(Arc::new(
        move |batch: &[Arc<polyfuse_core::UsageEvent>]| {
            for event in batch {
                // Non-blocking: the status only says the JS side is gone (the environment is
                // shutting down), when dropping the event is all there is to do.
                let _ = tsfn.call(
                    usage_event_to_js(event),
                    ThreadsafeFunctionCallMode::NonBlocking,
                );
            }
        },
    ))
}
