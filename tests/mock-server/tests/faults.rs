//! Fault-script tests: error statuses and bodies, retry headers, `fail_times`, reset, hang and
//! client-disconnect detection, stream cuts, stalls, malformed chunks, mid-stream errors, `no_done`,
//! and timing.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

#[tokio::test]
async fn rate_limit_429_with_retry_headers() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let r = completion(
        server.addr,
        chat(
            "gpt-4o;status=429;retry_after=2;retry_after_ms=1500;should_retry=true",
            "q",
        ),
    )
    .await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.header("retry-after"), Some("2"));
    assert_eq!(r.header("retry-after-ms"), Some("1500"));
    assert_eq!(r.header("x-should-retry"), Some("true"));
    assert!(r.header("x-request-id").is_some());
    let e = &r.json()["error"];
    assert_eq!(e["code"], "rate_limit_exceeded");
    assert_eq!(e["type"], "tokens");
    assert!(e["param"].is_null());
    assert!(e["message"]
        .as_str()
        .unwrap()
        .contains("Please try again in 1.5s"));

    // No retry headers unless scripted (real 429s sometimes carry none).
    let r = completion(server.addr, chat("m;status=429", "q")).await;
    assert_eq!(r.header("retry-after"), None);
    assert_eq!(r.header("retry-after-ms"), None);
}

#[tokio::test]
async fn named_errors_have_the_real_bodies() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let cases: &[(&str, u16, &str, Value)] = &[
        (
            "error=insufficient_quota",
            429,
            "insufficient_quota",
            "insufficient_quota".into(),
        ),
        (
            "error=context_length_exceeded",
            400,
            "invalid_request_error",
            "context_length_exceeded".into(),
        ),
        ("status=500", 500, "server_error", Value::Null),
        ("status=503", 503, "server_error", Value::Null),
        (
            "status=404",
            404,
            "invalid_request_error",
            "model_not_found".into(),
        ),
        (
            "status=400",
            400,
            "invalid_request_error",
            "unsupported_parameter".into(),
        ),
        (
            "status=413",
            413,
            "invalid_request_error",
            "request_too_large".into(),
        ),
        ("status=418", 418, "invalid_request_error", Value::Null),
        (
            "error=server_error;status=504",
            504,
            "server_error",
            Value::Null,
        ),
    ];
    for (options, status, kind, code) in cases {
        let r = completion(server.addr, chat(&format!("gpt-4o;{options}"), "q")).await;
        assert_eq!(r.status(), *status, "{options}");
        let e = &r.json()["error"];
        assert_eq!(e["type"], *kind, "{options}");
        assert_eq!(&e["code"], code, "{options}");
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(e.get("param").is_some());
    }
    let r = completion(
        server.addr,
        chat("gpt-4o;error=context_length_exceeded", "q"),
    )
    .await;
    let e = &r.json()["error"];
    assert_eq!(e["param"], "messages");
    assert_eq!(e["message"], "This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens. Please reduce the length of the messages.");
    let r = completion(server.addr, chat("gpt-4o;error=content_filter", "q")).await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json()["error"]["code"], "content_filter");
    let r = completion(server.addr, chat("gpt-4o;status=500", "q")).await;
    assert_eq!(
        r.json()["error"]["message"],
        "The server had an error while processing your request. Sorry about that!"
    );
    let r = completion(server.addr, chat("gpt-4o;status=502", "q")).await;
    assert_eq!(r.json()["error"]["code"], 502);
    // A streaming request gets a JSON error, not SSE, like the real API.
    let r = completion(server.addr, chat_stream("gpt-4o;status=500", "q", true)).await;
    assert_eq!(r.status(), 500);
    assert_eq!(r.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn fail_times_counts_per_key() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let model = "m;fail_times=2;key=flaky;status=503";
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(completion(server.addr, chat(model, "q")).await.status());
    }
    assert_eq!(statuses, [503, 503, 200, 200]);
    // Another key has its own counter; fail_times alone means 500.
    let r = completion(server.addr, chat("m;fail_times=1;key=other", "q")).await;
    assert_eq!(r.status(), 500);
    assert_eq!(
        completion(server.addr, chat("m;fail_times=1;key=other", "q"))
            .await
            .status(),
        200
    );
    // Without `key`, the full model string is the key.
    let model = "m;fail_times=1;status=429";
    assert_eq!(
        completion(server.addr, chat(model, "q")).await.status(),
        429
    );
    assert_eq!(
        completion(server.addr, chat(model, "q")).await.status(),
        200
    );
    let stats = server.stats();
    assert_eq!(stats.by_key.get("flaky"), Some(&4));
    assert_eq!(stats.by_key.get("other"), Some(&2));
    assert_eq!(stats.by_key.get(model), Some(&2));
    // Reset clears the counters.
    server.reset();
    assert_eq!(
        completion(server.addr, chat(model, "q")).await.status(),
        429
    );
}

