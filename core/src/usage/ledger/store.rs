//! The ledger's SQLite side: opening a file for writing (WAL, `synchronous = NORMAL`, the busy
//! timeout, the schema in `schema.sql`) or reading (read-only, an existing ledger only), checking
//! the schema version, and writing a batch of events in one transaction.
use std::path::Path;
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags, TransactionBehavior};
use serde::Serialize;
use serde_json::Value;

use crate::types::error::{Error, Result};
use crate::usage::UsageEvent;

/// The schema, run at every open (idempotent).
const SCHEMA: &str = include_str!("schema.sql");
/// The schema version this polyfuse writes (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 1;
/// How long a write waits for another writer (another client or process on the same file)
/// before its batch fails.
pub const BUSY_TIMEOUT: Duration = Duration::from_millis(1000);
const INSERT: &str = "INSERT INTO events (request_id, parent_id, level, started_at_ms, model, \
    provider, route, outcome, error_kind, streamed, attempt, hedge, fallback, input_tokens, \
    output_tokens, cached_input_tokens, cache_write_tokens, cache_write_1h_tokens, \
    reasoning_tokens, total_tokens, cost_usd, usage_source, latency_ms, ttft_ms, tags, event) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, \
    ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26)";

/// Opens the database read-write: WAL, `synchronous = NORMAL`, the busy timeout, the schema.
pub(super) fn open_for_writing(path: &Path) -> std::result::Result<Connection, String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create its directory `{}`: {e}", dir.display()))?;
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| e.to_string())?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| e.to_string())?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(|e| e.to_string())?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(format!(
            "SQLite could not switch it to WAL mode (the journal mode is `{mode}`)"
        ));
    }
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(|e| e.to_string())?;
    check_version(&conn)?;
    conn.execute_batch(SCHEMA).map_err(|e| e.to_string())?;
    Ok(conn)
}

/// A second connection to a ledger just opened for writing, for the checkpoint thread.
pub(super) fn open_for_checkpoints(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

/// Copies what it can of the WAL into the database without blocking the writer or readers.
pub(super) fn checkpoint(conn: &Connection) -> rusqlite::Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
}

/// Turns off SQLite's automatic checkpoints on this connection (another one does them).
pub(super) fn manual_checkpoints(conn: &mut Connection) -> rusqlite::Result<()> {
    conn.query_row("PRAGMA wal_autocheckpoint = 0", [], |_| Ok(()))
}

/// Opens an existing ledger for reading (it is never created or changed).
pub(crate) fn open_for_reading(path: &Path) -> Result<Connection> {
    let fail = |e: String| Error::invalid_request(format!("ledger `{}`: {e}", path.display()));
    if !path.is_file() {
        return Err(fail("no such file".into()));
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| fail(e.to_string()))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| fail(e.to_string()))?;
    let version = check_version(&conn).map_err(fail)?;
    if version == 0 {
        return Err(fail(
            "not a polyfuse ledger (no schema version; was it written by a client with `usage.ledger`?)"
                .into(),
        ));
    }
    Ok(conn)
}

/// The file's schema version: 0 for a new file; an error for another program's database or a
/// newer polyfuse's.
fn check_version(conn: &Connection) -> std::result::Result<i64, String> {
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| e.to_string())?;
    if version > SCHEMA_VERSION {
        return Err(format!(
            "written by a newer polyfuse (schema version {version}; this one knows {SCHEMA_VERSION})"
        ));
    }
    if version == 0 {
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
                [],
                |r| r.get(0),
            )
            .map_err(|e| e.to_string())?;
        if tables > 0 {
            return Err(
                "it is another program's database (it has tables but no polyfuse schema version)"
                    .into(),
            );
        }
    }
    Ok(version)
}

/// Writes a batch in one transaction.
pub(super) fn insert(conn: &mut Connection, batch: &[UsageEvent]) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    {
        let mut stmt = tx.prepare_cached(INSERT)?;
        for ev in batch {
            let u = &ev.usage;
            stmt.execute(params![
                ev.request_id,
                ev.parent_id,
                name(&ev.level),
                int(ev.started_at_ms),
                ev.model,
                ev.provider,
                ev.route,
                name(&ev.outcome),
                ev.error_kind.map(|k| k.as_str()),
                ev.streamed,
                ev.attempt,
                ev.hedge,
                ev.fallback,
                int(u.input_tokens),
                int(u.output_tokens),
                int(u.cached_input_tokens),
                int(u.cache_write_tokens),
                int(u.cache_write_1h_tokens),
                int(u.reasoning_tokens),
                int(u.total_tokens()),
                u.cost_usd,
                name(&u.source),
                ev.latency_ms,
                ev.ttft_ms,
                json_text(&ev.tags)?,
                json_text(ev)?,
            ])?;
        }
    }
    tx.commit()
}

fn json_text<T: Serialize>(v: &T) -> rusqlite::Result<String> {
    serde_json::to_string(v).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

pub(super) fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The snake_case name of a unit enum, as serde writes it.
pub(super) fn name<T: Serialize>(v: &T) -> Option<String> {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => Some(s),
        _ => None,
    }
}
