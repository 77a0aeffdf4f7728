//! The OpenAI wire format end to end: a real Client over real HTTP against the mock provider
//! server, covering text, streaming, tool calls, error classification, truncated and stalled
//! streams, cancellation and usage accounting.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use polyfuse_core::{
    Client, Config, ErrorKind, FinishReason, Outcome, Request, StreamEvent, UsageEvent,
};
use serde_json::{json, Value};

struct Harness {
    server: polyfuse_mock_server::MockServer,
    client: Client,
    events: Arc<Mutex<Vec<UsageEvent>>>,
}

async fn harness_with(policy: Value, key: &str) -> Harness {
    let server = polyfuse_mock_server::start()
        .await
        .expect("mock server starts");
    let config = Config::from_value(json!({
        "env_providers": false,
        "providers": {"mockhttp": {"format": "openai", "base_url": server.base_url(), "api_key": key}},
        "policy": policy,
    }))
    .unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let client = Client::new(
        config,
        vec![Arc::new(move |batch: &[Arc<UsageEvent>]| {
            sink.lock()
                .unwrap()
                .extend(batch.iter().map(|e| e.as_ref().clone()))
        })],
    )
    .unwrap();
    Harness {
        server,
        client,
        events,
    }
}

/// One attempt per call: these tests are about the wire format, `resilience.rs` about retries.
async fn harness() -> Harness {
    harness_with(json!({"max_attempts_per_target": 1}), "sk-test-123").await
}

fn req(model: &str) -> Request {
    Request::from_values(
        &format!("mockhttp/{model}"),
        json!("Say hello"),
        Value::Null,
    )
    .unwrap()
}

impl Harness {
    async fn stats(&self) -> Value {
        let url = format!("http://{}/_mock/stats", self.server.addr);
        serde_json::from_slice(&reqwest::get(url).await.unwrap().bytes().await.unwrap()).unwrap()
    }

    async fn requests(&self) -> Value {
        let url = format!("http://{}/_mock/requests", self.server.addr);
        serde_json::from_slice(&reqwest::get(url).await.unwrap().bytes().await.unwrap()).unwrap()
    }

    /// Waits (bounded) until the server has seen `n` client disconnects.
    async fn wait_disconnects(&self, n: u64) -> u64 {
        let mut seen = 0;
        for _ in 0..100 {
            seen = self.stats().await["client_disconnects"]
                .as_u64()
                .unwrap_or(0);
            if seen >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        seen
    }

    /// The call-level usage events so far (attempt events are left out).
    fn usage_events(&self) -> Vec<UsageEvent> {
        self.client.flush_usage(None);
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.level == polyfuse_core::Level::Call)
            .cloned()
            .collect()
    }

    async fn collect(&self, r: Request) -> (Vec<StreamEvent>, Option<polyfuse_core::Error>) {
        let mut s = self.client.stream(r);
        let mut out = Vec::new();
        while let Some(item) = s.next().await {
            match item {
                Ok(ev) => out.push(ev),
                Err(e) => return (out, Some(e)),
            }
        }
        (out, None)
    }
}

#[tokio::test]
async fn complete_returns_text_usage_and_one_attempt() {
    let h = harness().await;
    let r = h
        .client
        .complete(req("gpt-4o-mini;text=Hello%20there%20world"))
        .await
        .unwrap();
    assert_eq!(r.text, "Hello there world");
    assert_eq!(r.finish_reason, FinishReason::Stop);
    assert_eq!(r.usage.output_tokens, 3);
    assert!(r.usage.input_tokens > 0);
    assert_eq!(r.provider, "mockhttp");
    assert_eq!(r.provider_model.as_deref(), Some("gpt-4o-mini"));
    assert_eq!(r.attempts.len(), 1);
    assert_eq!(r.attempts[0].outcome, Outcome::Ok);
    let openai = r.to_openai();
    assert_eq!(
        openai["choices"][0]["message"]["content"],
        "Hello there world"
    );
    assert_eq!(openai["usage"]["completion_tokens"], 3);
    let sent = h.requests().await;
    let body = &sent.as_array().unwrap().last().unwrap()["body"];
    assert_eq!(body["messages"][0]["content"], "Say hello");
    // By default `complete` streams under the hood, so first-token and idle deadlines apply.
    assert_eq!(body["stream"], true);
}

