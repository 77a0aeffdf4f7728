//! The Mistral flavour of `/v1/chat/completions` (`format=mistral`, `x-mock-format: mistral`, or
//! the server default): 422 on OpenAI-only fields, usage on the finish chunk, whole tool calls with
//! 9-char ids, Mistral error bodies, and the shared faults.

mod common;

use common::*;
use serde_json::{json, Value};

async fn mistral(addr: std::net::SocketAddr, body: Value) -> Response {
    completion_with(addr, body, &[("x-mock-format", "mistral")]).await
}

#[tokio::test]
async fn non_stream_body() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let r = mistral(server.addr, chat("mistral-large-latest", "hi")).await;
    assert_eq!(r.status(), 200);
    assert!(r.header("mistral-correlation-id").is_some());
    assert!(r.header("x-ratelimit-limit-tokens-minute").is_some());
    let b = r.json();
    let id = b["id"].as_str().unwrap();
    assert_eq!(id.len(), 32);
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(b["object"], "chat.completion");
    assert_eq!(b["model"], "mistral-large-latest");
    let m = &b["choices"][0]["message"];
    assert_eq!(m["content"], "Mock answer from mistral-large-latest: hi");
    assert!(m["tool_calls"].is_null());
    assert_eq!(b["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        b["usage"],
        json!({"prompt_tokens": 4, "total_tokens": 9, "completion_tokens": 5,
                                  "prompt_tokens_details": {"cached_tokens": 0}})
    );
    assert!(b.get("system_fingerprint").is_none());

    // The option selects the flavour too; tool calls have 9-alphanumeric ids.
    let r = completion(server.addr, chat("m;format=mistral;tool_call=f", "q")).await;
    let call = &r.json()["choices"][0]["message"]["tool_calls"][0];
    let id = call["id"].as_str().unwrap();
    assert_eq!(id.len(), 9);
    assert!(id.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(call["function"]["name"], "f");
    assert_eq!(r.json()["choices"][0]["finish_reason"], "tool_calls");
}

#[tokio::test]
async fn openai_only_fields_are_a_422() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let mut body = chat_stream("m", "q", true);
    body["max_completion_tokens"] = json!(10);
    let r = mistral(server.addr, body).await;
    assert_eq!(r.status(), 422);
    let b = r.json();
    assert_eq!(b["type"], "invalid_request_error");
    let detail = b["detail"].as_array().unwrap();
    assert_eq!(detail.len(), 2);
    assert_eq!(detail[0]["type"], "extra_forbidden");
    assert_eq!(detail[0]["loc"], json!(["body", "stream_options"]));
    assert_eq!(detail[1]["loc"], json!(["body", "max_completion_tokens"]));
    assert!(b["message"].is_array());
    // The same body is fine for OpenAI.
    let mut body = chat_stream("m", "q", true);
    body["max_completion_tokens"] = json!(10);
    assert_eq!(completion(server.addr, body).await.status(), 200);
}

#[tokio::test]
async fn stream_has_usage_on_the_finish_chunk() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let r = mistral(server.addr, chat_stream("m;words=3", "a b", false)).await;
    assert!(r.complete);
    let events = r.events();
    assert_eq!(events.last().unwrap(), "[DONE]");
    let chunks = chunks_json(&events);
    assert_eq!(chunks.len(), 5); // role, 3 content, finish
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": ""})
    );
    assert_eq!(streamed_text(&chunks), "w1 w2 w3");
    let finish = &chunks[4];
    assert_eq!(finish["choices"][0]["delta"], json!({"content": ""}));
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        finish["usage"],
        json!({"prompt_tokens": 5, "total_tokens": 8, "completion_tokens": 3})
    );
    // No separate usage chunk, no obfuscation, usage only on the finish chunk.
    assert!(chunks
        .iter()
        .all(|c| !c["choices"].as_array().unwrap().is_empty()));
    assert!(chunks[..4].iter().all(|c| c.get("usage").is_none()));
    assert!(chunks.iter().all(|c| c.get("obfuscation").is_none()));
}

