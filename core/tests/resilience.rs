//! Routing and resilience over real sockets: retries honouring Retry-After, fallback chains,
//! deadlines (attempt, first token, stall, total), mid-stream failover with a restart event,
//! context-window fallback, circuit breakers and attempt accounting. Timings are asserted loosely.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use polyfuse_core::{Client, Config, ErrorKind, Outcome, Request, StreamEvent};
use serde_json::{json, Value};

async fn setup(policy: Value, routes: Value) -> (polyfuse_mock_server::MockServer, Client) {
    let server = polyfuse_mock_server::start().await.expect("mock server");
    let config = Config::from_value(json!({
        "env_providers": false,
        "providers": {"p": {"format": "openai", "base_url": server.base_url(), "api_key": "sk-test"}},
        "policy": policy,
        "routes": routes,
    }))
    .unwrap();
    (server, Client::new(config, vec![]).unwrap())
}

fn req(model: &str) -> Request {
    Request::from_values(model, json!("hello"), Value::Null).unwrap()
}

async fn stream_all(
    client: &Client,
    model: &str,
) -> (Vec<StreamEvent>, Option<polyfuse_core::Error>) {
    let mut s = client.stream(req(model));
    let mut out = Vec::new();
    while let Some(item) = s.next().await {
        match item {
            Ok(ev) => out.push(ev),
            Err(e) => return (out, Some(e)),
        }
    }
    (out, None)
}

