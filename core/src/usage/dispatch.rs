//! The delivery contract of usage events, the same for every binding: each event is delivered
//! exactly once, in the order emitted (so in order per request), on a dedicated thread, in
//! batches, never on the request's path (emitting is a bounded queue push that never blocks).
//!
//! # Defaults
//! - The queue holds `usage.queue_capacity` (65,536) events not yet delivered. When it is full,
//!   new events are dropped (never blocking a call), counted in [`DeliveryStats::dropped`].
//! - [`UsageDispatcher::flush`] returns once every event emitted before it has been delivered
//!   (the callbacks returned), or when its time bound runs out; it says how many are pending.
//! - A panicking callback is caught; delivery goes on with the next one.
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{UsageCallback, UsageEvent};

/// The most events handed to the callbacks in one batch.
const BATCH: usize = 256;

/// Counters of one client's event delivery (or, from [`drain_at_exit`], of every client's).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryStats {
    /// Events queued for the callbacks.
    pub emitted: u64,
    /// Events handed to the callbacks (they returned).
    pub delivered: u64,
    /// Events dropped: the queue was full, or the client was closed.
    pub dropped: u64,
    /// Queued or being delivered, not yet delivered.
    pub pending: u64,
}

impl DeliveryStats {
    fn add(&mut self, o: DeliveryStats) {
        self.emitted = self.emitted.saturating_add(o.emitted);
        self.delivered = self.delivered.saturating_add(o.delivered);
        self.dropped = self.dropped.saturating_add(o.dropped);
        self.pending = self.pending.saturating_add(o.pending);
    }

    /// What to tell the user at exit when events were lost: `None` when every event was
    /// delivered.
    pub fn exit_report(&self, bound: Duration) -> Option<String> {
        if self.pending == 0 && self.dropped == 0 {
            return None;
        }
        let mut parts = Vec::new();
        if self.pending > 0 {
            parts.push(format!(
                "{} usage events were not delivered at exit (the {:.1} s bound, usage.exit_flush_ms, was reached or the wait was interrupted)",
                self.pending,
                bound.as_secs_f64()
            ));
        }
        if self.dropped > 0 {
            parts.push(format!(
                "{} were dropped earlier (the usage queue was full: usage.queue_capacity)",
                self.dropped
            ));
        }
        Some(format!("polyfuse: {}", parts.join("; ")))
    }
}

/// Every dispatcher of the process, so that exit can deliver what is queued even for clients
/// that were already dropped (their threads keep delivering until their queue is empty).
static LIVE: Mutex<Vec<Weak<Shared>>> = Mutex::new(Vec::new());

/// In a child after `fork()`: the parent's usage threads do not exist here, so their queues are
/// forgotten (exit must not wait for them).
pub fn forget_after_fork() {
    LIVE.lock().unwrap_or_else(|p| p.into_inner()).clear();
}

/// The exit bound: the largest `usage.exit_flush_ms` among the process's clients.
pub fn exit_bound_in_process() -> Duration {
    let live = LIVE.lock().unwrap_or_else(|p| p.into_inner());
    live.iter()
        .filter_map(Weak::upgrade)
        .map(|s| s.exit_bound)
        .max()
        .unwrap_or(Duration::ZERO)
}

/// Events of every client of the process not yet delivered (at exit: whether to wait).
pub fn pending_in_process() -> u64 {
    let live = LIVE.lock().unwrap_or_else(|p| p.into_inner());
    live.iter()
        .filter_map(Weak::upgrade)
        .map(|s| stats_of(&s.lock()).pending)
        .sum()
}

/// At exit: waits until every client's queued events are delivered, at most the largest
/// `usage.exit_flush_ms` among them, or until `interrupted()` says stop (checked about every
/// 50 ms: a binding passes its signal check, so Ctrl-C ends the wait). Then closes every
/// dispatcher. Returns the process-wide counters and the bound that applied.
pub fn drain_at_exit(mut interrupted: impl FnMut() -> bool) -> (DeliveryStats, Duration) {
    let live: Vec<Arc<Shared>> = {
        let mut live = LIVE.lock().unwrap_or_else(|p| p.into_inner());
        live.retain(|w| w.strong_count() > 0);
        live.iter().filter_map(Weak::upgrade).collect()
    };
    let bound = live
        .iter()
        .map(|s| s.exit_bound)
        .max()
        .unwrap_or(Duration::ZERO);
    let deadline = Instant::now() + bound;
    loop {
        let mut total = DeliveryStats::default();
        for s in &live {
            total.add(stats_of(&s.lock()));
        }
        let now = Instant::now();
        if total.pending == 0 || now >= deadline || interrupted() {
            // What is still queued will not be delivered: the threads stop after the batch
            // they are in (the process is exiting; nothing may run callbacks after this).
            for s in &live {
                let mut st = s.lock();
                st.closed = true;
                st.queue.clear();
                drop(st);
                s.changed.notify_all();
            }
            return (total, bound);
        }
        let slice = (deadline - now).min(Duration::from_millis(50));
        for s in &live {
            let st = s.lock();
            if st.delivered < st.emitted {
                let _ = s.changed.wait_timeout(st, slice);
                break;
            }
        }
    }
}

