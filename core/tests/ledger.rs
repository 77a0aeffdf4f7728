//! The usage ledger over real sockets (the mock server): a call returns only once its attempt
//! and call events are committed, with every field (the ledger's event equals the callback's);
//! the columns and WAL mode; the query filters; a write failure (a failing insert, a database
//! locked by another writer) never fails a call; bad locations and files give clear errors;
//! the report is one self-contained HTML file whose charts have data.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use polyfuse_core::{
    query_ledger, write_report, Client, Config, ErrorKind, LedgerFilter, Level, Outcome, Request,
    StreamEvent, UsageEvent,
};
use serde_json::{json, Value};

/// A fresh directory for one test's ledger (removed by `Dir`'s drop).
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let dir =
            std::env::temp_dir().join(format!("polyfuse-ledger-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }

    fn db(&self) -> PathBuf {
        self.0.join("usage.db")
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn config(server: &polyfuse_mock_server::MockServer, ledger: &str) -> Config {
    Config::from_value(json!({
        "env_providers": false,
        "providers": {"p": {"format": "openai", "base_url": server.base_url(), "api_key": "sk-test"}},
        "policy": {"max_attempts_per_target": 2, "backoff_initial_ms": 1, "backoff_max_ms": 2, "breaker": {"enabled": false}},
        "routes": {
            "chat": {"targets": ["p/primary;status=500", "p/backup;words=4"]},
            "hedged": {"targets": ["p/slow;latency_ms=3000", "p/quick;words=2"], "hedge": {"delay_ms": 50}},
        },
        "pricing": {"models": {
            "p/m": {"input": 1.0, "output": 2.0},
            "p/backup": {"input": 3.0, "output": 6.0},
            "p/quick": {"input": 0.5, "output": 1.0},
        }},
        "usage": {"ledger": ledger},
    }))
    .unwrap()
}

/// A client with the ledger at `db` and a callback that keeps every event.
fn client(
    server: &polyfuse_mock_server::MockServer,
    db: &Path,
) -> (Client, Arc<Mutex<Vec<UsageEvent>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let c = Client::new(
        config(server, &format!("sqlite://{}", db.display())),
        vec![Arc::new(move |b: &[Arc<UsageEvent>]| {
            sink.lock()
                .unwrap()
                .extend(b.iter().map(|e| e.as_ref().clone()))
        })],
    )
    .unwrap();
    (c, seen)
}

fn req(model: &str, params: Value) -> Request {
    Request::from_values(model, json!("hello there"), params).unwrap()
}

fn all(db: &Path) -> Vec<UsageEvent> {
    query_ledger(db, &LedgerFilter::default()).unwrap()
}

/// The events of the call `id` (its attempts and itself) now in the ledger.
fn of_call(db: &Path, id: &str) -> Vec<UsageEvent> {
    all(db)
        .into_iter()
        .filter(|e| e.request_id == id || e.parent_id.as_deref() == Some(id))
        .collect()
}

#[tokio::test]
async fn a_call_returns_once_its_events_are_committed_with_every_field() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let dir = Dir::new("fields");
    let (c, seen) = client(&server, &dir.db());
    let params = json!({"tags": {"team": "search", "tier": 2}, "metadata": {"user": "u-1"}});

    // Each call's events are in the file the moment it returns: no flush.
    let r = c
        .complete(req("p/m;words=3", params.clone()))
        .await
        .unwrap();
    let events = of_call(&dir.db(), &r.id);
    assert_eq!(events.len(), 2, "{events:#?}");
    assert_eq!(events[0].level, Level::Attempt);
    assert_eq!(events[1].level, Level::Call);

    let e = c
        .complete(req("p/m;status=400", Value::Null))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidRequest);
    let failed: Vec<UsageEvent> = all(&dir.db())
        .into_iter()
        .filter(|e| e.model == "p/m;status=400")
        .collect();
    assert_eq!(
        failed.len(),
        2,
        "a failed call's events are there when it fails"
    );
    assert_eq!(failed[1].error_kind, Some(ErrorKind::InvalidRequest));

    // A retry on the same target: two attempts, then the call.
    let r = c
        .complete(req("p/m;status=503;fail_times=1;key=retry1", Value::Null))
        .await
        .unwrap();
    let events = of_call(&dir.db(), &r.id);
    assert_eq!(events.len(), 3);
    assert_eq!(events[1].attempt, Some(2));

    // A fallback through a route, and a hedge.
    let r = c.complete(req("chat", Value::Null)).await.unwrap();
    let events = of_call(&dir.db(), &r.id);
    assert_eq!(
        events.len(),
        4,
        "two attempts on the primary, one on the backup, the call"
    );
    assert!(events[2].fallback && events[3].fallback);
    let r = c.complete(req("hedged", Value::Null)).await.unwrap();
    let events = of_call(&dir.db(), &r.id);
    assert!(events.iter().any(|e| e.hedge), "{events:#?}");
    assert_eq!(events.last().unwrap().route.as_deref(), Some("hedged"));

    // A stream: its events are in before `Final` is handed out.
    let mut s = c.stream(req("p/m;words=5", params.clone()));
    let mut final_id = None;
    while let Some(ev) = s.next().await {
        if let StreamEvent::Final { response } = ev.unwrap() {
            final_id = Some(response.id.clone());
            assert_eq!(of_call(&dir.db(), &response.id).len(), 2);
        }
    }
    assert!(final_id.is_some());

    // Every field: the ledger holds exactly the events the callback got, in the same order.
    c.flush_usage(None);
    let got = all(&dir.db());
    let want = seen.lock().unwrap().clone();
    assert_eq!(got.len(), want.len());
    assert_eq!(got, want);
    let first = &got[1];
    assert_eq!(first.tags["team"], "search");
    assert_eq!(first.metadata["user"], "u-1");
    assert!(first.usage.cost_usd.is_some() && first.ttft_ms.is_some());
    assert_eq!(c.ledger_stats().written, got.len() as u64);
    assert_eq!(c.ledger_stats().failed, 0);

    // The columns copy the event; the file is in WAL mode.
    let db = rusqlite::Connection::open(dir.db()).unwrap();
    let mode: String = db
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let (level, model, outcome, input, output, cost, ttft, tags): (
        String,
        String,
        String,
        i64,
        i64,
        Option<f64>,
        Option<f64>,
        String,
    ) = db
        .query_row(
            "SELECT level, model, outcome, input_tokens, output_tokens, cost_usd, ttft_ms, tags \
             FROM events WHERE request_id = ?1",
            [&first.request_id],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                ))
            },
        )
        .unwrap();
    assert_eq!(
        (level.as_str(), model.as_str(), outcome.as_str()),
        ("call", "p/m;words=3", "ok")
    );
    assert_eq!(input as u64, first.usage.input_tokens);
    assert_eq!(output as u64, first.usage.output_tokens);
    assert_eq!(cost, first.usage.cost_usd);
    assert_eq!(ttft, first.ttft_ms);
    assert_eq!(
        serde_json::from_str::<Value>(&tags).unwrap(),
        json!({"team": "search", "tier": 2})
    );
}