#[tokio::test]
async fn reset_closes_with_rst_before_any_byte() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let mut c = Client::connect(server.addr).await;
    c.send_completion(&chat("m;reset=1", "q"), &[]).await;
    match c.read_to_close().await {
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
        Ok(bytes) => assert!(bytes.is_empty(), "no response byte before the close"),
    }
    let stats = server.stats();
    assert_eq!(
        (stats.requests, stats.server_aborts, stats.completed),
        (1, 1, 0)
    );

    // With fail_times, the retry succeeds.
    let model = "m;reset=1;fail_times=1";
    let mut c = Client::connect(server.addr).await;
    c.send_completion(&chat(model, "q"), &[]).await;
    assert!(c.read_head().await.is_err());
    assert_eq!(
        completion(server.addr, chat(model, "q")).await.status(),
        200
    );
}

#[tokio::test]
async fn hang_detects_client_disconnect() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let mut c = Client::connect(server.addr).await;
    c.send_completion(&chat("m;hang=1", "q"), &[]).await;
    eventually("request in flight", || server.stats().in_flight == 1).await;
    drop(c);
    eventually("client disconnect seen", || {
        server.stats().client_disconnects == 1
    })
    .await;
    let stats = server.stats();
    assert_eq!(
        (stats.in_flight, stats.completed, stats.open_connections),
        (0, 0, 0)
    );
}

#[tokio::test]
async fn disconnect_during_latency_and_stall() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let mut c = Client::connect(server.addr).await;
    c.send_completion(&chat("m;latency_ms=10000", "q"), &[])
        .await;
    eventually("request in flight", || server.stats().in_flight == 1).await;
    drop(c);
    eventually("disconnect during latency", || {
        server.stats().client_disconnects == 1
    })
    .await;

    let mut c = Client::connect(server.addr).await;
    c.send_completion(&chat_stream("m;words=10;stall_after=2", "q", false), &[])
        .await;
    let head = c.read_head().await.unwrap();
    assert_eq!(head.status, 200);
    for _ in 0..3 {
        c.next_chunk().await.unwrap().unwrap(); // role + 2 content
    }
    let silent = tokio::time::timeout(Duration::from_millis(100), c.next_chunk()).await;
    assert!(silent.is_err(), "nothing after the stall");
    assert_eq!(server.stats().client_disconnects, 1);
    drop(c);
    eventually("disconnect during stall", || {
        server.stats().client_disconnects == 2
    })
    .await;
}

#[tokio::test]
async fn cut_after_ends_the_stream_abruptly() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let mut c = Client::connect(server.addr).await;
    c.send_completion(&chat_stream("m;words=60;cut_after=40", "q", true), &[])
        .await;
    let head = c.read_head().await.unwrap();
    let r = c.read_body(head).await;
    assert!(!r.complete, "no terminating chunk");
    let events = r.events();
    assert!(!events.iter().any(|e| e == "[DONE]"));
    let chunks = chunks_json(&events);
    assert_eq!(chunks.len(), 41, "role chunk + 40 content chunks");
    assert!(chunks
        .iter()
        .all(|c| c["choices"][0]["finish_reason"].is_null()));
    assert!(chunks.iter().all(|c| c["usage"].is_null()));
    let text = streamed_text(&chunks);
    assert_eq!(text.split_whitespace().count(), 40);
    assert!(text.ends_with("w40"));
    eventually("server abort counted", || server.stats().server_aborts == 1).await;

    // cut_mode=rst: the client sees a reset.
    let mut c = Client::connect(server.addr).await;
    c.send_completion(
        &chat_stream("m;words=5;cut_after=2;cut_mode=rst", "q", false),
        &[],
    )
    .await;
    c.read_head().await.unwrap();
    let mut got = 0;
    let end = loop {
        match c.next_chunk().await {
            Ok(Some(_)) => got += 1,
            other => break other,
        }
    };
    assert_eq!(got, 3);
    assert!(
        end.is_err(),
        "connection ended before the terminating chunk"
    );
}

