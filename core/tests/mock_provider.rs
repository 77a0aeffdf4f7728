//! The in-process `mock` provider: deterministic answers, scripted chunks, tool calls and failures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use polyfuse_core::{
    Client, Config, ErrorKind, FinishReason, Outcome, Request, StreamEvent, UsageEvent,
};
use serde_json::{json, Value};

fn client(config: Value) -> (Client, Arc<Mutex<Vec<UsageEvent>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let c = Client::new(
        Config::from_value(config).unwrap(),
        vec![Arc::new(move |batch: &[Arc<UsageEvent>]| {
            // The call-level events (attempt events are covered in engine.rs).
            sink.lock().unwrap().extend(
                batch
                    .iter()
                    .filter(|e| e.level == polyfuse_core::Level::Call)
                    .map(|e| e.as_ref().clone()),
            )
        })],
    )
    .unwrap();
    (c, events)
}

#[tokio::test]
async fn echo_is_deterministic() {
    let (c, _) = client(json!({"env_providers": false}));
    let r = c
        .complete(Request::from_values("mock/echo", json!("repeat after me"), Value::Null).unwrap())
        .await
        .unwrap();
    assert_eq!(r.text, "repeat after me");
    assert_eq!(r.usage.output_tokens, 3);
    assert_eq!(r.usage.input_tokens, 3 + 3);
    let r2 = c
        .complete(Request::from_values("mock/other", json!("hi"), Value::Null).unwrap())
        .await
        .unwrap();
    assert_eq!(r2.text, "This is mock/other answering: hi");
}

#[tokio::test]
async fn scripted_chunks_and_failure_times() {
    let (c, events) = client(
        json!({"env_providers": false, "policy": {"max_attempts_per_target": 1}, "mock": {"models": {
            "flaky": {"text": "a b c d e f", "chunks": 3, "fail": {"kind": "rate_limited", "times": 1, "retry_after_ms": 1500}},
            "tool": {"tool_calls": [{"name": "lookup", "arguments": {"q": "x"}}]}
        }}}),
    );
    let req = || Request::from_values("mock/flaky", json!("go"), Value::Null).unwrap();
    let e = c.complete(req()).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::RateLimited);
    assert_eq!(e.retry_after.unwrap().as_millis(), 1500);
    let mut s = c.stream(req());
    let mut deltas = Vec::new();
    let mut fin = None;
    while let Some(ev) = s.next().await {
        match ev.unwrap() {
            StreamEvent::TextDelta { text } => deltas.push(text),
            StreamEvent::Final { response } => fin = Some(response),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(deltas, vec!["a b", " c d", " e f"]);
    assert_eq!(fin.unwrap().text, "a b c d e f");
    let r = c
        .complete(Request::from_values("mock/tool", json!("go"), Value::Null).unwrap())
        .await
        .unwrap();
    assert_eq!(r.finish_reason, FinishReason::ToolCalls);
    assert_eq!(r.message.tool_calls[0].function.arguments, r#"{"q":"x"}"#);
    c.flush_usage(None);
    let outcomes: Vec<Outcome> = events.lock().unwrap().iter().map(|e| e.outcome).collect();
    assert_eq!(outcomes, vec![Outcome::Error, Outcome::Ok, Outcome::Ok]);
}

#[tokio::test]
async fn unknown_provider_and_bad_model_are_clear() {
    let (c, _) = client(json!({"env_providers": false}));
    let e = c
        .complete(Request::from_values("nope/x", json!("hi"), Value::Null).unwrap())
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Config);
    assert!(e.message.contains("nope"), "{}", e.message);
    let e = c
        .complete(Request::from_values("gpt-4o", json!("hi"), Value::Null).unwrap())
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidRequest);
    assert!(e.message.contains("provider/model"), "{}", e.message);
}