#[tokio::test]
async fn a_cancelled_call_is_written_by_the_next_flush() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let dir = Dir::new("cancel");
    let (c, _) = client(&server, &dir.db());
    let call = c.complete(req("p/m;hang=1", Value::Null));
    // Dropped once the server has the request: cancelled.
    tokio::select! {
        _ = call => panic!("a hanging call answered"),
        _ = async {
            while server.stats().requests == 0 {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        } => {}
    }
    let stats = c.close(Some(std::time::Duration::from_secs(10)));
    assert_eq!(stats.pending, 0);
    let events = all(&dir.db());
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| e.outcome == Outcome::Cancelled));
}

#[tokio::test]
async fn the_query_filters_by_time_model_route_level_tags_and_limit() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let dir = Dir::new("query");
    let (c, _) = client(&server, &dir.db());
    for (i, (model, team)) in [("p/a", "x"), ("p/b", "y"), ("p/a", "y"), ("chat", "x")]
        .iter()
        .enumerate()
    {
        let params = json!({"tags": {"team": team, "n": i, "even": i % 2 == 0, "f": 0.5}});
        c.complete(req(model, params)).await.unwrap();
        // Distinct start times, for the time range.
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    let everything = all(&dir.db());
    let q = |f: Value| query_ledger(dir.db(), &LedgerFilter::from_value(f).unwrap()).unwrap();
    let ids = |v: &[UsageEvent]| v.iter().map(|e| e.request_id.clone()).collect::<Vec<_>>();
    let calls: Vec<UsageEvent> = everything
        .iter()
        .filter(|e| e.level == Level::Call)
        .cloned()
        .collect();
    assert_eq!(calls.len(), 4);

    assert_eq!(ids(&q(json!({"level": "call"}))), ids(&calls));
    assert_eq!(q(json!({"level": "attempt"})).len(), everything.len() - 4);
    let a = q(json!({"model": "p/a"}));
    assert_eq!(a.len(), 4, "two calls on p/a, each with one attempt");
    assert!(a.iter().all(|e| e.model == "p/a"));
    assert!(q(json!({"route": "chat"}))
        .iter()
        .all(|e| e.route.as_deref() == Some("chat")));
    assert_eq!(q(json!({"route": "chat", "level": "attempt"})).len(), 3);

    // Tags: strings, integers, booleans, floats; all given must match.
    let x = q(json!({"level": "call", "tags": {"team": "x"}}));
    assert_eq!(
        ids(&x),
        vec![calls[0].request_id.clone(), calls[3].request_id.clone()]
    );
    assert_eq!(
        ids(&q(json!({"level": "call", "tags": {"n": 2}}))),
        vec![calls[2].request_id.clone()]
    );
    assert!(
        q(json!({"tags": {"n": "2"}})).is_empty(),
        "JSON equality: \"2\" is not 2"
    );
    assert_eq!(q(json!({"level": "call", "tags": {"even": true}})).len(), 2);
    assert_eq!(
        q(json!({"level": "call", "tags": {"team": "y", "even": true}})).len(),
        1
    );
    assert_eq!(q(json!({"level": "call", "tags": {"f": 0.5}})).len(), 4);
    assert!(q(json!({"tags": {"missing": "x"}})).is_empty());

    // Time range: [since, until) on started_at_ms.
    let t1 = calls[1].started_at_ms;
    let t3 = calls[3].started_at_ms;
    let window = q(json!({"level": "call", "since_ms": t1, "until_ms": t3}));
    assert_eq!(ids(&window), ids(&calls[1..3]));
    assert_eq!(q(json!({"level": "call", "since_ms": t3})).len(), 1);

    // Limit: the first N in the order written.
    assert_eq!(ids(&q(json!({"limit": 3}))), ids(&everything[..3]));

    // Bad filters and files name what was wrong.
    let e = LedgerFilter::from_value(json!({"modle": "p/a"})).unwrap_err();
    assert!(e.message.contains("modle"), "{}", e.message);
    let e = query_ledger(dir.0.join("nope.db"), &LedgerFilter::default()).unwrap_err();
    assert!(
        e.message.contains("nope.db") && e.message.contains("no such file"),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn a_failing_write_never_fails_a_call_and_is_counted() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let dir = Dir::new("failing");
    let (c, _) = client(&server, &dir.db());
    c.complete(req("p/m", Value::Null)).await.unwrap();
    // Every insert now fails, as on a full disk.
    let other = rusqlite::Connection::open(dir.db()).unwrap();
    other
        .execute_batch(
            "CREATE TRIGGER refuse BEFORE INSERT ON events BEGIN \
             SELECT RAISE(ABORT, 'database or disk is full (simulated)'); END;",
        )
        .unwrap();
    for _ in 0..3 {
        let r = c.complete(req("p/m;words=2", Value::Null)).await.unwrap();
        assert_eq!(r.text, "w1 w2");
    }
    let e = c
        .complete(req("p/m;status=500", Value::Null))
        .await
        .unwrap_err();
    assert_eq!(
        e.kind,
        ErrorKind::Server,
        "the call's own error, not the ledger's"
    );
    let stats = c.ledger_stats();
    assert_eq!(
        (stats.written, stats.failed, stats.pending),
        (2, 9, 0),
        "{stats:?}"
    );
    // The writer goes on once the disk has room again.
    other.execute_batch("DROP TRIGGER refuse").unwrap();
    let r = c.complete(req("p/m", Value::Null)).await.unwrap();
    assert_eq!(of_call(&dir.db(), &r.id).len(), 2);
    assert_eq!(c.ledger_stats().written, 4);
}

#[tokio::test]
async fn a_database_locked_by_another_writer_delays_calls_but_never_fails_them() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let dir = Dir::new("locked");
    let (c, _) = client(&server, &dir.db());
    c.complete(req("p/m", Value::Null)).await.unwrap();
    let other = rusqlite::Connection::open(dir.db()).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let calls = (0..4).map(|_| c.complete(req("p/m", Value::Null)));
    for r in futures_util::future::join_all(calls).await {
        r.unwrap();
    }
    assert!(c.ledger_stats().failed >= 8, "{:?}", c.ledger_stats());
    other.execute_batch("COMMIT").unwrap();
    let r = c.complete(req("p/m", Value::Null)).await.unwrap();
    assert_eq!(of_call(&dir.db(), &r.id).len(), 2);
}

