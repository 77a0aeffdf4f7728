//! Anthropic Messages (`POST /v1/messages`): auth and required headers/fields, body shapes, the
//! named-event stream (text and tool_use with input_json_delta), errors (429 with retry-after, 529,
//! context length) and stream faults (cut_after, error_after, malformed_at).

mod common;

use common::*;
use serde_json::{json, Value};

const PATH: &str = "/v1/messages";
const KEY: &str = "sk-ant-test";

fn msg(model: &str, user: &str) -> Value {
    json!({"model": model, "max_tokens": 256, "messages": [{"role": "user", "content": user}]})
}

fn stream_msg(model: &str, user: &str) -> Value {
    let mut b = msg(model, user);
    b["stream"] = json!(true);
    b
}

async fn call(addr: std::net::SocketAddr, body: Value) -> Response {
    post(
        addr,
        PATH,
        &[("x-api-key", KEY), ("anthropic-version", "2023-06-01")],
        &body,
    )
    .await
}

fn events(r: &Response) -> Vec<(String, Value)> {
    sse_events(&r.text(), "\n\n")
        .into_iter()
        .map(|(name, data)| {
            let v: Value = serde_json::from_str(&data).unwrap_or_else(|e| panic!("{data}: {e}"));
            (name, v)
        })
        .collect()
}

#[tokio::test]
async fn non_stream_text_body() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let r = call(
        server.addr,
        msg("claude-sonnet-4-5;cached_tokens=100", "hello there"),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(r.header("request-id").unwrap().starts_with("req_"));
    assert!(r.header("anthropic-ratelimit-requests-limit").is_some());
    let b = r.json();
    assert!(b["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(b["type"], "message");
    assert_eq!(b["role"], "assistant");
    assert_eq!(b["model"], "claude-sonnet-4-5");
    assert_eq!(b["content"][0]["type"], "text");
    assert_eq!(
        b["content"][0]["text"],
        "Mock answer from claude-sonnet-4-5: hello there"
    );
    assert_eq!(b["stop_reason"], "end_turn");
    assert!(b["stop_sequence"].is_null());
    let u = &b["usage"];
    // Prompt = max(2 words + 3, 100 cached) = 100; Anthropic's input_tokens EXCLUDES the cached.
    assert_eq!(u["input_tokens"], 0);
    assert_eq!(u["cache_read_input_tokens"], 100);
    assert_eq!(u["cache_creation_input_tokens"], 0);
    assert_eq!(u["output_tokens"], 6);

    let r = call(server.addr, msg("c;cached_tokens=10;prompt_tokens=50", "x")).await;
    assert_eq!(r.json()["usage"]["input_tokens"], 40);
}

#[tokio::test]
async fn auth_version_and_required_fields() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let body = msg("c", "q");
    let r = post(
        server.addr,
        PATH,
        &[("anthropic-version", "2023-06-01")],
        &body,
    )
    .await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.json()["type"], "error");
    assert_eq!(r.json()["error"]["type"], "authentication_error");

    let r = post(
        server.addr,
        PATH,
        &[
            ("x-api-key", "sk-ant-bad-SECRET"),
            ("anthropic-version", "2023-06-01"),
        ],
        &body,
    )
    .await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.json()["error"]["message"], "invalid x-api-key");
    assert!(!r.text().contains("SECRET"), "the key must not be echoed");
    assert!(r.json()["request_id"].as_str().unwrap().starts_with("req_"));

    let r = post(server.addr, PATH, &[("x-api-key", KEY)], &body).await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json()["error"]["type"], "invalid_request_error");
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("anthropic-version"));

    let r = call(server.addr, json!({"model": "c", "messages": []})).await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json()["error"]["type"], "invalid_request_error");
    assert_eq!(r.json()["error"]["message"], "max_tokens: Field required");

    let r = call(server.addr, msg("c;bogus=1", "q")).await;
    assert_eq!(r.status(), 400);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("polyfuse-mock-server"));
}

