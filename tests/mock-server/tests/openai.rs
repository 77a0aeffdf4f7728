//! Wire-format tests for `POST /v1/chat/completions`: non-stream shape, stream framing with and
//! without usage, tool calls, auth, scripting sources, keep-alive, control endpoints, concurrency.

mod common;

use common::*;
use serde_json::{json, Value};

#[tokio::test]
async fn non_stream_body_headers_and_usage() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let body = json!({
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": [{"type": "text", "text": "Hello there"}, {"type": "text", "text": "friend"}]},
        ],
    });
    let r = completion(server.addr, body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(r.header("x-request-id").unwrap().starts_with("req_"));
    assert!(r
        .header("openai-processing-ms")
        .unwrap()
        .parse::<u64>()
        .is_ok());
    assert_eq!(r.header("x-ratelimit-limit-requests"), Some("5000"));
    assert_eq!(r.header("x-ratelimit-remaining-requests"), Some("4999"));
    assert_eq!(r.header("x-ratelimit-reset-requests"), Some("12ms"));
    let v = r.json();
    assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(v["object"], "chat.completion");
    assert!(v["created"].as_u64().unwrap() > 1_700_000_000);
    assert_eq!(v["model"], "gpt-4o-mini");
    assert!(v["system_fingerprint"].as_str().unwrap().starts_with("fp_"));
    let choice = &v["choices"][0];
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(
        choice["message"]["content"],
        "Mock answer from gpt-4o-mini: Hello there friend"
    );
    assert!(choice["message"]["refusal"].is_null());
    assert!(choice["message"].get("tool_calls").is_none());
    assert!(choice["logprobs"].is_null());
    assert_eq!(choice["finish_reason"], "stop");
    // 3 + 3 words, + 3 per message; answer = 7 words.
    let u = &v["usage"];
    assert_eq!(
        (
            u["prompt_tokens"].as_u64(),
            u["completion_tokens"].as_u64(),
            u["total_tokens"].as_u64()
        ),
        (Some(12), Some(7), Some(19))
    );
    assert_eq!(
        u["prompt_tokens_details"],
        json!({"cached_tokens": 0, "audio_tokens": 0})
    );
    assert_eq!(u["completion_tokens_details"]["reasoning_tokens"], 0);

    let again = completion(server.addr, chat("gpt-4o-mini", "x"))
        .await
        .json();
    assert_ne!(again["id"], v["id"], "ids are unique per request");
}

#[tokio::test]
async fn scripted_text_words_and_usage_overrides() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let v = completion(server.addr, chat("m;text=Hi%20there%3B%20you", "q"))
        .await
        .json();
    assert_eq!(v["model"], "m");
    assert_eq!(v["choices"][0]["message"]["content"], "Hi there; you");
    let v = completion(
        server.addr,
        chat(
            "m;words=5;prompt_tokens=100;cached_tokens=40;reasoning_tokens=8;finish=length",
            "q",
        ),
    )
    .await
    .json();
    assert_eq!(v["choices"][0]["message"]["content"], "w1 w2 w3 w4 w5");
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    let u = &v["usage"];
    assert_eq!(u["prompt_tokens"], 100);
    assert_eq!(u["prompt_tokens_details"]["cached_tokens"], 40);
    assert_eq!(
        u["completion_tokens"], 13,
        "reasoning is part of completion"
    );
    assert_eq!(u["completion_tokens_details"]["reasoning_tokens"], 8);
    assert_eq!(u["total_tokens"], 113);
}

#[tokio::test]
async fn header_options_win_over_model_options() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let r = completion_with(
        server.addr,
        chat("m;text=from-model;status=500", "q"),
        &[("x-mock", "text=from-header;status=429")],
    )
    .await;
    assert_eq!(r.status(), 429);
    let r = completion_with(
        server.addr,
        chat("m;text=from-model", "q"),
        &[("x-mock", "text=from-header")],
    )
    .await;
    assert_eq!(r.json()["choices"][0]["message"]["content"], "from-header");
    let r = completion(server.addr, chat("m;no_such_option=1", "q")).await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json()["error"]["code"], "mock_bad_option");
}