#[test]
fn bad_locations_and_foreign_files_are_config_errors_naming_the_key() {
    let cfg = |ledger: Value| {
        Config::from_value(json!({"env_providers": false, "usage": {"ledger": ledger}}))
    };
    let e = cfg(json!("postgres://db/usage")).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Config);
    assert!(
        e.message.contains("usage.ledger") && e.message.contains("postgres://"),
        "{}",
        e.message
    );
    let e = cfg(json!(3)).unwrap_err();
    assert!(e.message.contains("usage.ledger"), "{}", e.message);

    let dir = Dir::new("foreign");
    let foreign = dir.0.join("other.db");
    rusqlite::Connection::open(&foreign)
        .unwrap()
        .execute_batch("CREATE TABLE things (x)")
        .unwrap();
    let e = Client::new(cfg(json!(foreign.display().to_string())).unwrap(), vec![]).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Config);
    assert!(
        e.message.contains("usage.ledger") && e.message.contains("another program"),
        "{}",
        e.message
    );
    let e = query_ledger(&foreign, &LedgerFilter::default()).unwrap_err();
    assert!(e.message.contains("another program"), "{}", e.message);

    // A missing directory is created.
    let nested = dir.0.join("a/b/usage.db");
    Client::new(cfg(json!(nested.display().to_string())).unwrap(), vec![]).unwrap();
    assert!(nested.is_file());
}