struct State {
    queue: VecDeque<Arc<UsageEvent>>,
    emitted: u64,
    delivered: u64,
    dropped: u64,
    closed: bool,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when events arrive (the thread waits on it) and when a batch was delivered
    /// (flushes wait on it).
    changed: Condvar,
    capacity: usize,
    /// `usage.exit_flush_ms` of its client.
    exit_bound: Duration,
    /// The process that made it: in a child forked from it, the delivery thread does not exist
    /// and the lock may have been held at the fork, so nothing there touches either.
    pid: u32,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Delivers usage events to callbacks on a dedicated thread, so a slow callback never delays a
/// request and no runtime is assumed. The thread ends when the dispatcher is closed or dropped.
pub(crate) struct UsageDispatcher {
    shared: Option<Arc<Shared>>,
}

impl UsageDispatcher {
    pub(crate) fn new(
        callbacks: Vec<UsageCallback>,
        capacity: usize,
        exit_bound: Duration,
    ) -> Self {
        if callbacks.is_empty() {
            return UsageDispatcher { shared: None };
        }
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                emitted: 0,
                delivered: 0,
                dropped: 0,
                closed: false,
            }),
            changed: Condvar::new(),
            capacity: capacity.max(1),
            exit_bound,
            pid: std::process::id(),
        });
        LIVE.lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Arc::downgrade(&shared));
        let worker = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("polyfuse-usage".into())
            .spawn(move || deliver(&worker, &callbacks));
        UsageDispatcher {
            shared: spawned.ok().map(|_| shared),
        }
    }

    /// Whether anyone receives events (else callers need not build them). Never in a process
    /// forked from the one that made the dispatcher: events there are not built, and flush and
    /// close return at once (a forked gunicorn worker exits without waiting on the parent's
    /// thread).
    pub(crate) fn is_on(&self) -> bool {
        self.live().is_some()
    }

    /// The shared state, when on and in the process that made it.
    fn live(&self) -> Option<&Arc<Shared>> {
        self.shared.as_ref().filter(|s| s.pid == std::process::id())
    }

    /// Queues an event; never blocks beyond a short lock.
    pub(crate) fn emit(&self, event: UsageEvent) {
        let Some(shared) = self.live() else { return };
        let mut st = shared.lock();
        if st.closed || st.queue.len() >= shared.capacity {
            st.dropped = st.dropped.saturating_add(1);
            return;
        }
        st.queue.push_back(Arc::new(event));
        st.emitted = st.emitted.saturating_add(1);
        drop(st);
        shared.changed.notify_all();
    }

    /// Waits until every event emitted before this call has been delivered, or `bound` passed
    /// (`None`: no bound). Returns the counters at the end (`pending` > 0 when the bound hit).
    pub(crate) fn flush(&self, bound: Option<Duration>) -> DeliveryStats {
        let Some(shared) = self.live() else {
            return DeliveryStats::default();
        };
        let deadline = bound.map(|b| Instant::now() + b);
        let mut st = shared.lock();
        let target = st.emitted;
        while st.delivered < target {
            let wait = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => left,
                    _ => break,
                },
                None => Duration::from_secs(3600),
            };
            st = shared
                .changed
                .wait_timeout(st, wait)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
        stats_of(&st)
    }

    /// Delivers what is queued (within `bound`), then stops: later events are dropped. Returns
    /// the counters (`pending` events were not delivered within the bound).
    pub(crate) fn close(&self, bound: Option<Duration>) -> DeliveryStats {
        let stats = self.flush(bound);
        if let Some(shared) = self.live() {
            let mut st = shared.lock();
            st.closed = true;
            drop(st);
            shared.changed.notify_all();
        }
        stats
    }

    /// The delivery counters now.
    pub(crate) fn stats(&self) -> DeliveryStats {
        match self.live() {
            Some(shared) => stats_of(&shared.lock()),
            None => DeliveryStats::default(),
        }
    }
}

impl Drop for UsageDispatcher {
    fn drop(&mut self) {
        if let Some(shared) = self.live() {
            shared.lock().closed = true;
            shared.changed.notify_all();
        }
    }
}

