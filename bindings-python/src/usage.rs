//! Usage callbacks: wraps a Python callable as a core `UsageCallback`. The core calls it on its
//! usage thread, once per call; here the event is converted to a dict and handed to the callable
//! (the Python façade turns it into a `UsageEvent` and runs sync or async user callbacks).
//! Exceptions go to `sys.unraisablehook`. Nothing is called once the interpreter is exiting.
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use polyfuse_core::{UsageCallback, UsageEvent};
use pyo3::prelude::*;

use crate::{convert, runtime};

static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// Callbacks currently running (the shutdown hook waits for them).
pub fn in_flight() -> usize {
    IN_FLIGHT.load(Ordering::SeqCst)
}

pub fn reset_after_fork() {
    IN_FLIGHT.store(0, Ordering::SeqCst);
}

struct InFlight;

impl InFlight {
    fn enter() -> InFlight {
        IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
        InFlight
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Wraps `callback(event_dict)`: one GIL acquisition per batch, one call per event, stopping
/// between events once the interpreter is exiting.
pub fn callback(callback: Py<PyAny>) -> UsageCallback {
    Arc::new(move |batch: &[Arc<UsageEvent>]| {
        let values: Vec<serde_json::Value> = batch
            .iter()
            .filter_map(|e| serde_json::to_value(e.as_ref()).ok())
            .collect();
        // Counted before the check so that `_shutdown` (flag, then wait for zero) cannot miss us.
        let _guard = InFlight::enter();
        if runtime::is_shut_down() {
            return;
        }
        Python::try_attach(|py| {
            for v in &values {
                if runtime::is_shut_down() {
                    return;
                }
                let result = convert::to_py(py, v).and_then(|ev| callback.bind(py).call1((ev,)));
                if let Err(e) = result {
                    e.write_unraisable(py, Some(callback.bind(py)));
                }
            }
        });
    })
}

/// The `atexit` part of usage: writes what every client's ledger still has queued, then delivers
/// what every client (even one already dropped) has queued for the callbacks, each for at most
/// the largest `usage.exit_flush_ms` (Ctrl-C ends the wait), with the GIL released between
/// signal checks. Returns the core's report of what was not written or delivered, if anything.
#[pyfunction]
pub fn _drain_usage_at_exit(py: Python<'_>) -> Option<String> {
    let interrupted = || Python::attach(|py| py.check_signals().is_err());
    let ledgers = py
        .detach(|| polyfuse_core::usage::ledger::flush_at_exit(interrupted))
        .exit_report();
    if polyfuse_core::usage::pending_in_process() == 0 {
        return ledgers;
    }
    let (stats, bound) = py.detach(|| polyfuse_core::usage::drain_at_exit(interrupted));
    match (ledgers, stats.exit_report(bound)) {
        (Some(a), Some(b)) => Some(format!("{a}\n{b}")),
        (a, b) => a.or(b),
    }
}