#[tokio::test]
async fn the_report_is_one_self_contained_html_file_whose_charts_have_data() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let dir = Dir::new("report");
    let (c, _) = client(&server, &dir.db());
    let mut calls = Vec::new();
    for i in 0..30 {
        let team = ["search", "ads", "<b>x</b>"][i % 3];
        let params = json!({"tags": {"team": team}});
        let model = match i % 5 {
            0 => "chat".to_string(),
            1 => format!("p/m;status=503;fail_times=1;key=r{i}"),
            2 => "p/m;status=429".to_string(),
            3 => "hedged".to_string(),
            _ => "p/m;words=8;ttft_ms=5".to_string(),
        };
        calls.push(c.complete(req(&model, params)));
    }
    let results = futures_util::future::join_all(calls).await;
    assert!(results.iter().any(|r| r.is_err()) && results.iter().any(|r| r.is_ok()));

    let out = dir.0.join("report.html");
    let summary = write_report(dir.db(), &out, &LedgerFilter::default()).unwrap();
    assert_eq!(summary.calls, 30);
    let html = std::fs::read_to_string(&out).unwrap();
    for banned in [
        "<script", "src=", "href=", "url(", "@import", "<link", "<iframe",
    ] {
        assert!(
            !html.contains(banned),
            "the report must load nothing: found {banned}"
        );
    }
    assert!(!html.contains("<b>x</b>"), "tags are escaped");
    assert!(html.contains("team=&lt;b&gt;x&lt;/b&gt;"));
    let marks: BTreeMap<String, Vec<u64>> =
        html.split("<figure class=\"chart")
            .skip(1)
            .fold(BTreeMap::new(), |mut m, fig| {
                let attr = |name: &str| {
                    let start = fig.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
                    fig[start..start + fig[start..].find('"').unwrap()].to_string()
                };
                m.entry(attr("data-chart"))
                    .or_default()
                    .push(attr("data-marks").parse().unwrap());
                m
            });
    for chart in [
        "latency",
        "ttft",
        "cost-model",
        "cost-route",
        "cost-tag",
        "calls",
        "errors",
        "retries",
        "attempts-per-call",
    ] {
        let m = marks
            .get(chart)
            .unwrap_or_else(|| panic!("no {chart} chart in {marks:?}"));
        assert!(m.iter().any(|n| *n > 0), "{chart} has no data: {marks:?}");
    }
    assert_eq!(
        summary.charts,
        marks.values().flatten().filter(|n| **n > 0).count()
    );
    // Models are named without mock options.
    assert!(!html.contains("status=500"));
    for model in ["p/m", "p/backup", "p/quick", "rate_limited", "server"] {
        assert!(html.contains(model), "{model} named in the report");
    }
    // A filter narrows the report; an empty ledger still gives a page.
    let s = write_report(
        dir.db(),
        &out,
        &LedgerFilter::from_value(json!({"route": "chat"})).unwrap(),
    )
    .unwrap();
    assert_eq!(s.calls, 6);
    let s = write_report(
        dir.db(),
        &out,
        &LedgerFilter::from_value(json!({"model": "none"})).unwrap(),
    )
    .unwrap();
    assert_eq!((s.calls, s.attempts, s.charts), (0, 0, 0));
    assert!(std::fs::read_to_string(&out).unwrap().contains("no events"));
}

