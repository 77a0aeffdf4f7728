//! The usage ledger: every usage event written durably to an embedded SQLite database, off by
//! default (`usage = { ledger = "sqlite:///var/lib/app/usage.db" }`, or a plain path), and
//! [`query`] to read events back by time range, model, route, level and tags.
//!
//! # Durability
//! - One connection per client, owned by a dedicated writer thread (`polyfuse-ledger`). The call
//!   path only pushes the event on a queue (a short lock, no I/O, never blocking).
//! - Group commit: the writer takes everything queued and writes it in one transaction. A call
//!   event (which its call awaits) wakes it at once; attempt events alone wait up to [`LINGER`]
//!   for their call's event, so that a call costs one transaction, not one per event.
//! - A call hands out its result (the `Response`, the error, a stream's `Final`) only once the
//!   transaction holding its call event has committed, and with it, written before it, every
//!   one of its attempt events. The call awaits the writer's commit counter (a tokio `watch`,
//!   which needs no runtime), never blocking a runtime thread.
//! - Checkpoints (copying the WAL into the database, with an fsync) run on a second thread with
//!   its own connection every [`CHECKPOINT_EVERY`] while events are written, so that a call never
//!   waits for one (SQLite's automatic checkpoints would run inside the writer's commits).
//! - WAL with `synchronous = NORMAL`: a commit is a write into the WAL file, with no fsync. That
//!   is durable when the process dies (SIGKILL, a crash, the OOM killer): the data is in the OS
//!   page cache and SQLite recovers the WAL the next time the file is opened. It is not durable
//!   against power loss or an OS crash, which may lose the last commits before a checkpoint.
//! - A failed write (disk full, the database locked by another writer for longer than
//!   [`BUSY_TIMEOUT`], ...) never fails a call: its batch is counted in [`LedgerStats::failed`],
//!   the first failure is reported on stderr, and the writer goes on with the next batch.
//! - A full queue (`usage.queue_capacity` events not yet written) drops new events, counted in
//!   [`LedgerStats::dropped`]; their calls do not wait.
//! - At exit, [`flush_at_exit`] (called by the bindings' exit hooks) writes what every ledger of
//!   the process still has queued (events of calls that had not completed: the others are
//!   written already), also for clients already dropped, within `usage.exit_flush_ms`.
//!
//! # Schema (version 1, in `PRAGMA user_version`)
//! One table, `events`, one row per event, in the order emitted (`seq`). The columns copy the
//! event's fields for SQL filters and aggregates; `event` holds the whole event as JSON (what
//! [`query`] returns; `json_extract(event, '$.error_message')` reads the rest). Enums are their
//! snake_case names (`level`: `attempt` | `call`; `outcome`: `ok` | `error` | `cancelled`).
//! ```sql
#![doc = include_str!("schema.sql")]
//! ```
//! Tags are matched with `json_each(tags)` (a tag filter is `key = value` on any key).
//!
//! Here: the location, the queue and its writer thread; `store`: the SQLite side (open, schema,
//! insert); `query`: [`LedgerFilter`] and [`query`].
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::{Level, UsageEvent};
use crate::types::error::{Error, Result};

mod query;
mod store;

pub(crate) use query::Reader;
pub use query::{query, LedgerFilter};
pub use store::BUSY_TIMEOUT;

/// How long queued attempt events may wait for a call event (or a flush) before the writer
/// writes them anyway.
pub const LINGER: Duration = Duration::from_millis(50);
/// How often the WAL is checkpointed while events are being written.
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// Where the ledger lives (`usage.ledger`): a file path, or an `sqlite://` URL of one
/// (`sqlite:///var/lib/app/usage.db` is absolute, `sqlite://usage.db` relative to the working
/// directory). Missing parent directories are created when the client opens it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerLocation {
    given: String,
    path: PathBuf,
}

