//! Observations: counters, per-key request counts (which also drive `fail_times`) and the log of
//! the last received provider requests. Served by `GET /_mock/stats` and `GET /_mock/requests`,
//! cleared by `POST /_mock/reset`, and read in-process through [`crate::MockServer`].

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How many provider requests `GET /_mock/requests` keeps.
pub const REQUEST_LOG_CAPACITY: usize = 100;

/// A snapshot of what the server has observed (the JSON of `GET /_mock/stats`).
///
/// Counters count since start or the last `POST /_mock/reset`; `in_flight` and
/// `open_connections` are live gauges and are not reset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Provider requests received (e.g. `POST /v1/chat/completions`), whatever their outcome.
    pub requests: u64,
    /// Provider exchanges currently open: received, response not yet fully written or abandoned.
    pub in_flight: u64,
    /// Responses fully written (errors included, e.g. a scripted 429).
    pub completed: u64,
    /// Exchanges the client abandoned (closed or reset the connection) before the response was
    /// fully written: seen while the server was delaying, streaming, stalling or hanging, or
    /// through a failed write.
    pub client_disconnects: u64,
    /// Exchanges the server broke on purpose (`reset`, `cut_after`).
    pub server_aborts: u64,
    /// TCP connections accepted, except those whose first request was a `/_mock/` control
    /// request (so polling stats does not disturb connection-reuse assertions).
    pub connections: u64,
    /// TCP connections currently open (same exception).
    pub open_connections: u64,
    /// Provider requests per key (the `key` option, else the full `model` string as sent).
    pub by_key: BTreeMap<String, u64>,
}

/// How a provider exchange ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The response was fully written.
    Completed,
    /// The client went away first.
    ClientGone,
    /// The server broke the exchange on purpose (reset, cut).
    ServerAbort,
}

#[derive(Default)]
struct Inner {
    stats: Stats,
    log: VecDeque<Value>,
}

/// Shared, thread-safe recorder behind [`Stats`].
#[derive(Default)]
pub struct Recorder {
    inner: Mutex<Inner>,
}

impl Recorder {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the counters inconsistent in a way that
        // matters for a test server, so recover from poisoning.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A TCP connection was accepted; the guard marks it closed when dropped.
    pub fn connection_opened(&self) -> ConnectionGuard<'_> {
        let mut inner = self.lock();
        inner.stats.connections += 1;
        inner.stats.open_connections += 1;
        ConnectionGuard {
            recorder: self,
            counted: true,
        }
    }

    /// A provider request was received: count it, log it, and open an exchange.
    pub fn begin(&self, log_entry: Value) -> Exchange<'_> {
        let mut inner = self.lock();
        inner.stats.requests += 1;
        inner.stats.in_flight += 1;
        if inner.log.len() == REQUEST_LOG_CAPACITY {
            inner.log.pop_front();
        }
        inner.log.push_back(log_entry);
        Exchange {
            recorder: self,
            finished: false,
        }
    }

    /// Counts one request for `key` and returns how many requests carried it so far (this one
    /// included), which is what `fail_times` compares against.
    pub fn count_key(&self, key: &str) -> u64 {
        let mut inner = self.lock();
        let n = inner.stats.by_key.entry(key.to_owned()).or_insert(0);
        *n += 1;
        *n
    }

    /// A copy of the current counters.
    pub fn snapshot(&self) -> Stats {
        self.lock().stats.clone()
    }

    /// The logged requests, oldest first.
    pub fn requests(&self) -> Vec<Value> {
        self.lock().log.iter().cloned().collect()
    }

    /// Clears counters, per-key counts and the log (the live gauges stay).
    pub fn reset(&self) {
        let mut inner = self.lock();
        let Stats {
            in_flight,
            open_connections,
            ..
        } = inner.stats;
        inner.stats = Stats {
            in_flight,
            open_connections,
            ..Stats::default()
        };
        inner.log.clear();
    }
}

/// Keeps `open_connections` right, even when a connection task is aborted.
pub struct ConnectionGuard<'a> {
    recorder: &'a Recorder,
    counted: bool,
}

impl ConnectionGuard<'_> {
    /// Takes the connection out of `connections` and `open_connections`: its first request was a
    /// control request (a test polling stats), not provider traffic.
    pub fn uncount(&mut self) {
        if std::mem::take(&mut self.counted) {
            let mut inner = self.recorder.lock();
            inner.stats.connections = inner.stats.connections.saturating_sub(1);
            inner.stats.open_connections = inner.stats.open_connections.saturating_sub(1);
        }
    }
}

impl Drop for ConnectionGuard<'_> {
    fn drop(&mut self) {
        if self.counted {
            let mut inner = self.recorder.lock();
            inner.stats.open_connections = inner.stats.open_connections.saturating_sub(1);
        }
    }
}

/// One open provider exchange; dropping it without [`Exchange::finish`] (server shutdown) only
/// closes it.
pub struct Exchange<'a> {
    recorder: &'a Recorder,
    finished: bool,
}

impl Exchange<'_> {
    /// Records how the exchange ended.
    pub fn finish(mut self, outcome: Outcome) {
        self.finished = true;
        let mut inner = self.recorder.lock();
        inner.stats.in_flight = inner.stats.in_flight.saturating_sub(1);
        match outcome {
            Outcome::Completed => inner.stats.completed += 1,
            Outcome::ClientGone => inner.stats.client_disconnects += 1,
            Outcome::ServerAbort => inner.stats.server_aborts += 1,
        }
    }
}

impl Drop for Exchange<'_> {
    fn drop(&mut self) {
        if !self.finished {
            let mut inner = self.recorder.lock();
            inner.stats.in_flight = inner.stats.in_flight.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exchange_outcomes_and_reset() {
        let r = Recorder::default();
        let c = r.connection_opened();
        r.begin(Value::Null).finish(Outcome::Completed);
        r.begin(Value::Null).finish(Outcome::ClientGone);
        let open = r.begin(Value::Null);
        assert_eq!(r.count_key("k"), 1);
        assert_eq!(r.count_key("k"), 2);
        let s = r.snapshot();
        assert_eq!(
            (s.requests, s.in_flight, s.completed, s.client_disconnects),
            (3, 1, 1, 1)
        );
        assert_eq!((s.connections, s.open_connections), (1, 1));
        r.reset();
        let s = r.snapshot();
        assert_eq!((s.requests, s.in_flight, s.open_connections), (0, 1, 1));
        assert!(s.by_key.is_empty() && r.requests().is_empty());
        drop(open);
        drop(c);
        let s = r.snapshot();
        assert_eq!((s.in_flight, s.open_connections), (0, 0));
        let mut control = r.connection_opened();
        control.uncount();
        drop(control);
        let s = r.snapshot();
        assert_eq!((s.connections, s.open_connections), (0, 0));
    }

    #[test]
    fn log_keeps_the_last_hundred() {
        let r = Recorder::default();
        for i in 0..150 {
            r.begin(Value::from(i)).finish(Outcome::Completed);
        }
        let log = r.requests();
        assert_eq!(log.len(), REQUEST_LOG_CAPACITY);
        assert_eq!(log[0], Value::from(50));
    }
}
