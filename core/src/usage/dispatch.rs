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
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{UsageCallback, UsageEvent};

/// The most events handed to the callbacks in one batch.
const BATCH: usize = 256;

/// Counters of one client's event delivery.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryStats {
    /// Events queued for the callbacks.
    pub emitted: u64,
    /// Events handed to the callbacks (they returned).
    pub delivered: u64,
    /// Events dropped: the queue was full, or the client was closed.
    pub dropped: u64,
    /// Queued, not yet delivered.
    pub pending: u64,
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
    pub(crate) fn new(callbacks: Vec<UsageCallback>, capacity: usize) -> Self {
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
        });
        let worker = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("polyfuse-usage".into())
            .spawn(move || deliver(&worker, &callbacks));
        UsageDispatcher {
            shared: spawned.ok().map(|_| shared),
        }
    }

    /// Whether anyone receives events (else callers need not build them).
    pub(crate) fn is_on(&self) -> bool {
        self.shared.is_some()
    }

    /// Queues an event; never blocks beyond a short lock.
    pub(crate) fn emit(&self, event: UsageEvent) {
        let Some(shared) = &self.shared else { return };
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
        let Some(shared) = &self.shared else {
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
        if let Some(shared) = &self.shared {
            let mut st = shared.lock();
            st.closed = true;
            drop(st);
            shared.changed.notify_all();
        }
        stats
    }

    /// The delivery counters now.
    pub(crate) fn stats(&self) -> DeliveryStats {
        match &self.shared {
            Some(shared) => stats_of(&shared.lock()),
            None => DeliveryStats::default(),
        }
    }
}

impl Drop for UsageDispatcher {
    fn drop(&mut self) {
        if let Some(shared) = &self.shared {
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
        pending: st.queue.len() as u64,
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
        let d = UsageDispatcher::new(vec![cb], 10_000);
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
        let d = UsageDispatcher::new(vec![cb], 4);
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
        let d = UsageDispatcher::new(vec![bad, good], 100);
        for n in 0..10 {
            d.emit(event(n));
        }
        d.flush(None);
        assert_eq!(*count.lock().unwrap(), 10);
    }
}