impl LedgerLocation {
    /// Reads a location; the error says what was expected.
    pub fn parse(text: &str) -> std::result::Result<LedgerLocation, String> {
        let path = match text.split_once("://") {
            Some(("sqlite", rest)) => rest,
            Some((scheme, _)) => {
                return Err(format!(
                    "unsupported scheme `{scheme}://`: the ledger is an SQLite file (a path, or sqlite:///absolute/path)"
                ))
            }
            None => text.strip_prefix("sqlite:").unwrap_or(text),
        };
        if path.trim().is_empty() {
            return Err(format!(
                "expected a file path or an sqlite:// URL, got `{text}`"
            ));
        }
        if path == ":memory:" || path.starts_with("file:") {
            return Err(format!(
                "expected a file path, got `{text}` (an in-memory database would lose every event)"
            ));
        }
        Ok(LedgerLocation {
            given: text.to_string(),
            path: PathBuf::from(path),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Serialize for LedgerLocation {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.given)
    }
}

impl<'de> Deserialize<'de> for LedgerLocation {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        LedgerLocation::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Counters of one client's ledger.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LedgerStats {
    /// Events committed to the database.
    pub written: u64,
    /// Events whose write failed (reported on stderr the first time).
    pub failed: u64,
    /// Events dropped because the queue was full.
    pub dropped: u64,
    /// Queued, not yet settled (written or failed).
    pub pending: u64,
}

impl LedgerStats {
    /// What to tell the user at exit when events were not written: `None` when all were.
    pub fn exit_report(&self) -> Option<String> {
        (self.pending > 0).then(|| {
            format!(
                "polyfuse: {} usage events (of calls that had not completed) were not written to \
                 the ledger at exit (the usage.exit_flush_ms bound was reached or the wait was \
                 interrupted)",
                self.pending
            )
        })
    }
}

/// A place in the ledger's queue; the event is settled once the writer has passed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Ticket(u64);

struct State {
    queue: Vec<UsageEvent>,
    /// Events accepted so far: the ticket of the last one.
    appended: u64,
    /// Events settled so far (the writer passed them, written or failed).
    settled: u64,
    written: u64,
    failed: u64,
    dropped: u64,
    /// Something queued is awaited (a call event, a flush): write now, no lingering.
    urgent: bool,
    closed: bool,
}

struct Shared {
    state: Mutex<State>,
    /// Wakes the writer (events queued, closing) and blocking flushes (a batch settled).
    changed: Condvar,
    /// The last settled ticket, for calls awaiting durability.
    settled: watch::Sender<u64>,
    capacity: usize,
    path: PathBuf,
    /// How long exit may wait for this ledger (`usage.exit_flush_ms`).
    exit_bound: Duration,
    /// The process that opened it (a forked child has no writer thread for it).
    pid: u32,
}

/// Every ledger of the process: a dropped client's writer runs on until its queue is written,
/// and [`flush_at_exit`] waits for it.
static LIVE: Mutex<Vec<Weak<Shared>>> = Mutex::new(Vec::new());

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Has the writer write what is queued now (no lingering) and waits until it has settled
    /// it, or `deadline` passed (`None`: no deadline). Returns the counters at the end.
    fn flush(&self, deadline: Option<Instant>) -> LedgerStats {
        let mut st = self.lock();
        let target = st.appended;
        if st.settled < target {
            st.urgent = true;
            self.changed.notify_all();
        }
        while st.settled < target {
            let wait = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => left,
                    _ => break,
                },
                None => Duration::from_secs(3600),
            };
            st = self
                .changed
                .wait_timeout(st, wait)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
        stats_of(&st)
    }
}

/// At exit: has every ledger of this process (those of clients already dropped included) write
/// what it still has queued, waiting at most the largest `usage.exit_flush_ms` among them, or
/// until `interrupted()` says stop (checked about every 50 ms: a binding passes its signal
/// check). Returns the counters summed over the ledgers (`pending`: not written in time).
pub fn flush_at_exit(mut interrupted: impl FnMut() -> bool) -> LedgerStats {
    let pid = std::process::id();
    let live: Vec<Arc<Shared>> = {
        let mut live = LIVE.lock().unwrap_or_else(|p| p.into_inner());
        live.retain(|w| w.strong_count() > 0);
        live.iter()
            .filter_map(Weak::upgrade)
            .filter(|s| s.pid == pid)
            .collect()
    };
    let bound = live.iter().map(|s| s.exit_bound).max().unwrap_or_default();
    let deadline = Instant::now() + bound;
    let mut total = LedgerStats::default();
    for s in &live {
        let mut st = s.flush(Some(Instant::now()));
        while st.pending > 0 && Instant::now() < deadline && !interrupted() {
            st = s.flush(Some(
                deadline.min(Instant::now() + Duration::from_millis(50)),
            ));
        }
        total.written = total.written.saturating_add(st.written);
        total.failed = total.failed.saturating_add(st.failed);
        total.dropped = total.dropped.saturating_add(st.dropped);
        total.pending = total.pending.saturating_add(st.pending);
    }
    total
}

/// An open ledger: the queue in front of its writer thread. Dropping it lets the writer write
/// what is queued, then stop.
pub(crate) struct Ledger {
    shared: Arc<Shared>,
    /// Dropped with the ledger: the checkpoint thread then stops.
    _checkpoints: Option<mpsc::Sender<()>>,
}