fn assert_one_event_per_http_chunk(r: &Response) {
    assert!(r.head.is_chunked());
    assert!(r.complete, "terminating chunk received");
    for chunk in &r.chunks {
        let text = std::str::from_utf8(chunk).unwrap();
        assert!(
            text.starts_with("data: ") && text.ends_with("\n\n"),
            "{text:?}"
        );
        assert_eq!(
            text.matches("\n\n").count(),
            1,
            "one event per chunk: {text:?}"
        );
    }
}

#[tokio::test]
async fn stream_without_usage() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let r = completion(
        server.addr,
        chat_stream("gpt-4o-mini", "Hello there", false),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/event-stream; charset=utf-8")
    );
    assert!(r.header("x-request-id").is_some());
    assert!(r.header("openai-processing-ms").is_some());
    assert!(r.header("x-ratelimit-limit-requests").is_some());
    assert_one_event_per_http_chunk(&r);
    let events = r.events();
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let chunks = chunks_json(&events);
    let first = &chunks[0];
    assert_eq!(
        first["choices"][0]["delta"],
        json!({"role": "assistant", "content": "", "refusal": null})
    );
    for c in &chunks {
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["id"], first["id"]);
        assert_eq!(c["model"], "gpt-4o-mini");
        assert!(
            c.get("usage").is_none(),
            "no usage field without include_usage: {c}"
        );
    }
    let content: Vec<&str> = chunks[1..chunks.len() - 1]
        .iter()
        .map(|c| c["choices"][0]["delta"]["content"].as_str().unwrap())
        .collect();
    assert_eq!(
        content,
        [
            "Mock",
            " answer",
            " from",
            " gpt-4o-mini:",
            " Hello",
            " there"
        ]
    );
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"][0]["delta"], json!({}));
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
}

#[tokio::test]
async fn stream_with_include_usage() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let r = completion(server.addr, chat_stream("m;chunks=2", "a b c", true)).await;
    assert_one_event_per_http_chunk(&r);
    let events = r.events();
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let chunks = chunks_json(&events);
    // role, 2 content, finish, usage
    assert_eq!(chunks.len(), 5);
    assert_eq!(streamed_text(&chunks), "Mock answer from m: a b c");
    let (usage_chunk, rest) = chunks.split_last().unwrap();
    for c in rest {
        assert!(
            c["usage"].is_null() && c.get("usage").is_some(),
            "usage:null on {c}"
        );
        assert!(c["obfuscation"].is_string());
    }
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(usage_chunk["usage"]["prompt_tokens"], 6);
    assert_eq!(usage_chunk["usage"]["completion_tokens"], 7);
    assert_eq!(usage_chunk["usage"]["total_tokens"], 13);
}

#[tokio::test]
async fn tool_call_non_stream() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let v = completion(server.addr, chat("m;tool_call=get_weather", "q"))
        .await
        .json();
    let message = &v["choices"][0]["message"];
    assert!(message["content"].is_null());
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    let call = &message["tool_calls"][0];
    assert!(call["id"].as_str().unwrap().starts_with("call_"));
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_weather");
    let args: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, json!({"city": "Paris", "unit": "celsius"}));
    // 33 characters of arguments / 4, rounded up.
    assert_eq!(v["usage"]["completion_tokens"], 9);
}

/// Accumulates streamed tool-call deltas by index, as a client must.
fn accumulate_tool_calls(chunks: &[Value]) -> Vec<(String, String, String)> {
    let mut calls: Vec<(String, String, String)> = Vec::new();
    for c in chunks {
        let Some(deltas) = c
            .pointer("/choices/0/delta/tool_calls")
            .and_then(Value::as_array)
        else {
            continue;
        };
        for d in deltas {
            let i = d["index"].as_u64().unwrap() as usize;
            if let Some(id) = d["id"].as_str() {
                assert_eq!(i, calls.len(), "a call opens once, in order");
                assert_eq!(d["type"], "function");
                assert_eq!(d["function"]["arguments"], "");
                calls.push((
                    id.to_owned(),
                    d["function"]["name"].as_str().unwrap().to_owned(),
                    String::new(),
                ));
            } else {
                assert!(d.get("type").is_none() && d["function"].get("name").is_none());
                calls[i]
                    .2
                    .push_str(d["function"]["arguments"].as_str().unwrap());
            }
        }
    }
    calls
}

