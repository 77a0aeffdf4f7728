//! The `onUsage` option: a JS function wrapped as a core [`UsageCallback`]. The core calls it on
//! its usage thread; a threadsafe function (callee-handled = false, so JS receives `(event)` and
//! not `(err, event)`; weak, so it never keeps the process alive) queues each event to the JS
//! thread without blocking.
//!
//! The same queue carries flush markers: [`UsageQueue::delivered`] queues one and resolves when
//! the JS thread reaches it, that is once every event queued before it has been passed to
//! `onUsage` (the queue is first in, first out). `flushUsage()` and `close()` wait for that, so
//! after `await client.flushUsage()` the callback has seen every finished call.
use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use tokio::sync::oneshot;

use polyfuse_core::UsageCallback;

use crate::convert::{usage_event_to_js, UsageEvent};

/// What goes through the queue to the JS thread.
enum Item {
    Event(Box<UsageEvent>),
    /// Resolved on the JS thread when every earlier event has been delivered.
    Marker(oneshot::Sender<()>),
}

type UsageFn = ThreadsafeFunction<Item, Unknown<'static>, Option<UsageEvent>, Status, false, true>;

/// Calls `onUsage(event)`, ignoring the `undefined` a marker turns into.
const WRAP_JS: &str =
    "(function (onUsage) { return function (event) { if (event != null) onUsage(event); }; })";

/// The queue from the core's usage thread to `onUsage`.
#[derive(Clone)]
pub(crate) struct UsageQueue {
    tsfn: Arc<UsageFn>,
}

impl UsageQueue {
    /// Wraps `onUsage` (a JS function) for the core.
    pub(crate) fn new(env: &Env, on_usage: Function<UsageEvent, Unknown<'static>>) -> Result<Self> {
        let wrap: Function<
            Function<UsageEvent, Unknown<'static>>,
            Function<Option<UsageEvent>, Unknown<'static>>,
        > = env.run_script(WRAP_JS)?;
        let wrapped = wrap.call(on_usage)?;
        let tsfn: UsageFn = wrapped
            .build_threadsafe_function::<Item>()
            .callee_handled::<false>()
            .weak::<true>()
            .build_callback(|ctx| match ctx.value {
                Item::Event(event) => Ok(Some(*event)),
                Item::Marker(done) => {
                    let _ = done.send(());
                    Ok(None)
                }
            })?;
        Ok(UsageQueue {
            tsfn: Arc::new(tsfn),
        })
    }

    /// The core's callback: queues each event of a batch to the JS thread (non-blocking).
    pub(crate) fn callback(&self) -> UsageCallback {
        let tsfn = self.tsfn.clone();
        Arc::new(move |batch: &[Arc<polyfuse_core::UsageEvent>]| {
            for event in batch {
                // The status only says the JS side is gone (the environment is shutting down),
                // when dropping the event is all there is to do.
                let _ = tsfn.call(
                    Item::Event(Box::new(usage_event_to_js(event))),
                    ThreadsafeFunctionCallMode::NonBlocking,
                );
            }
        })
    }

    /// Resolves once every event queued so far has been passed to `onUsage` (at once if the JS
    /// side is gone).
    pub(crate) async fn delivered(&self) {
        let (done, delivered) = oneshot::channel();
        if self
            .tsfn
            .call(Item::Marker(done), ThreadsafeFunctionCallMode::NonBlocking)
            == Status::Ok
        {
            let _ = delivered.await;
        }
    }
}