#[tokio::test]
async fn stream_named_events() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let r = call(server.addr, stream_msg("claude;words=3", "q")).await;
    assert_eq!(r.status(), 200);
    assert!(r.complete);
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("text/event-stream"));
    let ev = events(&r);
    let names: Vec<&str> = ev.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    // Every data payload carries its own event name as `type`.
    for (name, data) in &ev {
        assert_eq!(data["type"], name.as_str());
    }
    assert!(!r.text().contains("[DONE]"));
    let start = &ev[0].1["message"];
    assert!(start["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(start["content"], json!([]));
    assert_eq!(start["usage"]["output_tokens"], 1);
    let text: String = ev
        .iter()
        .filter(|(n, _)| n == "content_block_delta")
        .map(|(_, d)| {
            assert_eq!(d["delta"]["type"], "text_delta");
            d["delta"]["text"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(text, "w1 w2 w3");
    let delta = &ev[7].1;
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert_eq!(delta["usage"]["output_tokens"], 3);
}

#[tokio::test]
async fn tool_use_streams_to_valid_json() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let mut body = stream_msg("claude;tools=1;tool_calls=2", "weather?");
    body["tools"] = json!([
        {"name": "get_weather", "input_schema": {"type": "object"}},
        {"name": "get_time", "input_schema": {"type": "object"}}
    ]);
    let r = call(server.addr, body.clone()).await;
    let ev = events(&r);
    let mut blocks: Vec<(String, String, String)> = Vec::new(); // id, name, json
    let mut open = None;
    for (name, d) in &ev {
        match name.as_str() {
            "content_block_start" => {
                assert!(open.is_none(), "blocks must not overlap");
                let b = &d["content_block"];
                assert_eq!(b["type"], "tool_use");
                assert_eq!(b["input"], json!({}));
                assert_eq!(d["index"].as_u64().unwrap() as usize, blocks.len());
                blocks.push((
                    b["id"].as_str().unwrap().to_owned(),
                    b["name"].as_str().unwrap().to_owned(),
                    String::new(),
                ));
                open = Some(blocks.len() - 1);
            }
            "content_block_delta" => {
                assert_eq!(d["delta"]["type"], "input_json_delta");
                assert_eq!(d["index"].as_u64().unwrap() as usize, open.unwrap());
                blocks[open.unwrap()]
                    .2
                    .push_str(d["delta"]["partial_json"].as_str().unwrap());
            }
            "content_block_stop" => {
                assert_eq!(d["index"].as_u64().unwrap() as usize, open.take().unwrap());
            }
            "message_delta" => assert_eq!(d["delta"]["stop_reason"], "tool_use"),
            _ => {}
        }
    }
    assert_eq!(blocks.len(), 2);
    assert_eq!(blocks[0].1, "get_weather");
    assert_eq!(blocks[1].1, "get_time");
    for (id, _, input) in &blocks {
        assert!(id.starts_with("toolu_"));
        let v: Value = serde_json::from_str(input).unwrap();
        assert_eq!(v, json!({"city": "Paris", "unit": "celsius"}));
    }

    // Non-stream: tool_use blocks with parsed input.
    body["stream"] = json!(false);
    let b = call(server.addr, body).await.json();
    assert_eq!(b["stop_reason"], "tool_use");
    assert_eq!(b["content"][1]["type"], "tool_use");
    assert_eq!(b["content"][1]["input"]["city"], "Paris");
}

#[tokio::test]
async fn errors_have_anthropic_bodies() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let r = call(
        server.addr,
        stream_msg("c;status=429;retry_after=3;should_retry=true", "q"),
    )
    .await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.header("retry-after"), Some("3"));
    assert_eq!(r.header("x-should-retry"), Some("true"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    let b = r.json();
    assert_eq!(b["type"], "error");
    assert_eq!(b["error"]["type"], "rate_limit_error");
    assert!(b["request_id"].as_str().unwrap().starts_with("req_"));

    let cases = [
        ("error=overloaded", 529, "overloaded_error"),
        ("status=529", 529, "overloaded_error"),
        ("status=500", 500, "api_error"),
        ("status=400", 400, "invalid_request_error"),
        ("error=invalid_api_key", 401, "authentication_error"),
        ("error=model_not_found", 404, "not_found_error"),
        ("error=insufficient_quota", 400, "invalid_request_error"),
    ];
    for (opts, status, kind) in cases {
        let r = call(server.addr, msg(&format!("c;{opts}"), "q")).await;
        assert_eq!(r.status(), status, "{opts}");
        assert_eq!(r.json()["error"]["type"], kind, "{opts}");
    }
    let r = call(server.addr, msg("c;error=context_length_exceeded", "q")).await;
    assert_eq!(r.status(), 400);
    let m = r.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(
        m.starts_with("prompt is too long: ") && m.ends_with(" maximum"),
        "{m}"
    );

    // fail_times works here too.
    for expected in [529, 529, 200] {
        let r = call(
            server.addr,
            msg("c;error=overloaded;fail_times=2;key=a", "q"),
        )
        .await;
        assert_eq!(r.status(), expected);
    }
}

#[tokio::test]
async fn stream_faults() {
    let server = polyfuse_mock_server::start().await.unwrap();
    // cut_after: two text deltas, then the connection ends mid-body.
    let r = call(server.addr, stream_msg("c;words=5;cut_after=2", "q")).await;
    assert!(!r.complete);
    let ev = events(&r);
    assert_eq!(
        ev.iter()
            .filter(|(n, _)| n == "content_block_delta")
            .count(),
        2
    );
    assert!(ev.iter().all(|(n, _)| n != "message_stop"));
    eventually("cut counted", || server.stats().server_aborts == 1).await;

    // error_after: `event: error` (stream_error_midstream_overloaded.sse), body ends cleanly.
    let r = call(server.addr, stream_msg("c;words=5;error_after=1", "q")).await;
    assert_eq!(r.status(), 200);
    assert!(r.complete);
    let ev = events(&r);
    let (name, data) = ev.last().unwrap();
    assert_eq!(name, "error");
    assert_eq!(data["type"], "error");
    assert_eq!(data["error"]["type"], "overloaded_error");
    assert_eq!(data["error"]["message"], "Overloaded");
    assert_eq!(
        ev.iter()
            .filter(|(n, _)| n == "content_block_delta")
            .count(),
        1
    );

    // error_after counts tool deltas, not block boundaries.
    let r = call(
        server.addr,
        stream_msg("c;tool_call=f,g;chunks=2;error_after=4", "q"),
    )
    .await;
    let names: Vec<String> = sse_events(&r.text(), "\n\n")
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert_eq!(
        names,
        [
            "message_start",
            "ping",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "error"
        ]
    );

    // malformed_at: one broken data line, the rest intact.
    let r = call(server.addr, stream_msg("c;words=3;malformed_at=2", "q")).await;
    assert!(r.complete);
    assert!(r.text().contains("data: {\"type\": broken-json\n\n"));
    assert!(r.text().contains("event: message_stop"));
}