#[tokio::test]
async fn complete_without_streaming_when_configured_or_raw_is_asked() {
    let h = harness_with(
        json!({"max_attempts_per_target": 1, "complete_via_stream": false}),
        "sk-test-123",
    )
    .await;
    let r = h
        .client
        .complete(req("gpt-4o-mini;text=plain%20body"))
        .await
        .unwrap();
    assert_eq!(r.text, "plain body");
    assert_eq!(r.usage.output_tokens, 2);
    let sent = h.requests().await;
    assert!(sent.as_array().unwrap().last().unwrap()["body"]
        .get("stream")
        .is_none());
    let h = harness().await;
    let mut raw_req = req("gpt-4o-mini;text=raw");
    raw_req.params.include_raw = Some(true);
    let r = h.client.complete(raw_req).await.unwrap();
    assert_eq!(r.raw.unwrap()["object"], "chat.completion");
}

#[tokio::test]
async fn stream_delivers_chunks_in_order_then_final_with_usage() {
    let h = harness().await;
    let (events, err) = h.collect(req("gpt-4o-mini;words=12;chunks=4")).await;
    assert!(err.is_none(), "{err:?}");
    let texts: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::TextDelta { text } => Some(text.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(texts.len(), 4);
    let Some(StreamEvent::Final { response }) = events.last() else {
        panic!("no final event: {events:?}")
    };
    assert_eq!(texts.concat(), response.text);
    assert_eq!(response.text.split_whitespace().count(), 12);
    assert_eq!(response.usage.output_tokens, 12);
    assert!(response.ttft_ms.is_some());
    let sent = h.requests().await;
    let body = &sent.as_array().unwrap().last().unwrap()["body"];
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"]["include_usage"], true);
}

#[tokio::test]
async fn streamed_tool_call_deltas_are_assembled() {
    let h = harness().await;
    let mut r = req("gpt-4o-mini;tool_call=get_weather");
    r.params.tools = Some(vec![
        json!({"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}),
    ]);
    let (events, err) = h.collect(r.clone()).await;
    assert!(err.is_none(), "{err:?}");
    let deltas = events
        .iter()
        .filter(|e| matches!(e, StreamEvent::ToolCallDelta { .. }))
        .count();
    assert!(deltas > 2, "arguments should arrive in fragments");
    let Some(StreamEvent::Final { response }) = events.last() else {
        panic!()
    };
    assert_eq!(response.finish_reason, FinishReason::ToolCalls);
    let call = &response.message.tool_calls[0];
    assert_eq!(call.function.name, "get_weather");
    assert!(call.id.starts_with("call_"));
    let args: Value = serde_json::from_str(&call.function.arguments).unwrap();
    assert_eq!(args, json!({"city": "Paris", "unit": "celsius"}));
    // Non-streaming gives the same call.
    let c = h.client.complete(r).await.unwrap();
    assert_eq!(
        c.message.tool_calls[0].function.arguments,
        call.function.arguments
    );
}

#[tokio::test]
async fn errors_are_classified_by_meaning() {
    let h = harness().await;
    let cases = [
        (
            "gpt-4o-mini;status=429;retry_after=2",
            ErrorKind::RateLimited,
            Some(429),
        ),
        ("gpt-4o-mini;status=500", ErrorKind::Server, Some(500)),
        ("gpt-4o-mini;status=503", ErrorKind::Overloaded, Some(503)),
        (
            "gpt-4o-mini;error=insufficient_quota",
            ErrorKind::Quota,
            Some(429),
        ),
        (
            "gpt-4o-mini;error=context_length_exceeded",
            ErrorKind::ContextWindowExceeded,
            Some(400),
        ),
        (
            "gpt-4o-mini;error=content_filter",
            ErrorKind::ContentFiltered,
            Some(400),
        ),
    ];
    for (model, kind, status) in cases {
        let e = h.client.complete(req(model)).await.unwrap_err();
        assert_eq!(e.kind, kind, "{model}: {e}");
        assert_eq!(e.status, status, "{model}");
        assert_eq!(e.attempts.len(), 1);
        assert_eq!(e.provider.as_deref(), Some("mockhttp"));
    }
    let e = h
        .client
        .complete(req("gpt-4o-mini;status=429;retry_after=2"))
        .await
        .unwrap_err();
    assert_eq!(e.retry_after, Some(Duration::from_secs(2)));
    assert!(!ErrorKind::Quota.is_retryable());
}

#[tokio::test]
async fn authentication_error_never_shows_the_key() {
    let key = "bad-key-secret-123456";
    let h = harness_with(json!({"max_attempts_per_target": 1}), key).await;
    for streamed in [false, true] {
        let e = if streamed {
            h.collect(req("gpt-4o-mini")).await.1.unwrap()
        } else {
            h.client.complete(req("gpt-4o-mini")).await.unwrap_err()
        };
        assert_eq!(e.kind, ErrorKind::Authentication);
        for text in [e.to_string(), format!("{e:?}"), format!("{:?}", h.client)] {
            assert!(!text.contains("secret-123456"), "key leaked: {text}");
            assert!(!text.contains("bad-key"), "key prefix leaked: {text}");
        }
        assert!(
            e.message.contains("Incorrect API key provided"),
            "{}",
            e.message
        );
    }
}

#[tokio::test]
async fn stream_without_done_finishes_at_once() {
    let h = harness_with(json!({"stream_idle_timeout_ms": 30_000}), "sk-test-123").await;
    for opt in ["no_done=1", "no_done=hold"] {
        let started = std::time::Instant::now();
        let (events, err) = tokio::time::timeout(
            Duration::from_secs(5),
            h.collect(req(&format!("gpt-4o-mini;words=5;{opt}"))),
        )
        .await
        .expect("stream finished promptly");
        assert!(err.is_none(), "{opt}: {err:?}");
        assert!(
            matches!(events.last(), Some(StreamEvent::Final { .. })),
            "{opt}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}

#[tokio::test]
async fn broken_streams_never_end_as_success() {
    let h = harness_with(
        json!({"stream_idle_timeout_ms": 400, "max_attempts_per_target": 1}),
        "sk-test-123",
    )
    .await;
    let cases = [
        ("gpt-4o-mini;words=10;cut_after=3", ErrorKind::Connection),
        (
            "gpt-4o-mini;words=10;malformed_at=2",
            ErrorKind::InvalidResponse,
        ),
        ("gpt-4o-mini;words=10;error_after=2", ErrorKind::Server),
        ("gpt-4o-mini;words=10;stall_after=2", ErrorKind::Timeout),
    ];
    for (model, kind) in cases {
        let (events, err) = h.collect(req(model)).await;
        let err = err.unwrap_or_else(|| panic!("{model} ended as success: {events:?}"));
        assert_eq!(err.kind, kind, "{model}: {err}");
        assert!(!events
            .iter()
            .any(|e| matches!(e, StreamEvent::Final { .. })));
    }
}

#[tokio::test]
async fn total_budget_bounds_a_silent_provider_and_closes_the_connection() {
    let h = harness_with(
        json!({"total_timeout_ms": 300, "max_attempts_per_target": 1}),
        "sk-test-123",
    )
    .await;
    let e = h
        .client
        .complete(req("gpt-4o-mini;hang=1"))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Timeout);
    assert!(h.wait_disconnects(1).await >= 1);
}

#[tokio::test]
async fn dropping_a_stream_cancels_the_request() {
    let h = harness().await;
    let mut s = h
        .client
        .stream(req("gpt-4o-mini;words=50;chunk_delay_ms=100"));
    let first = s.next().await.unwrap().unwrap();
    assert!(matches!(first, StreamEvent::TextDelta { .. }));
    drop(s);
    assert!(h.wait_disconnects(1).await >= 1);
    let events = h.usage_events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].outcome, Outcome::Cancelled);
    assert!(events[0].streamed);
}

#[tokio::test]
async fn usage_event_exactly_once_per_call() {
    let h = harness().await;
    let mut ids = Vec::new();
    let first = h
        .client
        .complete(req("gpt-4o-mini;text=one%20two"))
        .await
        .unwrap();
    ids.push(first.id.clone());
    let (events, _) = h.collect(req("gpt-4o-mini;words=3")).await;
    let Some(StreamEvent::Final { response }) = events.last() else {
        panic!()
    };
    ids.push(response.id.clone());
    let _ = h
        .client
        .complete(req("gpt-4o-mini;status=500"))
        .await
        .unwrap_err();
    let _ = h.collect(req("gpt-4o-mini;words=9;cut_after=2")).await;
    let events = h.usage_events();
    assert_eq!(events.len(), 4, "{events:#?}");
    assert_eq!(events[0].request_id, ids[0]);
    assert_eq!(events[1].request_id, ids[1]);
    assert_eq!(events[0].usage, first.usage);
    assert_eq!(events[0].usage.output_tokens, 2);
    assert_eq!(events[1].usage.output_tokens, 3);
    assert_eq!(
        events.iter().map(|e| e.outcome).collect::<Vec<_>>(),
        vec![Outcome::Ok, Outcome::Ok, Outcome::Error, Outcome::Error]
    );
    assert_eq!(events[2].error_kind, Some(ErrorKind::Server));
    assert!(events.iter().all(|e| e.attempts.len() == 1));
}

#[tokio::test]
async fn many_concurrent_calls_share_one_pool() {
    let h = harness().await;
    let calls = (0..300).map(|i| h.client.complete(req(&format!("gpt-4o-mini;text=n{i}"))));
    let results = futures_util::future::join_all(calls).await;
    for (i, r) in results.into_iter().enumerate() {
        assert_eq!(r.unwrap().text, format!("n{i}"));
    }
    let stats = h.stats().await;
    assert_eq!(stats["requests"], 300);
    assert!(stats["connections"].as_u64().unwrap() <= 300);
}