#[tokio::test]
async fn tool_call_stream_deltas_concatenate_to_json() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let args = r#"{"q":"a;b","n":[1,2,3]}"#;
    let model = format!("m;tool_call=search;tool_args={}", args.replace(';', "%3B"));
    let r = completion(server.addr, chat_stream(&model, "q", true)).await;
    let chunks = chunks_json(&r.events());
    // Single call: the role rides on the first tool-call delta, as recorded.
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert!(chunks[0]["choices"][0]["delta"]["content"].is_null());
    let calls = accumulate_tool_calls(&chunks);
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].1, "search");
    assert_eq!(calls[0].2, args);
    let fragments = chunks.len() - 3; // opening delta, finish, usage
    assert!(fragments > 3, "arguments arrive in several fragments");
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "tool_calls");

    // Parallel calls on the request's own tools.
    let mut body = chat_stream("m;tools=1;tool_calls=2", "q", false);
    body["tools"] = json!([
        {"type": "function", "function": {"name": "get_weather", "parameters": {}}},
        {"type": "function", "function": {"name": "get_time", "parameters": {}}},
    ]);
    let r = completion(server.addr, body).await;
    let chunks = chunks_json(&r.events());
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": null})
    );
    let calls = accumulate_tool_calls(&chunks);
    let names: Vec<&str> = calls.iter().map(|c| c.1.as_str()).collect();
    assert_eq!(names, ["get_weather", "get_time"]);
    assert_ne!(calls[0].0, calls[1].0);
    for call in &calls {
        serde_json::from_str::<Value>(&call.2).expect("arguments are valid JSON");
    }
}

#[tokio::test]
async fn auth_errors() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let mut c = Client::connect(server.addr).await;
    c.send(
        "POST",
        "/v1/chat/completions",
        &[],
        chat("m", "q").to_string().as_bytes(),
    )
    .await
    .unwrap();
    let r = c.read_response().await;
    assert_eq!(r.status(), 401);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("didn't provide an API key"));

    for key in ["bad-key-123", "sk-bad-0042"] {
        let mut c = Client::connect(server.addr).await;
        let auth = format!("Bearer {key}");
        c.send(
            "POST",
            "/v1/chat/completions",
            &[("authorization", &auth)],
            b"{}",
        )
        .await
        .unwrap();
        let r = c.read_response().await;
        assert_eq!(r.status(), 401);
        let e = &r.json()["error"];
        assert_eq!(
            e["message"],
            format!("Incorrect API key provided: {key}. You can find your API key at https://platform.openai.com/account/api-keys.")
        );
        assert_eq!(e["type"], "invalid_request_error");
        assert!(e["param"].is_null());
        assert_eq!(e["code"], "invalid_api_key");
    }
}

#[tokio::test]
async fn unknown_path_and_invalid_json() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let r = get(server.addr, "/v1/nope").await;
    assert_eq!(r.status(), 404);
    let e = &r.json()["error"];
    assert_eq!(e["code"], "unknown_url");
    assert!(e["message"]
        .as_str()
        .unwrap()
        .starts_with("Unknown request URL: GET /v1/nope."));

    let mut c = Client::connect(server.addr).await;
    let auth = format!("Bearer {KEY}");
    c.send(
        "POST",
        "/v1/chat/completions",
        &[("authorization", &auth)],
        b"{not json",
    )
    .await
    .unwrap();
    let r = c.read_response().await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json()["error"]["type"], "invalid_request_error");
}