/// Waits (bounded, ~2 s) until the server has seen `n` client disconnects; returns the count.
async fn wait_disconnects(server: &polyfuse_mock_server::MockServer, n: u64) -> u64 {
    let mut seen = 0;
    for _ in 0..100 {
        seen = server.stats().client_disconnects;
        if seen >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    seen
}

fn by_key(server: &polyfuse_mock_server::MockServer, key: &str) -> u64 {
    let stats = serde_json::to_value(server.stats()).unwrap();
    stats["by_key"][key].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn retry_after_is_honoured_then_answered() {
    let (_s, c) = setup(json!({}), json!({})).await;
    let t = Instant::now();
    let r = c
        .complete(req("p/m;status=429;retry_after=2;fail_times=1;key=ra"))
        .await
        .unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(1900),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(r.attempts.len(), 2);
    assert_eq!(r.attempts[0].error_kind, Some(ErrorKind::RateLimited));
    assert_eq!(
        r.attempts[0].usage.output_tokens, 0,
        "a failed attempt is not billed as a completion"
    );
    assert_eq!(r.attempts[1].outcome, Outcome::Ok);
}

#[tokio::test]
async fn rate_limit_without_header_backs_off_then_falls_back() {
    let routes =
        json!({"chat": {"targets": ["p/primary;status=429", "p/backup;text=from%20backup"]}});
    let (_s, c) = setup(json!({"backoff_initial_ms": 100}), routes).await;
    let t = Instant::now();
    let r = c.complete(req("chat")).await.unwrap();
    // Full jitter over [50, 100] ms between the two attempts on the primary.
    assert!(
        t.elapsed() >= Duration::from_millis(50),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(r.text, "from backup");
    assert_eq!(
        r.model, "p/backup;text=from%20backup",
        "the response names the model that answered"
    );
    assert_eq!(r.route.as_deref(), Some("chat"));
    let kinds: Vec<_> = r
        .attempts
        .iter()
        .map(|a| (a.model.split(';').next().unwrap().to_string(), a.outcome))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("p/primary".to_string(), Outcome::Error),
            ("p/primary".to_string(), Outcome::Error),
            ("p/backup".to_string(), Outcome::Ok),
        ]
    );
}

#[tokio::test]
async fn server_error_once_is_retried_on_the_same_target() {
    let (s, c) = setup(json!({"backoff_initial_ms": 50}), json!({})).await;
    let r = c
        .complete(req("p/m;status=500;fail_times=1;key=once"))
        .await
        .unwrap();
    assert_eq!(r.attempts.len(), 2);
    assert_eq!(by_key(&s, "once"), 2);
}

#[tokio::test]
async fn overloaded_always_fails_over_within_budget() {
    let routes = json!({"r": {"targets": ["p/a;status=503", "p/b"]}});
    let (_s, c) = setup(
        json!({"backoff_initial_ms": 50, "total_timeout_ms": 5000}),
        routes,
    )
    .await;
    let t = Instant::now();
    let r = c.complete(req("route/r")).await.unwrap();
    assert!(r.model.starts_with("p/b"));
    assert!(t.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn connection_reset_before_headers_is_answered() {
    let (_s, c) = setup(json!({"backoff_initial_ms": 50}), json!({})).await;
    let r = c
        .complete(req("p/m;reset=1;fail_times=1;key=rst"))
        .await
        .unwrap();
    assert_eq!(r.attempts[0].error_kind, Some(ErrorKind::Connection));
    assert_eq!(r.attempts.len(), 2);
}

#[tokio::test]
async fn silent_provider_times_out_and_the_fallback_answers() {
    let routes = json!({"r": {"targets": ["p/silent;hang=1", "p/ok"]}});
    let (s, c) = setup(
        json!({"attempt_timeout_ms": 800, "total_timeout_ms": 10000}),
        routes,
    )
    .await;
    let t = Instant::now();
    let r = c.complete(req("r")).await.unwrap();
    let took = t.elapsed();
    assert!(r.model.starts_with("p/ok"));
    assert!(
        took >= Duration::from_millis(750) && took < Duration::from_secs(4),
        "{took:?}"
    );
    // A silent target is not retried on the same target by default.
    assert_eq!(r.attempts.len(), 2);
    assert_eq!(r.attempts[0].error_kind, Some(ErrorKind::Timeout));
    assert!(
        wait_disconnects(&s, 1).await >= 1,
        "the silent attempt's connection was closed"
    );
}

#[tokio::test]
async fn slow_first_token_moves_on_after_the_ttft_limit() {
    let routes = json!({"r": {"targets": ["p/slow;ttft_ms=20000;words=5", "p/fast;words=5"]}});
    let (_s, c) = setup(json!({"first_token_timeout_ms": 1000}), routes).await;
    let t = Instant::now();
    let (events, err) = stream_all(&c, "r").await;
    assert!(err.is_none(), "{err:?}");
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(950) && took < Duration::from_secs(5),
        "{took:?}"
    );
    let Some(StreamEvent::Final { response }) = events.last() else {
        panic!()
    };
    assert!(response.model.starts_with("p/fast"));
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, StreamEvent::Restart { .. })),
        "nothing was shown before, no restart needed"
    );
}