fn stats_of(st: &State) -> DeliveryStats {
    DeliveryStats {
        emitted: st.emitted,
        delivered: st.delivered,
        dropped: st.dropped,
        pending: st.emitted.saturating_sub(st.delivered),
    }
}

/// The usage thread: takes batches off the queue and hands them to every callback in turn.
fn deliver(shared: &Shared, callbacks: &[UsageCallback]) {
    let mut batch: Vec<Arc<UsageEvent>> = Vec::with_capacity(BATCH);
    loop {
        {
            let mut st = shared.lock();
            while st.queue.is_empty() {
                if st.closed {
                    return;
                }
                st = shared.changed.wait(st).unwrap_or_else(|p| p.into_inner());
            }
            let n = st.queue.len().min(BATCH);
            batch.extend(st.queue.drain(..n));
        }
        for cb in callbacks {
            // A panicking callback must not stop delivery to the others.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cb(&batch)));
        }
        let mut st = shared.lock();
        st.delivered = st.delivered.saturating_add(batch.len() as u64);
        drop(st);
        batch.clear();
        shared.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::{Level, Usage};
    use crate::Outcome;

    fn event(n: usize) -> UsageEvent {
        UsageEvent {
            request_id: format!("pf-{n}"),
            parent_id: None,
            level: Level::Call,
            started_at_ms: 0,
            route: None,
            model: "mock/echo".into(),
            provider: "mock".into(),
            outcome: Outcome::Ok,
            error_kind: None,
            error_message: None,
            streamed: false,
            usage: Usage::default(),
            latency_ms: 0.0,
            ttft_ms: None,
            attempt: None,
            hedge: false,
            fallback: false,
            attempts: Vec::new(),
            tags: Default::default(),
            metadata: Default::default(),
        }
    }

    #[test]
    fn every_event_once_in_order_and_flush_means_delivered() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let cb: UsageCallback = Arc::new(move |batch: &[Arc<UsageEvent>]| {
            // A slow callback: the emitter is never held up by it.
            std::thread::sleep(Duration::from_millis(2));
            sink.lock()
                .unwrap()
                .extend(batch.iter().map(|e| e.request_id.clone()));
        });
        let d = UsageDispatcher::new(vec![cb], 10_000, Duration::ZERO);
        let t = Instant::now();
        for n in 0..5_000 {
            d.emit(event(n));
        }
        assert!(
            t.elapsed() < Duration::from_millis(500),
            "{:?}",
            t.elapsed()
        );
        let stats = d.flush(None);
        assert_eq!(
            (stats.emitted, stats.delivered, stats.pending),
            (5_000, 5_000, 0)
        );
        let seen = seen.lock().unwrap();
        let want: Vec<String> = (0..5_000).map(|n| format!("pf-{n}")).collect();
        assert_eq!(*seen, want);
    }

    #[test]
    fn a_full_queue_drops_and_counts_and_a_bound_stops_the_wait() {
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let g = gate.clone();
        let cb: UsageCallback = Arc::new(move |_: &[Arc<UsageEvent>]| {
            let (lock, cv) = &*g;
            let mut open = lock.lock().unwrap();
            while !*open {
                open = cv.wait(open).unwrap();
            }
        });
        let d = UsageDispatcher::new(vec![cb], 4, Duration::ZERO);
        for n in 0..20 {
            d.emit(event(n));
        }
        let stats = d.flush(Some(Duration::from_millis(50)));
        assert!(stats.dropped >= 12, "{stats:?}");
        assert!(stats.delivered < stats.emitted);
        let (lock, cv) = &*gate;
        *lock.lock().unwrap() = true;
        cv.notify_all();
        let stats = d.close(None);
        assert_eq!(stats.delivered, stats.emitted);
        d.emit(event(99));
        assert_eq!(d.stats().dropped, stats.dropped + 1, "closed: dropped");
    }

    #[test]
    fn a_panicking_callback_does_not_stop_the_others() {
        let count = Arc::new(Mutex::new(0usize));
        let c = count.clone();
        let bad: UsageCallback = Arc::new(|_: &[Arc<UsageEvent>]| panic!("callback bug"));
        let good: UsageCallback =
            Arc::new(move |b: &[Arc<UsageEvent>]| *c.lock().unwrap() += b.len());
        let d = UsageDispatcher::new(vec![bad, good], 100, Duration::ZERO);
        for n in 0..10 {
            d.emit(event(n));
        }
        d.flush(None);
        assert_eq!(*count.lock().unwrap(), 10);
    }
}