#[tokio::test]
async fn stream_tool_calls() {
    let server = polyfuse_mock_server::start().await.unwrap();
    // Default: whole calls in one chunk, with the finish and usage (vercel_mistral-tool-call).
    let r = mistral(server.addr, chat_stream("m;tool_call=a,b", "q", false)).await;
    let chunks = chunks_json(&r.events());
    assert_eq!(chunks.len(), 2);
    let c = &chunks[1]["choices"][0];
    assert_eq!(c["finish_reason"], "tool_calls");
    assert!(chunks[1]["usage"]["completion_tokens"].as_u64().unwrap() > 0);
    let calls = c["delta"]["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 2);
    for (call, name) in calls.iter().zip(["a", "b"]) {
        assert_eq!(call["id"].as_str().unwrap().len(), 9);
        assert_eq!(call["function"]["name"], name);
        let args: Value =
            serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(args["city"], "Paris");
    }

    // With chunks=N: incremental deltas with index, which assemble to valid JSON.
    let r = mistral(
        server.addr,
        chat_stream("m;tool_call=a;chunks=4", "q", false),
    )
    .await;
    let chunks = chunks_json(&r.events());
    let mut args = String::new();
    for c in &chunks {
        if let Some(calls) = c.pointer("/choices/0/delta/tool_calls") {
            assert_eq!(calls[0]["index"], 0);
            args.push_str(calls[0]["function"]["arguments"].as_str().unwrap());
        }
    }
    assert_eq!(
        serde_json::from_str::<Value>(&args).unwrap()["unit"],
        "celsius"
    );
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "tool_calls"
    );

    // A fault at the end: the call chunk without the finish, then the cut.
    let r = mistral(
        server.addr,
        chat_stream("m;tool_call=a;cut_after=1", "q", false),
    )
    .await;
    assert!(!r.complete);
    let chunks = chunks_json(&r.events());
    assert_eq!(chunks.len(), 2);
    assert!(chunks[1]["choices"][0]["finish_reason"].is_null());
    assert!(chunks[1].get("usage").is_none());
}

#[tokio::test]
async fn errors_and_faults() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let r = mistral(server.addr, chat("m;status=429;retry_after=2", "q")).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.header("retry-after"), Some("2"));
    assert_eq!(
        r.json(),
        json!({"object": "error", "message": "Rate limit exceeded", "type": "rate_limited",
               "param": null, "code": "1300"})
    );
    // A bad key: Mistral's 401, echoing nothing of the key.
    let mut client = Client::connect(server.addr).await;
    client
        .send(
            "POST",
            "/v1/chat/completions",
            &[
                ("authorization", "Bearer bad-SECRET"),
                ("x-mock-format", "mistral"),
            ],
            chat("m", "q").to_string().as_bytes(),
        )
        .await
        .unwrap();
    let r = client.read_response().await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.json()["message"], "Unauthorized");
    assert!(!r.text().contains("SECRET"));

    let r = mistral(server.addr, chat("m;error=model_not_found", "q")).await;
    assert_eq!(r.status(), 404);
    assert_eq!(r.json(), json!({"detail": "Not Found"}));

    // error_after: a Mistral error object, then [DONE].
    let r = mistral(
        server.addr,
        chat_stream("m;words=4;error_after=2", "q", false),
    )
    .await;
    let events = r.events();
    assert_eq!(events.last().unwrap(), "[DONE]");
    let err: Value = serde_json::from_str(&events[events.len() - 2]).unwrap();
    assert_eq!(err["object"], "error");
    assert_eq!(
        streamed_text(&chunks_json(&events[..events.len() - 2])),
        "w1 w2"
    );

    // cut_after mid-stream.
    let r = mistral(
        server.addr,
        chat_stream("m;words=4;cut_after=2", "q", false),
    )
    .await;
    assert!(!r.complete);
    assert_eq!(streamed_text(&chunks_json(&r.events())), "w1 w2");
}

#[tokio::test]
async fn server_level_default_and_bad_format() {
    let server = polyfuse_mock_server::start().await.unwrap();
    server.set_flavour(polyfuse_mock_server::Flavour::Mistral);
    let r = completion(server.addr, chat("m", "q")).await;
    assert_eq!(r.json()["id"].as_str().unwrap().len(), 32);
    // A request can still choose OpenAI.
    let r = completion(server.addr, chat("m;format=openai", "q")).await;
    assert!(r.json()["id"].as_str().unwrap().starts_with("chatcmpl-"));
    server.set_flavour(polyfuse_mock_server::Flavour::OpenAi);

    let r = completion(server.addr, chat("m;format=gemini", "q")).await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json()["error"]["code"], "mock_bad_option");
    let r = completion_with(server.addr, chat("m", "q"), &[("x-mock-format", "nope")]).await;
    assert_eq!(r.status(), 400);
}