fn final_and_after_last_restart(events: &[StreamEvent]) -> (String, String, usize) {
    let restarts = events
        .iter()
        .filter(|e| matches!(e, StreamEvent::Restart { .. }))
        .count();
    let last_restart = events
        .iter()
        .rposition(|e| matches!(e, StreamEvent::Restart { .. }))
        .map(|i| i + 1)
        .unwrap_or(0);
    let shown: String = events[last_restart..]
        .iter()
        .filter_map(|e| match e {
            StreamEvent::TextDelta { text } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    let Some(StreamEvent::Final { response }) = events.last() else {
        panic!("no final: {events:?}")
    };
    (response.text.clone(), shown, restarts)
}

#[tokio::test]
async fn cut_and_stalled_streams_fail_over_with_a_restart() {
    let routes = json!({
        "cut": {"targets": ["p/a;words=60;cut_after=40", "p/b;words=60"]},
        "stall": {"targets": ["p/a;words=60;stall_after=20", "p/b;words=60"]},
    });
    let (_s, c) = setup(
        json!({"stream_idle_timeout_ms": 500, "backoff_initial_ms": 50}),
        routes,
    )
    .await;
    for route in ["cut", "stall"] {
        let (events, err) = stream_all(&c, route).await;
        assert!(err.is_none(), "{route}: {err:?}");
        let (text, shown, restarts) = final_and_after_last_restart(&events);
        assert!(
            restarts >= 1,
            "{route}: a restart event tells the consumer to discard"
        );
        assert_eq!(
            text.split_whitespace().count(),
            60,
            "{route}: the final answer is complete"
        );
        assert_eq!(
            shown, text,
            "{route}: what follows the last restart is the whole answer"
        );
    }
    // The client stays healthy: a plain call afterwards works.
    let r = c.complete(req("p/b;words=3")).await.unwrap();
    assert_eq!(r.text.split_whitespace().count(), 3);
}

#[tokio::test]
async fn malformed_chunk_gives_a_complete_answer_or_a_clean_error() {
    let routes = json!({"r": {"targets": ["p/a;words=20;malformed_at=10", "p/b;words=20"]}});
    let (_s, c) = setup(json!({"backoff_initial_ms": 50}), routes).await;
    let (events, err) = stream_all(&c, "r").await;
    match err {
        None => {
            let (text, shown, _) = final_and_after_last_restart(&events);
            assert_eq!(text.split_whitespace().count(), 20);
            assert_eq!(shown, text);
        }
        Some(e) => assert_eq!(e.kind, ErrorKind::InvalidResponse),
    }
}

#[tokio::test]
async fn context_window_and_content_filter_are_tried_once() {
    let routes = json!({
        "ctx": {"targets": [
            {"model": "p/small;error=context_length_exceeded", "context_window": 8000},
            {"model": "p/same-size", "context_window": 8000},
            {"model": "p/large;text=big", "context_window": 200000}
        ]},
        "filtered": {"targets": ["p/a;error=content_filter", "p/b"]},
    });
    let (_s, c) = setup(json!({}), routes).await;
    let r = c.complete(req("ctx")).await.unwrap();
    assert_eq!(r.text, "big");
    assert_eq!(
        r.attempts.len(),
        2,
        "one attempt on the small target, none on the same-size one"
    );
    assert_eq!(
        r.attempts[0].error_kind,
        Some(ErrorKind::ContextWindowExceeded)
    );
    let e = c.complete(req("filtered")).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::ContentFiltered);
    assert_eq!(e.attempts.len(), 1);
}

#[tokio::test]
async fn the_most_meaningful_error_is_surfaced_with_every_attempt() {
    let routes = json!({"r": {"targets": ["p/a;error=insufficient_quota", "p/b;status=400"]}});
    let (_s, c) = setup(json!({}), routes).await;
    let e = c.complete(req("r")).await.unwrap_err();
    assert_eq!(
        e.kind,
        ErrorKind::Quota,
        "not the fallback's unrelated 400: {e}"
    );
    assert_eq!(e.attempts.len(), 2);
}

#[tokio::test]
async fn total_budget_is_never_exceeded() {
    let routes = json!({"r": {"targets": ["p/a;hang=1", "p/b;hang=1"]}});
    let (_s, c) = setup(
        json!({"total_timeout_ms": 700, "retry_silent": true}),
        routes,
    )
    .await;
    let t = Instant::now();
    let e = c.complete(req("r")).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Timeout);
    assert!(
        t.elapsed() < Duration::from_millis(1500),
        "{:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn breaker_serves_the_fallback_while_the_primary_is_down_and_returns_after_recovery() {
    // The primary fails its first 6 requests ("down"), then recovers.
    let routes = json!({"r": {"targets": ["p/primary;status=500;fail_times=6;key=primary", "p/backup;key=backup"]}});
    let policy = json!({"max_attempts_per_target": 1, "breaker": {"failure_threshold": 2, "cooldown_ms": 300}});
    let (s, c) = setup(policy, routes).await;
    let mut answered_by = Vec::new();
    for _ in 0..6 {
        let r = c.complete(req("r")).await.unwrap();
        answered_by.push(r.model.split(';').next().unwrap().to_string());
    }
    assert!(answered_by.iter().all(|m| m == "p/backup"));
    assert_eq!(
        by_key(&s, "primary"),
        2,
        "the open breaker keeps calls away from the primary"
    );
    assert!(c
        .health()
        .iter()
        .any(|h| h.target.starts_with("p/primary") && h.state == "open"));
    // After recovery the primary is used again within a few cooldowns (probes use up its failures).
    let mut back = false;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let r = c.complete(req("r")).await.unwrap();
        if r.model.starts_with("p/primary") {
            back = true;
            break;
        }
    }
    assert!(back, "primary never came back: {:?}", c.health());
    assert!(
        by_key(&s, "primary") <= 8,
        "probes are bounded: {}",
        by_key(&s, "primary")
    );
}

