//! The `onUsage` option: a JS function wrapped as a core [`UsageCallback`]. The core delivers
//! events in batches on its usage thread; a threadsafe function (callee-handled = false; weak, so
//! it never keeps the process alive by itself) hands each to the JS thread, where a small queue
//! runs `onUsage` on its own event-loop turns (an unreferenced timer, a few milliseconds of
//! callbacks per turn), so a slow callback delays other JS work by at most one callback instead of a whole
//! backlog. A callback that throws, or returns a promise that rejects, is reported as a process
//! warning naming the event's request id; it never breaks a call.
//!
//! The same queue carries flush markers: [`UsageQueue::delivered`] queues one and resolves when
//! the JS side reaches it, that is once every event queued before it has been passed to
//! `onUsage` and the promises those calls returned have settled. `flushUsage()` and `close()`
//! wait for that. At exit (`beforeExit`), the hook delivers what every client queued (core side
//! and JS side), for at most `usage.exit_flush_ms`, and says on stderr what it could not.
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use tokio::sync::oneshot;

use polyfuse_core::UsageCallback;

use crate::convert::{usage_event_to_js, UsageEvent};

/// What goes through the queue to the JS thread.
enum Item {
    Event(Box<UsageEvent>),
    /// A flush marker: the JS side reports reaching it by its id.
    Marker(u32),
}

type UsageFn =
    ThreadsafeFunction<Item, Unknown<'static>, Either<UsageEvent, u32>, Status, false, true>;

/// Builds the JS side of one client's queue: `(onUsage, reached) => push(item)`. The queue
/// registers itself (weakly) in a set shared by every client of this JS environment, through
/// which the exit hook sees its size and sets its deadline.
const QUEUE_JS: &str = r#"(function (onUsage, reached) {
  const queues = (globalThis[Symbol.for('polyfuse.usageQueues')] ??= new Set());
  const items = [];
  let head = 0;
  let scheduled = false;
  const pending = new Set();
  const self = { deadline: Infinity, dropped: 0, size: () => items.length - head + pending.size };
  queues.add(new WeakRef(self));
  function report(error, event) {
    const detail = error && error.stack ? error.stack : String(error);
    process.emitWarning(
      `onUsage failed on usage event ${event.requestId} (${event.level}): ${detail}`,
      { type: 'PolyfuseUsageWarning', code: 'POLYFUSE_ON_USAGE' },
    );
  }
  function marker(id) {
    if (pending.size === 0) return reached(id);
    Promise.allSettled([...pending]).then(() => reached(id));
  }
  function run() {
    scheduled = false;
    const started = Date.now();
    while (head < items.length) {
      const item = items[head];
      items[head++] = undefined;
      if (typeof item === 'number') marker(item);
      else if (started > self.deadline) self.dropped++;
      else {
        try {
          const result = onUsage(item);
          if (result && typeof result.then === 'function') {
            const p = Promise.resolve(result).then(undefined, (e) => report(e, item));
            pending.add(p);
            p.finally(() => pending.delete(p));
          }
        } catch (e) {
          report(e, item);
        }
      }
      if (Date.now() - started >= 4 && head < items.length) break;
    }
    if (head >= items.length) {
      items.length = 0;
      head = 0;
    } else {
      if (head > 1024) {
        items.splice(0, head);
        head = 0;
      }
      schedule();
    }
  }
  function schedule() {
    if (!scheduled) {
      scheduled = true;
      // Unreferenced: a usage backlog alone does not keep the process alive; at exit the
      // beforeExit hook keeps it alive for the exit bound.
      setTimeout(run, 0).unref();
    }
  }
  return function (item) {
    items.push(item);
    schedule();
  };
})"#;

/// Installs the `beforeExit` hook that delivers queued usage events at exit, for at most the
/// largest `usage.exit_flush_ms`, and says on stderr what could not be delivered.
const EXIT_JS: &str = r#"(function (exports) {
  const queues = (globalThis[Symbol.for('polyfuse.usageQueues')] ??= new Set());
  let draining = false;
  const live = () => [...queues].map((r) => r.deref()).filter(Boolean);
  const jsPending = () => live().reduce((n, q) => n + q.size(), 0);
  process.on('beforeExit', () => {
    if (draining || exports._usagePending() + jsPending() === 0) return;
    draining = true;
    const bound = exports._usageExitBound();
    const deadline = Date.now() + bound;
    for (const q of live()) q.deadline = deadline;
    exports._drainUsageAtExit().then((corePending) => {
      const settle = () => {
        if (jsPending() > 0 && Date.now() <= deadline + 50) return setTimeout(settle, 5);
        const dropped = live().reduce((n, q) => n + q.dropped, 0);
        const report = exports._usageExitReport(corePending + dropped + jsPending(), bound);
        if (report) process.stderr.write(report + '\n');
        draining = false;
      };
      settle();
    }, () => { draining = false; });
  });
})"#;

/// Flush markers waiting for the JS side, by id.
static MARKERS: Mutex<Option<HashMap<u32, oneshot::Sender<()>>>> = Mutex::new(None);
static NEXT_MARKER: AtomicU32 = AtomicU32::new(0);
/// Events handed to a threadsafe function and not yet taken by the JS side.
static IN_FLIGHT: AtomicU64 = AtomicU64::new(0);