#[tokio::test]
async fn the_wal_is_checkpointed_into_the_database_off_the_writer_thread() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let dir = Dir::new("checkpoint");
    let (c, _) = client(&server, &dir.db());
    let size = || std::fs::metadata(dir.db()).map(|m| m.len()).unwrap_or(0);
    let before = size();
    for _ in 0..40 {
        c.complete(req("p/m;words=30", Value::Null)).await.unwrap();
    }
    // The writer does no checkpoints of its own: the file grows only when the checkpoint
    // thread copies the WAL into it (within a few of its periods).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while size() <= before + 16 * 1024 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(size() > before + 16 * 1024, "{before} -> {}", size());
    assert_eq!(all(&dir.db()).len(), 80);
}

#[tokio::test]
async fn at_exit_what_a_dropped_client_had_queued_is_written() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let dir = Dir::new("exit");
    let (c, _) = client(&server, &dir.db());
    let call = c.complete(req("p/m;hang=1", Value::Null));
    tokio::select! {
        _ = call => panic!("a hanging call answered"),
        _ = async {
            while server.stats().requests == 0 {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        } => {}
    }
    // The cancelled call's events are queued; the client is gone; the process "exits".
    drop(c);
    let stats = polyfuse_core::usage::ledger::flush_at_exit(|| false);
    assert_eq!(stats.pending, 0, "{stats:?}");
    assert!(stats.exit_report().is_none());
    let events = all(&dir.db());
    assert_eq!(events.len(), 2, "{events:#?}");
    assert!(events.iter().all(|e| e.outcome == Outcome::Cancelled));
}