#[tokio::test]
async fn hedge_answers_first_and_the_slow_primary_is_cancelled() {
    let routes = json!({"r": {"targets": ["p/slow;latency_ms=5000;key=slow", "p/fast;text=hedged"], "hedge": {"delay_ms": 200}}});
    let (s, c) = setup(json!({}), routes).await;
    let t = Instant::now();
    let r = c.complete(req("r")).await.unwrap();
    assert_eq!(r.text, "hedged");
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    let outcomes: Vec<_> = r
        .attempts
        .iter()
        .map(|a| (a.model.split(';').next().unwrap().to_string(), a.outcome))
        .collect();
    // In the order they ended: the slow primary is cancelled when the backup's first output
    // arrives, then the backup completes.
    assert_eq!(
        outcomes,
        vec![
            ("p/slow".to_string(), Outcome::Cancelled),
            ("p/fast".to_string(), Outcome::Ok)
        ]
    );
    assert!(r.attempts[1].hedge && r.attempts[1].fallback && !r.attempts[0].hedge);
    assert!(
        wait_disconnects(&s, 1).await >= 1,
        "the slow primary's connection was closed"
    );
}

#[tokio::test]
async fn load_balancing_strategies_pick_the_first_target() {
    let routes = json!({
        "weighted": {"strategy": "weighted", "targets": [
            {"model": "p/never;text=never", "weight": 0.0}, {"model": "p/always;text=always", "weight": 1.0}]},
        "cheap": {"strategy": "lowest_cost", "targets": [
            {"model": "p/dear;text=dear", "cost_per_mtok": 15.0}, {"model": "p/cheap;text=cheap", "cost_per_mtok": 0.5}]},
        "idle": {"strategy": "least_in_flight", "targets": ["p/a;latency_ms=800;text=a", "p/b;text=b"]},
    });
    let (_s, c) = setup(json!({}), routes).await;
    for _ in 0..10 {
        assert_eq!(c.complete(req("weighted")).await.unwrap().text, "always");
    }
    assert_eq!(c.complete(req("cheap")).await.unwrap().text, "cheap");
    // While a slow call occupies `a`, the next call goes to `b`.
    let busy = c.complete(req("p/a;latency_ms=800;text=a"));
    let second = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        c.complete(req("idle")).await
    };
    let (first, second) = tokio::join!(busy, second);
    assert_eq!(first.unwrap().text, "a");
    assert_eq!(second.unwrap().text, "b");
}

#[tokio::test]
async fn hedged_stream_takes_the_first_to_deliver_a_token() {
    let routes = json!({"r": {"targets": ["p/slow;ttft_ms=5000;words=4", "p/fast;words=6"], "hedge": {"delay_ms": 200}}});
    let (s, c) = setup(json!({}), routes).await;
    let t = Instant::now();
    let (events, err) = stream_all(&c, "r").await;
    assert!(err.is_none(), "{err:?}");
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    let Some(StreamEvent::Final { response }) = events.last() else {
        panic!()
    };
    assert!(response.model.starts_with("p/fast"));
    assert_eq!(response.text.split_whitespace().count(), 6);
    assert!(response
        .attempts
        .iter()
        .any(|a| a.model.starts_with("p/slow") && a.outcome == Outcome::Cancelled));
    assert!(
        wait_disconnects(&s, 1).await >= 1,
        "the slow primary's connection was closed"
    );
}

