//! Deadline decisions under paused tokio time, on the in-process mock provider (whose latency,
//! first token and chunk gaps are tokio sleeps): a long answer that keeps streaming is never cut
//! by the defaults; a silent provider fails over after the first-token deadline; a call that asks
//! for reasoning, or a model known to think first, gets the reasoning deadline; routes and targets
//! set their own deadlines; a stall after output fails over with a restart.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use std::time::Duration;

use futures_util::StreamExt;
use polyfuse_core::{Client, Config, ErrorKind, Request, StreamEvent};
use serde_json::{json, Value};
use tokio::time::Instant;

fn client(models: Value, routes: Value) -> Client {
    let config = Config::from_value(json!({
        "env_providers": false,
        "mock": {"models": models},
        "routes": routes,
    }))
    .unwrap();
    Client::new(config, vec![]).unwrap()
}

fn req(model: &str, params: Value) -> Request {
    Request::from_values(model, json!("go"), params).unwrap()
}

async fn stream_all(c: &Client, r: Request) -> (Vec<StreamEvent>, Option<polyfuse_core::Error>) {
    let mut s = c.stream(r);
    let mut out = Vec::new();
    while let Some(item) = s.next().await {
        match item {
            Ok(ev) => out.push(ev),
            Err(e) => return (out, Some(e)),
        }
    }
    (out, None)
}

fn words(n: usize) -> String {
    (0..n)
        .map(|i| format!("w{i}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::test(start_paused = true)]
async fn a_ninety_second_answer_that_keeps_streaming_is_not_cut() {
    // 91 words, one per second: 90 s of steady progress, under the default policy.
    let c = client(
        json!({"long": {"text": words(91), "chunk_delay_ms": 1000}}),
        json!({}),
    );
    let t = Instant::now();
    let (events, err) = stream_all(&c, req("mock/long", Value::Null)).await;
    assert!(err.is_none(), "{err:?}");
    assert!(t.elapsed() >= Duration::from_secs(90), "{:?}", t.elapsed());
    let deltas = events
        .iter()
        .filter(|e| matches!(e, StreamEvent::TextDelta { .. }))
        .count();
    assert_eq!(deltas, 91);
    // complete() streams under the hood: the same answer is not cut either.
    let r = c.complete(req("mock/long", Value::Null)).await.unwrap();
    assert_eq!(r.text, words(91));
    assert_eq!(r.attempts.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_silent_provider_fails_over_after_the_first_token_deadline() {
    let c = client(
        json!({"silent": {"ttft_ms": 600_000}, "backup": {"text": "from backup"}}),
        json!({"r": {"targets": ["mock/silent", "mock/backup"]}}),
    );
    let t = Instant::now();
    let r = c.complete(req("r", Value::Null)).await.unwrap();
    assert_eq!(r.text, "from backup");
    let took = t.elapsed();
    assert!(
        took >= Duration::from_secs(10) && took < Duration::from_secs(11),
        "{took:?}"
    );
    assert_eq!(r.attempts.len(), 2, "a silent target is not retried");
    assert_eq!(r.attempts[0].error_kind, Some(ErrorKind::Timeout));
}

#[tokio::test(start_paused = true)]
async fn reasoning_calls_and_thinking_models_get_the_reasoning_deadline() {
    let c = client(
        json!({
            "deep": {"ttft_ms": 60_000, "text": "thought it through"},
            "o3-mini": {"ttft_ms": 60_000, "text": "o3 answers"},
            "backup": {"text": "from backup"},
        }),
        json!({"r": {"targets": ["mock/deep", "mock/backup"]}}),
    );
    // The request asks for reasoning: a minute of silence is legitimate.
    let t = Instant::now();
    let r = c
        .complete(req("r", json!({"reasoning_effort": "high"})))
        .await
        .unwrap();
    assert_eq!(r.text, "thought it through");
    assert!(t.elapsed() >= Duration::from_secs(60));
    // The same model without reasoning fails over after 10 s.
    let t = Instant::now();
    let r = c.complete(req("r", Value::Null)).await.unwrap();
    assert_eq!(r.text, "from backup");
    assert!(t.elapsed() < Duration::from_secs(11), "{:?}", t.elapsed());
    // A model known to think before it speaks gets the reasoning deadline by default.
    let (events, err) = stream_all(&c, req("mock/o3-mini", Value::Null)).await;
    assert!(err.is_none(), "{err:?}");
    assert!(matches!(events.last(), Some(StreamEvent::Final { .. })));
    // ... and never more than the reasoning deadline (120 s).
    let c = client(
        json!({"o3-mini": {"ttft_ms": 130_000}, "backup": {"text": "b"}}),
        json!({"r": {"targets": ["mock/o3-mini", "mock/backup"]}}),
    );
    let t = Instant::now();
    let r = c.complete(req("r", Value::Null)).await.unwrap();
    assert_eq!(r.text, "b");
    let took = t.elapsed();
    assert!(
        took >= Duration::from_secs(120) && took < Duration::from_secs(121),
        "{took:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn routes_targets_and_calls_set_their_own_deadlines() {
    let c = client(
        json!({"slowish": {"ttft_ms": 5_000, "text": "slowish"}, "backup": {"text": "b"}}),
        json!({
            "strict": {"targets": ["mock/slowish", "mock/backup"], "first_token_timeout_ms": 2000},
            "patient": {"targets": [{"model": "mock/slowish", "first_token_timeout_ms": 30000}, "mock/backup"], "first_token_timeout_ms": 2000},
        }),
    );
    let t = Instant::now();
    let r = c.complete(req("strict", Value::Null)).await.unwrap();
    assert_eq!(
        r.text, "b",
        "the route's 2 s deadline fails the 5 s first token"
    );
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    let r = c.complete(req("patient", Value::Null)).await.unwrap();
    assert_eq!(
        r.text, "slowish",
        "the target's own deadline wins over the route's"
    );
    // A call's parameter wins over both.
    let r = c
        .complete(req("patient", json!({"first_token_timeout_ms": 1000})))
        .await
        .unwrap();
    assert_eq!(r.text, "b");
}

#[tokio::test(start_paused = true)]
async fn a_stall_after_output_fails_over_with_a_restart() {
    let c = client(
        json!({
            "staller": {"text": "one two three", "chunk_delay_ms": 15_000},
            "backup": {"text": "from backup"},
        }),
        json!({"r": {"targets": ["mock/staller", "mock/backup"]}}),
    );
    let t = Instant::now();
    let (events, err) = stream_all(&c, req("r", Value::Null)).await;
    assert!(err.is_none(), "{err:?}");
    // A stall is not silence: the staller is retried once (another 10 s), then the backup answers.
    let took = t.elapsed();
    assert!(
        took >= Duration::from_secs(20) && took < Duration::from_secs(22),
        "{took:?}"
    );
    assert!(matches!(events[0], StreamEvent::TextDelta { .. }));
    assert!(
        matches!(events[1], StreamEvent::Restart { .. }),
        "{events:?}"
    );
    let Some(StreamEvent::Final { response }) = events.last() else {
        panic!("{events:?}")
    };
    assert_eq!(response.text, "from backup");
    assert_eq!(response.attempts.len(), 3);
    assert_eq!(response.attempts[0].error_kind, Some(ErrorKind::Timeout));
    assert!(
        response.attempts[0]
            .error_message
            .as_deref()
            .unwrap_or("")
            .contains("stalled"),
        "{:?}",
        response.attempts[0]
    );
}