#[tokio::test]
async fn keep_alive_and_chunked_request_body() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let mut c = Client::connect(server.addr).await;
    for i in 0..3 {
        c.send_completion(&chat("m", &format!("turn {i}")), &[])
            .await;
        let r = c.read_response().await;
        assert_eq!(
            r.json()["choices"][0]["message"]["content"],
            format!("Mock answer from m: turn {i}")
        );
    }
    c.send_completion(&chat_stream("m", "streamed", true), &[])
        .await;
    let r = c.read_response().await;
    assert!(r.complete);
    // A chunked request body on the same connection.
    let body = chat("m", "chunked body").to_string();
    let (a, b) = body.split_at(10);
    let req = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: mock\r\nauthorization: Bearer {KEY}\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x};ext=1\r\n{b}\r\n0\r\nx-trailer: 1\r\n\r\n",
        a.len(),
        b.len()
    );
    tokio::io::AsyncWriteExt::write_all(&mut c.stream, req.as_bytes())
        .await
        .unwrap();
    let r = c.read_response().await;
    assert_eq!(
        r.json()["choices"][0]["message"]["content"],
        "Mock answer from m: chunked body"
    );
    let stats = server.stats();
    assert_eq!(stats.connections, 1);
    assert_eq!(stats.requests, 5);
    assert_eq!(stats.completed, 5);
}

#[tokio::test]
async fn control_endpoints_stats_requests_reset() {
    let server = polyfuse_mock_server::start().await.unwrap();
    completion(server.addr, chat("m;key=alpha", "q")).await;
    completion(server.addr, chat("m;key=alpha", "q")).await;
    completion(server.addr, chat("plain", "q")).await;
    let stats: polyfuse_mock_server::Stats =
        serde_json::from_slice(&get(server.addr, "/_mock/stats").await.body).unwrap();
    assert_eq!(stats, server.stats());
    assert_eq!(stats.requests, 3);
    assert_eq!(stats.completed, 3);
    assert_eq!(stats.in_flight, 0);
    assert_eq!(stats.connections, 3, "control connections are not counted");
    assert_eq!(stats.by_key.get("alpha"), Some(&2));
    assert_eq!(stats.by_key.get("plain"), Some(&1));

    let log = get(server.addr, "/_mock/requests").await.json();
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 3);
    assert_eq!(log[0]["headers"]["authorization"], "Bearer <redacted>");
    assert_eq!(log[0]["body"]["model"], "m;key=alpha");
    assert!(!Value::Array(log.clone()).to_string().contains(KEY));

    let mut c = Client::connect(server.addr).await;
    c.send("POST", "/_mock/reset", &[], b"").await.unwrap();
    assert_eq!(c.read_response().await.status(), 200);
    let stats = server.stats();
    assert_eq!(
        (stats.requests, stats.completed, stats.connections),
        (0, 0, 0)
    );
    assert!(stats.by_key.is_empty());
    assert!(server.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_connections() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let addr = server.addr;
    // 1,000 exchanges open at the same time (hanging until their clients leave).
    let opening: Vec<_> = (0..1000)
        .map(|_| {
            tokio::spawn(async move {
                let mut c = Client::connect(addr).await;
                c.send_completion(&chat("m;hang=1", "q"), &[]).await;
                c
            })
        })
        .collect();
    let mut clients = Vec::new();
    for task in opening {
        clients.push(task.await.unwrap());
    }
    eventually("1000 exchanges in flight", || {
        server.stats().in_flight == 1000
    })
    .await;
    assert_eq!(server.stats().open_connections, 1000);
    drop(clients);
    eventually("1000 disconnects seen", || {
        let s = server.stats();
        s.client_disconnects == 1000 && s.in_flight == 0 && s.open_connections == 0
    })
    .await;

    // 1,000 concurrent complete exchanges, half of them streamed.
    let tasks: Vec<_> = (0..1000)
        .map(|i| {
            tokio::spawn(async move {
                let body = if i % 2 == 0 {
                    chat("m", "q")
                } else {
                    chat_stream("m;chunks=2", "q", true)
                };
                let r = completion(addr, body).await;
                assert_eq!(r.status(), 200);
                assert!(r.complete);
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let stats = server.stats();
    assert_eq!((stats.requests, stats.completed), (2000, 1000));
    assert_eq!(stats.connections, 2000);
}