#[tokio::test]
async fn complete_detects_a_silent_or_stalled_provider_by_first_token_and_idle_deadlines() {
    let routes = json!({
        "silent": {"targets": ["p/a;hang=1", "p/b;text=fallback"]},
        "slow_first": {"targets": ["p/a;ttft_ms=20000;words=3", "p/b;text=fallback"]},
        "stalled": {"targets": ["p/a;words=30;stall_after=5", "p/b;text=fallback"]},
    });
    // The attempt timeout is long: only the first-token and idle deadlines can explain a fast failover.
    let policy = json!({"first_token_timeout_ms": 600, "stream_idle_timeout_ms": 600, "attempt_timeout_ms": 60000});
    let (_s, c) = setup(policy, routes).await;
    for route in ["silent", "slow_first", "stalled"] {
        let t = Instant::now();
        let r = c.complete(req(route)).await.unwrap();
        let took = t.elapsed();
        assert_eq!(r.text, "fallback", "{route}");
        assert!(
            took >= Duration::from_millis(550) && took < Duration::from_secs(4),
            "{route}: {took:?}"
        );
        assert_eq!(
            r.attempts[0].error_kind,
            Some(ErrorKind::Timeout),
            "{route}"
        );
    }
}

#[tokio::test]
async fn midstream_continue_uses_prefill_where_supported_and_restarts_elsewhere() {
    let server = polyfuse_mock_server::start().await.expect("mock server");
    let config = Config::from_value(json!({
        "env_providers": false,
        "providers": {
            "p": {"format": "openai", "base_url": server.base_url(), "api_key": "sk-test"},
            "anth": {"format": "anthropic", "base_url": server.base_url(), "api_key": "k-test"},
        },
        "policy": {"midstream": "continue", "max_attempts_per_target": 1, "stream_idle_timeout_ms": 500},
        "routes": {
            "cont": {"targets": ["anth/a;words=60;cut_after=40", "anth/b;text=%20and%20the%20end."]},
            "rejects": {"targets": ["anth/a;words=60;cut_after=40", "anth/b;status=400", "p/c;words=5"]},
            "openai_only": {"targets": ["p/a;words=60;cut_after=40", "p/b;words=6"]},
        },
    }))
    .unwrap();
    let c = Client::new(config, vec![]).unwrap();

    // Continued by prefill: no restart, the final text is what was shown, prefix and continuation.
    let (events, err) = stream_all(&c, "cont").await;
    assert!(err.is_none(), "{err:?}");
    assert!(!events
        .iter()
        .any(|e| matches!(e, StreamEvent::Restart { .. })));
    let (text, shown, _) = final_and_after_last_restart(&events);
    assert_eq!(text, shown);
    assert!(text.ends_with(" and the end."), "{text}");
    assert_eq!(text.split_whitespace().count(), 40 + 3);
    let log = server.requests();
    let last = serde_json::to_value(log.last().unwrap()).unwrap();
    let msgs = last["body"]["messages"].as_array().unwrap();
    let prefill = msgs.last().unwrap();
    assert_eq!(prefill["role"], "assistant");
    let prefix = text.strip_suffix(" and the end.").unwrap();
    assert_eq!(prefix.split_whitespace().count(), 40);
    assert!(
        serde_json::to_string(&prefill["content"])
            .unwrap()
            .contains(prefix),
        "{prefill}"
    );

    // A target that rejects the continuation is skipped; the next (no prefill) restarts.
    let (events, err) = stream_all(&c, "rejects").await;
    assert!(err.is_none(), "{err:?}");
    let (text, shown, restarts) = final_and_after_last_restart(&events);
    assert_eq!(restarts, 1);
    assert_eq!(text, shown);
    assert_eq!(text.split_whitespace().count(), 5);

    // Targets without prefill support restart as usual.
    let (events, err) = stream_all(&c, "openai_only").await;
    assert!(err.is_none(), "{err:?}");
    let (_, _, restarts) = final_and_after_last_restart(&events);
    assert_eq!(restarts, 1);
}