impl Ledger {
    /// Opens (creating it if needed) the database at `location` and starts its writer thread.
    /// An error names the config key.
    pub(crate) fn open(
        location: &LedgerLocation,
        capacity: usize,
        exit_bound: Duration,
    ) -> Result<Ledger> {
        let path = location.path();
        let mut conn = store::open_for_writing(path).map_err(|e| {
            Error::config(format!(
                "config key `usage.ledger`: cannot open the ledger `{}`: {e}",
                path.display()
            ))
        })?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                queue: Vec::new(),
                appended: 0,
                settled: 0,
                written: 0,
                failed: 0,
                dropped: 0,
                urgent: false,
                closed: false,
            }),
            changed: Condvar::new(),
            settled: watch::Sender::new(0),
            capacity: capacity.max(1),
            path: path.to_path_buf(),
            exit_bound,
            pid: std::process::id(),
        });
        // Checkpoints off the writer's thread; without that thread, SQLite's automatic ones.
        let checkpoints = store::open_for_checkpoints(path)
            .ok()
            .and_then(|c| start_checkpoints(&shared, c, &mut conn));
        let worker = shared.clone();
        std::thread::Builder::new()
            .name("polyfuse-ledger".into())
            .spawn(move || write_loop(&worker, conn))
            .map_err(|e| {
                Error::config(format!(
                    "config key `usage.ledger`: cannot start the ledger's writer thread: {e}"
                ))
            })?;
        let mut live = LIVE.lock().unwrap_or_else(|p| p.into_inner());
        live.retain(|w| w.strong_count() > 0);
        live.push(Arc::downgrade(&shared));
        drop(live);
        Ok(Ledger {
            shared,
            _checkpoints: checkpoints,
        })
    }

    /// Queues an event (a short lock, no I/O). `None` when it was dropped (a full queue).
    pub(crate) fn append(&self, event: UsageEvent) -> Option<Ticket> {
        let mut st = self.shared.lock();
        if st.closed || st.queue.len() >= self.shared.capacity {
            st.dropped = st.dropped.saturating_add(1);
            return None;
        }
        // A call event is awaited by its call: the writer goes at once. Attempt events linger.
        let urgent = event.level == Level::Call;
        st.queue.push(event);
        st.appended += 1;
        let ticket = Ticket(st.appended);
        if urgent {
            st.urgent = true;
            drop(st);
            self.shared.changed.notify_all();
        }
        Some(ticket)
    }

    /// Resolves once the event of `ticket`, and every event queued before it, is settled:
    /// committed (or its write failed, which was counted and reported). Never blocks a thread.
    pub(crate) async fn durable(&self, ticket: Ticket) {
        let mut settled = self.shared.settled.subscribe();
        // The sender lives as long as `self`: this cannot end early.
        let _ = settled.wait_for(|s| *s >= ticket.0).await;
    }

    /// Blocks until every event queued before this call is settled, or `bound` passed (`None`:
    /// no bound). Returns the counters at the end.
    pub(crate) fn flush(&self, bound: Option<Duration>) -> LedgerStats {
        self.shared.flush(bound.map(|b| Instant::now() + b))
    }

    /// The counters now.
    pub(crate) fn stats(&self) -> LedgerStats {
        stats_of(&self.shared.lock())
    }
}

impl Drop for Ledger {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.changed.notify_all();
    }
}

fn stats_of(st: &State) -> LedgerStats {
    LedgerStats {
        written: st.written,
        failed: st.failed,
        dropped: st.dropped,
        pending: st.appended - st.settled,
    }
}

/// Starts the checkpoint thread on `conn` and turns off the writer's automatic checkpoints.
/// Returns the sender whose drop stops it (`None`: not started, automatic checkpoints stay).
fn start_checkpoints(
    shared: &Arc<Shared>,
    conn: Connection,
    writer: &mut Connection,
) -> Option<mpsc::Sender<()>> {
    let (stop, stopped) = mpsc::channel::<()>();
    let shared = shared.clone();
    std::thread::Builder::new()
        .name("polyfuse-ledger-checkpoint".into())
        .spawn(move || {
            let mut checkpointed = 0;
            // Ends when the ledger is dropped (the sender with it).
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECKPOINT_EVERY)
            {
                let written = shared.lock().written;
                if written != checkpointed && store::checkpoint(&conn).is_ok() {
                    checkpointed = written;
                }
            }
        })
        .ok()?;
    store::manual_checkpoints(writer).ok()?;
    Some(stop)
}

