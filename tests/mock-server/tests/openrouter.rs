//! The OpenRouter flavour of the Chat Completions endpoint (`format=openrouter`, the
//! `x-mock-format` header, or the path `/api/v1/chat/completions`): processing comments,
//! `provider`, `native_finish_reason`, `usage.cost`, 402 out of credits, mid-stream error chunks.

mod common;

use common::*;
use serde_json::Value;

async fn openrouter(addr: std::net::SocketAddr, body: Value) -> Response {
    post(
        addr,
        "/api/v1/chat/completions",
        &[("authorization", "Bearer sk-or-test")],
        &body,
    )
    .await
}

#[tokio::test]
async fn non_stream_body() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let r = openrouter(
        server.addr,
        chat(
            "anthropic/claude-sonnet-4.5;cost=0.0042;cached_tokens=3",
            "hi",
        ),
    )
    .await;
    assert_eq!(r.status(), 200);
    let b = r.json();
    assert!(b["id"].as_str().unwrap().starts_with("gen-"));
    assert_eq!(b["provider"], "Anthropic");
    assert_eq!(b["model"], "anthropic/claude-sonnet-4.5");
    let c = &b["choices"][0];
    assert_eq!(c["finish_reason"], "stop");
    assert_eq!(c["native_finish_reason"], "stop");
    assert_eq!(
        c["message"]["content"],
        "Mock answer from anthropic/claude-sonnet-4.5: hi"
    );
    assert_eq!(b["usage"]["cost"], 0.0042);
    assert_eq!(b["usage"]["prompt_tokens_details"]["cached_tokens"], 3);
    assert_eq!(b["usage"]["is_byok"], false);
    // The header selects it on the OpenAI path too.
    let r = completion_with(
        server.addr,
        chat("openai/gpt-4o", "q"),
        &[("x-mock-format", "openrouter")],
    )
    .await;
    assert_eq!(r.json()["provider"], "OpenAI");
    assert!(r.json()["usage"]["cost"].as_f64().unwrap() > 0.0);
}

#[tokio::test]
async fn stream_comments_and_usage_chunk() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let r = openrouter(server.addr, chat_stream("x-ai/grok-4;words=2", "q", true)).await;
    assert!(r.complete);
    let events = sse_events(&r.text(), "\n\n");
    assert_eq!(
        events[0],
        (":".to_owned(), "OPENROUTER PROCESSING".to_owned())
    );
    let first_data = events.iter().position(|(n, _)| n != ":").unwrap();
    assert!(first_data >= 1);
    assert_eq!(events.last().unwrap().1, "[DONE]");
    let chunks: Vec<Value> = events
        .iter()
        .filter(|(n, d)| n != ":" && d != "[DONE]")
        .map(|(_, d)| serde_json::from_str(d).unwrap())
        .collect();
    assert!(chunks.iter().all(|c| c["provider"] == "xAI"));
    assert!(chunks
        .iter()
        .all(|c| c["choices"][0].get("native_finish_reason").is_some()));
    assert_eq!(streamed_text(&chunks), "w1 w2");
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    let usage = chunks.last().unwrap();
    // The usage chunk's choices are NOT empty (pai_stream_reasoning_claude).
    assert_eq!(usage["choices"].as_array().unwrap().len(), 1);
    assert!(usage["usage"]["cost"].as_f64().unwrap() > 0.0);
    assert_eq!(usage["usage"]["completion_tokens"], 2);
}

#[tokio::test]
async fn tool_call_stream_assembles() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let r = openrouter(
        server.addr,
        chat_stream("openai/gpt-4o;tool_call=f;chunks=3", "q", false),
    )
    .await;
    let chunks = chunks_json(
        &sse_events(&r.text(), "\n\n")
            .into_iter()
            .filter(|(n, _)| n != ":")
            .map(|(_, d)| d)
            .collect::<Vec<_>>(),
    );
    let mut args = String::new();
    for c in &chunks {
        if let Some(calls) = c.pointer("/choices/0/delta/tool_calls") {
            args.push_str(calls[0]["function"]["arguments"].as_str().unwrap());
        }
    }
    assert_eq!(
        serde_json::from_str::<Value>(&args).unwrap()["city"],
        "Paris"
    );
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "tool_calls"
    );
}

#[tokio::test]
async fn errors() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let r = openrouter(server.addr, chat("m;error=insufficient_credits", "q")).await;
    assert_eq!(r.status(), 402);
    assert_eq!(r.json()["error"]["code"], 402);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Insufficient credits"));

    let r = openrouter(
        server.addr,
        chat("google/gemini;status=429;retry_after=5", "q"),
    )
    .await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.header("retry-after"), Some("5"));
    let e = &r.json()["error"];
    assert_eq!(e["code"], 429);
    assert_eq!(e["message"], "Provider returned error");
    assert_eq!(e["metadata"]["provider_name"], "Google");

    let r = post(
        server.addr,
        "/api/v1/chat/completions",
        &[],
        &chat("m", "q"),
    )
    .await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.json()["error"]["code"], 401);

    // Mid-stream error: a chunk with a top-level `error`, HTTP 200, then [DONE].
    let r = openrouter(
        server.addr,
        chat_stream("m;words=3;error_after=1", "q", false),
    )
    .await;
    assert_eq!(r.status(), 200);
    let data: Vec<String> = sse_events(&r.text(), "\n\n")
        .into_iter()
        .filter(|(n, _)| n != ":")
        .map(|(_, d)| d)
        .collect();
    assert_eq!(data.last().unwrap(), "[DONE]");
    let err: Value = serde_json::from_str(&data[data.len() - 2]).unwrap();
    assert_eq!(err["error"]["code"], 502);
    assert_eq!(err["object"], "chat.completion.chunk");

    let r = openrouter(
        server.addr,
        chat_stream("m;words=3;cut_after=1", "q", false),
    )
    .await;
    assert!(!r.complete);
}
