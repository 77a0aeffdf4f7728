//! Cost in the engine: every attempt, call event and response priced from the catalogue (or the
//! provider's report); an unknown model costs null, never 0; the catalogue's context windows feed
//! the context-window fallback and its prices the lowest_cost strategy.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use std::sync::{Arc, Mutex};

use polyfuse_core::{Client, Config, ErrorKind, Level, Request, UsageEvent};
use serde_json::{json, Value};

fn client(
    server: &polyfuse_mock_server::MockServer,
    routes: Value,
) -> (Client, Arc<Mutex<Vec<UsageEvent>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let config = Config::from_value(json!({
        "env_providers": false,
        "providers": {
            "openai": {"base_url": server.base_url(), "api_key": "sk-test"},
            "local": {"format": "openai", "base_url": server.base_url(), "api_key": "sk-test"},
        },
        "routes": routes,
        "pricing": {"models": {"local/tuned-7b": {"input": 0.2, "output": 0.4}}},
    }))
    .unwrap();
    let c = Client::new(
        config,
        vec![Arc::new(move |b: &[Arc<UsageEvent>]| {
            sink.lock()
                .unwrap()
                .extend(b.iter().map(|e| e.as_ref().clone()))
        })],
    )
    .unwrap();
    (c, events)
}

fn req(model: &str) -> Request {
    Request::from_values(model, json!("hi"), Value::Null).unwrap()
}

fn close(got: Option<f64>, want: f64) -> bool {
    got.is_some_and(|g| (g - want).abs() < 1e-12)
}

#[tokio::test]
async fn attempts_calls_and_responses_are_priced() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let (c, events) = client(&server, json!({}));
    // gpt-4o-mini: 1000 input × $0.15/M + 500 output × $0.6/M = 150 + 300 µ$ = $0.00045.
    let model = "openai/gpt-4o-mini;prompt_tokens=1000;completion_tokens=500";
    let r = c.complete(req(model)).await.unwrap();
    assert!(close(r.usage.cost_usd, 0.00045), "{:?}", r.usage);
    assert!(close(r.attempts[0].usage.cost_usd, 0.00045));
    // With a cached part: 600 of 1000 cached at $0.075/M: 400 × 0.15 + 600 × 0.075 + 500 × 0.6
    // = 60 + 45 + 300 = 405 µ$.
    let r = c
        .complete(req(
            "openai/gpt-4o-mini;prompt_tokens=1000;cached_tokens=600;completion_tokens=500",
        ))
        .await
        .unwrap();
    assert!(close(r.usage.cost_usd, 0.000405), "{:?}", r.usage);
    // A config price for a model of the user's own provider: 100 × 0.2 + 50 × 0.4 = 40 µ$.
    let r = c
        .complete(req("local/tuned-7b;prompt_tokens=100;completion_tokens=50"))
        .await
        .unwrap();
    assert!(close(r.usage.cost_usd, 0.00004), "{:?}", r.usage);
    // An unknown model: null, never 0.
    let r = c.complete(req("local/mystery-model")).await.unwrap();
    assert_eq!(r.usage.cost_usd, None);
    c.flush_usage(None);
    let events = events.lock().unwrap();
    let calls: Vec<_> = events.iter().filter(|e| e.level == Level::Call).collect();
    assert!(close(calls[0].usage.cost_usd, 0.00045));
    assert_eq!(calls[3].usage.cost_usd, None);
    let attempt = events.iter().find(|e| e.level == Level::Attempt).unwrap();
    assert!(close(attempt.usage.cost_usd, 0.00045));
}

#[tokio::test]
async fn a_failed_attempt_before_generation_costs_nothing_and_the_call_sums_its_attempts() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let (c, _) = client(
        &server,
        json!({"r": {"targets": [
            "openai/gpt-4o;status=500",
            "openai/gpt-4o-mini;prompt_tokens=1000;completion_tokens=500",
        ]}}),
    );
    let r = c.complete(req("r")).await.unwrap();
    let failed = &r.attempts[0];
    assert_eq!(failed.usage.cost_usd, Some(0.0), "a 500 consumed nothing");
    assert!(close(r.usage.cost_usd, 0.00045));
}

#[tokio::test]
async fn the_catalogue_feeds_context_window_fallback_and_lowest_cost() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let (c, _) = client(
        &server,
        json!({
            // gpt-4o-mini's window is 128k (catalogue): after its context-window error, gpt-3.5
            // (16k) is known not to be larger and is skipped; gpt-4.1-mini (1M) answers.
            "ctx": {"targets": [
                "openai/gpt-4o-mini;error=context_length_exceeded",
                "openai/gpt-3.5-turbo;text=too%20small",
                "openai/gpt-4.1-mini;text=fits",
            ]},
            // No declared costs: the catalogue's prices order the targets.
            "cheap": {"strategy": "lowest_cost", "targets": [
                "openai/gpt-4o;text=dear",
                "openai/gpt-4.1-nano;text=cheapest",
                "openai/gpt-4o-mini;text=cheap",
            ]},
        }),
    );
    let r = c.complete(req("ctx")).await.unwrap();
    assert_eq!(r.text, "fits");
    assert_eq!(
        r.attempts[0].error_kind,
        Some(ErrorKind::ContextWindowExceeded)
    );
    assert_eq!(r.attempts.len(), 2);
    let r = c.complete(req("cheap")).await.unwrap();
    assert_eq!(r.text, "cheapest");
}