fn reached(id: u32) {
    let mut markers = MARKERS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(done) = markers.as_mut().and_then(|m| m.remove(&id)) {
        let _ = done.send(());
    }
}

/// The queue from the core's usage thread to `onUsage`.
#[derive(Clone)]
pub(crate) struct UsageQueue {
    tsfn: Arc<UsageFn>,
}

impl UsageQueue {
    /// Wraps `onUsage` (a JS function) for the core.
    pub(crate) fn new(env: &Env, on_usage: Function<UsageEvent, Unknown<'static>>) -> Result<Self> {
        type Build<'a> = Function<
            'a,
            FnArgs<(
                Function<'a, UsageEvent, Unknown<'static>>,
                Function<'a, u32, ()>,
            )>,
            Function<'a, Either<UsageEvent, u32>, Unknown<'static>>,
        >;
        let build: Build = env.run_script(QUEUE_JS)?;
        let marker: Function<u32, ()> = env.create_function_from_closure("reached", |ctx| {
            let id: u32 = ctx.first_arg()?;
            reached(id);
            Ok(())
        })?;
        let push = build.call(FnArgs::from((on_usage, marker)))?;
        let tsfn: UsageFn = push
            .build_threadsafe_function::<Item>()
            .callee_handled::<false>()
            .weak::<true>()
            .build_callback(|ctx| match ctx.value {
                Item::Event(event) => {
                    IN_FLIGHT.fetch_sub(1, Ordering::Relaxed);
                    Ok(Either::A(*event))
                }
                Item::Marker(id) => Ok(Either::B(id)),
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
                IN_FLIGHT.fetch_add(1, Ordering::Relaxed);
                // A failure only says the JS side is gone (the environment is shutting down),
                // when dropping the event is all there is to do.
                if tsfn.call(
                    Item::Event(Box::new(usage_event_to_js(event))),
                    ThreadsafeFunctionCallMode::NonBlocking,
                ) != Status::Ok
                {
                    IN_FLIGHT.fetch_sub(1, Ordering::Relaxed);
                }
            }
        })
    }

    /// Resolves once every event queued so far has been passed to `onUsage` and the promises it
    /// returned have settled (at once if the JS side is gone).
    pub(crate) async fn delivered(&self) {
        delivered(&self.tsfn).await;
    }
}

async fn delivered(tsfn: &UsageFn) {
    let id = NEXT_MARKER.fetch_add(1, Ordering::Relaxed);
    let (done, reached) = oneshot::channel();
    MARKERS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get_or_insert_with(HashMap::new)
        .insert(id, done);
    if tsfn.call(Item::Marker(id), ThreadsafeFunctionCallMode::NonBlocking) == Status::Ok {
        let _ = reached.await;
    } else {
        reached_nothing(id);
    }
}

fn reached_nothing(id: u32) {
    let mut markers = MARKERS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(m) = markers.as_mut() {
        m.remove(&id);
    }
}

/// Installs the exit hook (at module load).
pub(crate) fn install(env: &Env, exports: Object) -> Result<()> {
    let hook: Function<Object, ()> = env.run_script(EXIT_JS)?;
    hook.call(exports)
}

/// Usage events of every client not yet handed to the JS side (the exit hook's check).
// Internal: called by the exit hook from JS (registered by #[napi]).
#[allow(dead_code)]
#[napi(js_name = "_usagePending")]
pub fn usage_pending() -> f64 {
    (polyfuse_core::usage::pending_in_process() + IN_FLIGHT.load(Ordering::Relaxed)) as f64
}

/// The exit bound in milliseconds: the largest `usage.exit_flush_ms` of the clients.
// Internal: called by the exit hook from JS (registered by #[napi]).
#[allow(dead_code)]
#[napi(js_name = "_usageExitBound")]
pub fn usage_exit_bound() -> f64 {
    polyfuse_core::usage::exit_bound_in_process().as_millis() as f64
}

/// At exit: delivers what every client's core queue holds to the JS side, for at most the exit
/// bound. Resolves to the number of events the core could not hand over in time.
// Internal: called by the exit hook from JS (registered by #[napi]).
#[allow(dead_code)]
#[napi(js_name = "_drainUsageAtExit")]
pub async fn drain_usage_at_exit() -> Result<f64> {
    let (stats, _) = tokio::task::spawn_blocking(|| polyfuse_core::usage::drain_at_exit(|| false))
        .await
        .map_err(|e| napi::Error::from_reason(format!("polyfuse: usage drain failed: {e}")))?;
    Ok(stats.pending as f64)
}

/// The core's exit message for `not_delivered` events under a bound of `bound_ms`.
// Internal: called by the exit hook from JS (registered by #[napi]).
#[allow(dead_code)]
#[napi(js_name = "_usageExitReport")]
pub fn usage_exit_report(not_delivered: f64, bound_ms: f64) -> Option<String> {
    let stats = polyfuse_core::DeliveryStats {
        pending: not_delivered.max(0.0) as u64,
        ..Default::default()
    };
    stats.exit_report(std::time::Duration::from_millis(bound_ms.max(0.0) as u64))
}
