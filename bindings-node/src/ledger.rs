//! The usage ledger from JS: `queryLedger(path, filter)` (its events, as `UsageEvent`s),
//! `writeReport(path, out, filter)` (the HTML usage report), `client.ledgerStats()`, and the
//! exit hook that writes what the ledgers still have queued when the process exits. The
//! filter's keys are the core's in camelCase (`sinceMs`, `untilMs`, `model`, `route`, `level`,
//! `tags`, `limit`); both functions run the core's on a blocking thread and return a Promise. No
//! logic: the query, the report and the checks of the filter are the core's.
use std::path::PathBuf;

use napi::bindgen_prelude::*;
use napi_derive::napi;
use serde_json::{Map, Value};

use polyfuse_core as core;

use crate::client::Client;
use crate::convert::{usage_event_to_js, UsageEvent};
use crate::error;

/// Installed at module load: on `process.on('exit')` (every exit, `process.exit()` included;
/// synchronous by nature) the ledgers write what they still have queued (events of calls that
/// had not completed, e.g. abandoned streams), for at most the largest `usage.exit_flush_ms`;
/// what could not be written is reported on stderr.
const EXIT_JS: &str = r#"(function (exports) {
  process.on('exit', () => {
    const report = exports._flushLedgersAtExit();
    if (report) process.stderr.write(report + '\n');
  });
})"#;

pub(crate) fn install(env: &Env, exports: Object) -> Result<()> {
    let hook: Function<Object, ()> = env.run_script(EXIT_JS)?;
    hook.call(exports)
}

/// At exit: every ledger of the process writes what it has queued (within the exit bound).
/// Returns the core's report of what was not written, if anything.
// Internal: called by the exit hook from JS (registered by #[napi]).
#[allow(dead_code)]
#[napi(js_name = "_flushLedgersAtExit")]
pub fn flush_ledgers_at_exit() -> Option<String> {
    core::usage::ledger::flush_at_exit(|| false).exit_report()
}

/// The filter's keys: JS name → the core's.
const FILTER_KEYS: &[(&str, &str)] = &[
    ("sinceMs", "since_ms"),
    ("untilMs", "until_ms"),
    ("model", "model"),
    ("route", "route"),
    ("level", "level"),
    ("tags", "tags"),
    ("limit", "limit"),
];

/// What `writeReport` wrote.
#[napi(object)]
pub struct ReportSummary {
    /// The HTML file written.
    pub path: String,
    /// Calls in the report.
    pub calls: f64,
    /// Their attempts.
    pub attempts: f64,
    /// Charts in the page that have data.
    pub charts: u32,
}

/// The ledger's counters, as `client.ledgerStats()` reports them (all 0 with the ledger off).
#[napi(object)]
pub struct LedgerStats {
    /// Events committed to the database.
    pub written: f64,
    /// Events whose write failed (reported on stderr the first time).
    pub failed: f64,
    /// Events dropped because the queue was full.
    pub dropped: f64,
    /// Queued, not yet written (or failed).
    pub pending: f64,
}

#[napi]
impl Client {
    /// The usage ledger's counters (`written`, `failed`, `dropped`, `pending`); zeros with the
    /// ledger off.
    #[napi]
    pub fn ledger_stats(&self) -> LedgerStats {
        let s = self.inner.ledger_stats();
        LedgerStats {
            written: s.written as f64,
            failed: s.failed as f64,
            dropped: s.dropped as f64,
            pending: s.pending as f64,
        }
    }
}