#[tokio::test]
async fn malformed_chunk_then_normal() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let r = completion(
        server.addr,
        chat_stream("m;words=4;malformed_at=2", "q", false),
    )
    .await;
    assert!(r.complete);
    let events = r.events();
    // role, w1, <broken>, w3, w4, finish, [DONE]
    assert_eq!(events.len(), 7);
    assert_eq!(events[2], r#"{"id": broken-json"#);
    assert!(serde_json::from_str::<Value>(&events[2]).is_err());
    let good: Vec<Value> = events
        .iter()
        .filter(|e| e.as_str() != "[DONE]" && !e.contains("broken-json"))
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    assert_eq!(streamed_text(&good), "w1 w3 w4");
    assert_eq!(events.last().unwrap(), "[DONE]");
}

#[tokio::test]
async fn error_after_sends_a_mid_stream_error() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let r = completion(
        server.addr,
        chat_stream("m;words=5;error_after=2", "q", true),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(r.complete);
    let events = r.events();
    assert_eq!(
        events.len(),
        5,
        "role, 2 content, error, [DONE]: {events:?}"
    );
    let error: Value = serde_json::from_str(&events[3]).unwrap();
    assert_eq!(
        error,
        serde_json::json!({"error": {"message": "stream failed after output", "type": "server_error", "param": null, "code": null}})
    );
    assert_eq!(events[4], "[DONE]");
}

#[tokio::test]
async fn no_done_variants() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let r = completion(server.addr, chat_stream("m;words=3;no_done=1", "q", true)).await;
    assert!(r.complete, "body ends cleanly");
    let events = r.events();
    assert!(!events.iter().any(|e| e == "[DONE]"));
    let chunks = chunks_json(&events);
    assert_eq!(
        chunks.last().unwrap()["choices"],
        serde_json::json!([]),
        "usage chunk still sent"
    );

    let mut c = Client::connect(server.addr).await;
    c.send_completion(&chat_stream("m;words=3;no_done=hold", "q", false), &[])
        .await;
    c.read_head().await.unwrap();
    for _ in 0..5 {
        c.next_chunk().await.unwrap().unwrap(); // role, 3 content, finish
    }
    let silent = tokio::time::timeout(Duration::from_millis(100), c.next_chunk()).await;
    assert!(silent.is_err(), "held open, silent");
    drop(c);
    eventually("client left the held stream", || {
        server.stats().client_disconnects == 1
    })
    .await;
}

#[tokio::test]
async fn latency_ttft_and_chunk_delay() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let mut c = Client::connect(server.addr).await;
    let started = Instant::now();
    c.send_completion(
        &chat_stream(
            "m;words=3;latency_ms=80;ttft_ms=120;chunk_delay_ms=40",
            "q",
            false,
        ),
        &[],
    )
    .await;
    c.read_head().await.unwrap();
    let at_headers = started.elapsed();
    c.next_chunk().await.unwrap().unwrap(); // role chunk comes with the headers
    c.next_chunk().await.unwrap().unwrap(); // first content
    let at_first = started.elapsed();
    let r = c.read_body(c_head()).await;
    let at_end = started.elapsed();
    assert!(r.complete);
    assert!(at_headers >= Duration::from_millis(80), "{at_headers:?}");
    assert!(
        at_first - at_headers >= Duration::from_millis(120),
        "{at_first:?}"
    );
    assert!(
        at_end - at_first >= Duration::from_millis(80),
        "2 chunk delays: {at_end:?}"
    );

    // Non-stream: ttft adds to the wait before the headers.
    let started = Instant::now();
    let r = completion(server.addr, chat("m;latency_ms=50;ttft_ms=50", "q")).await;
    assert_eq!(r.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(100));
}

/// A head that makes `read_body` continue a chunked body already under way.
fn c_head() -> Head {
    Head {
        status: 200,
        headers: vec![("transfer-encoding".into(), "chunked".into())],
    }
}