/// The writer thread: takes everything queued, writes it in one transaction, publishes the
/// settled ticket; until closed and drained.
fn write_loop(shared: &Shared, mut conn: Connection) {
    let mut reported = false;
    let mut batch = Vec::new();
    loop {
        let last = {
            let mut st = shared.lock();
            let mut linger_until = None;
            loop {
                if st.queue.is_empty() {
                    if st.closed {
                        return;
                    }
                    // Nothing queued is awaited (a flush that found it all being written).
                    st.urgent = false;
                    linger_until = None;
                    st = shared.changed.wait(st).unwrap_or_else(|p| p.into_inner());
                    continue;
                }
                if st.urgent || st.closed {
                    break;
                }
                // Attempt events only: wait for their call's event, within the linger time.
                let until = *linger_until.get_or_insert_with(|| Instant::now() + LINGER);
                match until.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => {
                        st = shared
                            .changed
                            .wait_timeout(st, left)
                            .map(|(g, _)| g)
                            .unwrap_or_else(|p| p.into_inner().0);
                    }
                    _ => break,
                }
            }
            st.urgent = false;
            std::mem::swap(&mut batch, &mut st.queue);
            st.appended
        };
        let result = store::insert(&mut conn, &batch);
        let n = batch.len() as u64;
        batch.clear();
        let mut st = shared.lock();
        match result {
            Ok(()) => st.written = st.written.saturating_add(n),
            Err(e) => {
                st.failed = st.failed.saturating_add(n);
                if !reported {
                    reported = true;
                    eprintln!(
                        "polyfuse: could not write {n} usage event(s) to the ledger `{}`: {e}; \
                         calls go on, and later failures are only counted (ledger stats: failed)",
                        shared.path.display()
                    );
                }
            }
        }
        st.settled = last;
        drop(st);
        shared.changed.notify_all();
        shared.settled.send_replace(last);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        let p = |s: &str| LedgerLocation::parse(s).map(|l| l.path().to_path_buf());
        assert_eq!(p("usage.db").unwrap(), PathBuf::from("usage.db"));
        assert_eq!(
            p("sqlite:///var/lib/app/usage.db").unwrap(),
            PathBuf::from("/var/lib/app/usage.db")
        );
        assert_eq!(p("sqlite://rel/u.db").unwrap(), PathBuf::from("rel/u.db"));
        assert_eq!(p("sqlite:u.db").unwrap(), PathBuf::from("u.db"));
        assert!(p("postgres://h/db").unwrap_err().contains("postgres://"));
        assert!(p("").unwrap_err().contains("expected a file path"));
        assert!(p("sqlite://").is_err());
        assert!(p(":memory:").unwrap_err().contains("in-memory"));
    }

    fn event(id: &str) -> UsageEvent {
        UsageEvent {
            request_id: id.into(),
            parent_id: None,
            level: Level::Call,
            started_at_ms: 0,
            route: None,
            model: "mock/echo".into(),
            provider: "mock".into(),
            outcome: crate::Outcome::Ok,
            error_kind: None,
            error_message: None,
            streamed: false,
            usage: crate::usage::Usage::none(),
            latency_ms: 1.0,
            ttft_ms: None,
            attempt: None,
            hedge: false,
            fallback: false,
            attempts: Vec::new(),
            tags: Default::default(),
            metadata: Default::default(),
        }
    }

    /// Polls `done` until it holds, for at most 10 s.
    fn wait_for(what: &str, done: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn a_flush_during_a_slow_write_leaves_the_writer_awake_for_the_next_call() {
        let dir = std::env::temp_dir().join(format!("polyfuse-ledger-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let location = LedgerLocation::parse(&dir.join("u.db").display().to_string()).unwrap();
        let ledger = Ledger::open(&location, 100, Duration::ZERO).unwrap();
        // Another writer holds the lock: the write of the first event blocks (BUSY_TIMEOUT).
        let other = Connection::open(location.path()).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        ledger.append(event("pf-1")).unwrap();
        wait_for("the writer to take the event", || {
            ledger.shared.lock().queue.is_empty()
        });
        // A flush while it writes, with nothing left in the queue.
        ledger.flush(Some(Duration::ZERO));
        wait_for("the write to fail", || ledger.stats().failed == 1);
        other.execute_batch("COMMIT").unwrap();
        // The next call's event is written at once and its call is not left waiting.
        let ticket = ledger.append(event("pf-2")).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(5), ledger.durable(ticket))
                .await
                .expect("the call was left waiting for its event");
        });
        assert_eq!(ledger.stats().written, 1);
        drop(ledger);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