/// The core's filter from `undefined` / `null` or `{ sinceMs, untilMs, model, route, level,
/// tags, limit }`; an error names the key, in its JS spelling.
fn filter(
    env: &Env,
    value: Option<Unknown>,
) -> std::result::Result<core::LedgerFilter, core::Error> {
    let value = match value {
        None => return Ok(core::LedgerFilter::default()),
        Some(v) => crate::json::to_value(env, v, "argument `filter`")
            .map_err(core::Error::invalid_request)?,
    };
    let given = match value {
        Value::Null => return Ok(core::LedgerFilter::default()),
        Value::Object(map) => map,
        other => {
            return Err(core::Error::invalid_request(format!(
                "argument `filter`: expected an object {{ sinceMs, untilMs, model, route, level, tags, limit }}, got {}",
                json_type(&other)
            )))
        }
    };
    let mut renamed = Map::new();
    for (key, v) in given {
        let Some((_, core_key)) = FILTER_KEYS.iter().find(|(js, _)| *js == key) else {
            let known: Vec<String> = FILTER_KEYS
                .iter()
                .map(|(js, _)| format!("`{js}`"))
                .collect();
            return Err(core::Error::invalid_request(format!(
                "argument `filter`: unknown key `{key}` (the keys are {})",
                known.join(", ")
            )));
        };
        // `null` means absent, as `undefined` does.
        if !v.is_null() {
            renamed.insert((*core_key).to_string(), v);
        }
    }
    core::LedgerFilter::from_value(Value::Object(renamed)).map_err(|e| {
        // The core names its keys in snake_case; say them as they were written.
        let mut message = e.to_string();
        for (js, core_key) in FILTER_KEYS {
            message = message.replace(&format!("`{core_key}`"), &format!("`{js}`"));
        }
        core::Error::invalid_request(message)
    })
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Runs `work` on a blocking thread; the Promise resolves to its result converted, or rejects
/// with its `PolyfuseError`.
fn on_blocking_thread<'env, T, R>(
    env: &'env Env,
    work: impl FnOnce() -> core::Result<T> + Send + 'static,
    to_js: fn(T) -> R,
) -> Result<PromiseRaw<'env, R>>
where
    T: Send + 'static,
    R: ToNapiValue + Send + 'static,
{
    let fut = async move {
        match tokio::task::spawn_blocking(work).await {
            Ok(r) => r.map(to_js),
            Err(_) => Err(error::panicked("the ledger")),
        }
    };
    env.spawn_future_with_callback(
        async move { Ok::<_, napi::Error>(fut.await) },
        |env, result| result.map_err(|e| error::to_js_error(env, e)),
    )
}

/// The events of the ledger at `path`, in the order they were written, that match every key of
/// `filter` given: started in `[sinceMs, untilMs)` (ms since the Unix epoch), on `model` or
/// `route` exactly, of one `level`, carrying each of `tags` with that value (JSON equality: `"2"`
/// is not `2`); at most `limit` of them. The file is opened read-only, so a running client may go
/// on writing it. Rejects with a `PolyfuseError` (kind `invalid_request`) naming what was wrong.
#[napi(
    js_name = "queryLedger",
    catch_unwind,
    ts_args_type = "path: string, filter?: LedgerFilter",
    ts_return_type = "Promise<UsageEvent[]>"
)]
pub fn query_ledger<'env>(
    env: &'env Env,
    path: Unknown,
    filter: Option<Unknown>,
) -> Result<PromiseRaw<'env, Vec<UsageEvent>>> {
    let args = self::path(env, path, "path").and_then(|p| Ok((p, self::filter(env, filter)?)));
    on_blocking_thread(
        env,
        move || {
            let (path, filter) = args?;
            core::query_ledger(&path, &filter)
        },
        |events: Vec<core::UsageEvent>| events.iter().map(usage_event_to_js).collect(),
    )
}

/// Writes the usage report of the ledger at `path` to `out` (replacing it): its calls matching
/// `filter` (as in `queryLedger`; `level` aside, since the report reads calls) in one
/// self-contained HTML file with charts. Resolves to what it wrote.
#[napi(
    js_name = "writeReport",
    catch_unwind,
    ts_args_type = "path: string, out: string, filter?: LedgerFilter",
    ts_return_type = "Promise<ReportSummary>"
)]
pub fn write_report<'env>(
    env: &'env Env,
    path: Unknown,
    out: Unknown,
    filter: Option<Unknown>,
) -> Result<PromiseRaw<'env, ReportSummary>> {
    let args = self::path(env, path, "path").and_then(|p| {
        let out = self::path(env, out, "out")?;
        Ok((p, out, self::filter(env, filter)?))
    });
    on_blocking_thread(
        env,
        move || {
            let (path, out, filter) = args?;
            core::write_report(&path, &out, &filter)
        },
        |s: core::ReportSummary| ReportSummary {
            path: s.path.display().to_string(),
            calls: s.calls as f64,
            attempts: s.attempts as f64,
            charts: u32::try_from(s.charts).unwrap_or(u32::MAX),
        },
    )
}

/// A path argument: a non-empty string.
fn path(env: &Env, value: Unknown, name: &str) -> std::result::Result<PathBuf, core::Error> {
    let ty = value
        .get_type()
        .map_err(|e| core::Error::invalid_request(format!("argument `{name}`: {}", e.reason)))?;
    if ty != ValueType::String {
        return Err(core::Error::invalid_request(format!(
            "argument `{name}`: expected a file path (a string), got {}",
            crate::options::type_name(ty)
        )));
    }
    let s = unsafe { String::from_napi_value(env.raw(), value.raw()) }
        .map_err(|e| core::Error::invalid_request(format!("argument `{name}`: {}", e.reason)))?;
    if s.is_empty() {
        return Err(core::Error::invalid_request(format!(
            "argument `{name}`: expected a file path, got an empty string"
        )));
    }
    Ok(PathBuf::from(s))
}
