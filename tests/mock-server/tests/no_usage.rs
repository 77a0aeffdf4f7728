//! `usage=0`: no usage at all in any format, streamed or not (no usage chunk even with
//! `stream_options.include_usage`, no `usage` on Mistral's finish chunk, Anthropic's
//! `message_start` / `message_delta` without `usage`, no Gemini `usageMetadata`), while the rest
//! of each answer is unchanged.

mod common;

use common::*;
use serde_json::{json, Value};

/// The keys of a JSON object, sorted (serde_json's `Value` sorts them anyway).
fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

/// `names`, sorted.
fn sorted<'a>(names: &[&'a str]) -> Vec<&'a str> {
    let mut names = names.to_vec();
    names.sort_unstable();
    names
}

/// Whether the body mentions usage anywhere (`usage`, `usageMetadata`, `*_tokens`, `*TokenCount`).
fn mentions_usage(r: &Response) -> bool {
    let text = r.text();
    ["usage", "Usage", "_tokens", "TokenCount"]
        .iter()
        .any(|word| text.contains(word))
}

#[tokio::test]
async fn no_usage_anywhere_in_any_format() {
    let server = polyfuse_mock_server::start().await.unwrap();
    for format in Format::ALL {
        for stream in [false, true] {
            // The same request with usage on reports it (the streams ask for it), so the check
            // below can fail.
            let with = format.call(server.addr, "m;words=3", stream).await;
            assert!(mentions_usage(&with), "{format:?} stream={stream}");
            let without = format.call(server.addr, "m;words=3;usage=0", stream).await;
            assert_eq!(without.status(), 200, "{format:?} stream={stream}");
            assert!(without.complete);
            assert!(
                !mentions_usage(&without),
                "{format:?} stream={stream}: {}",
                without.text()
            );
            assert!(
                without.text().contains("w3"),
                "{format:?}: the answer is still there"
            );
        }
    }
}

#[tokio::test]
async fn the_stream_shapes_without_usage() {
    let server = polyfuse_mock_server::start().await.unwrap();
    // OpenAI with include_usage: role, 2 content chunks, finish, [DONE]; no usage chunk and no
    // `"usage":null` on the chunks.
    let r = Format::OpenAi
        .call(server.addr, "m;words=2;usage=0", true)
        .await;
    let events = r.events();
    assert_eq!(events.len(), 5, "{events:?}");
    assert_eq!(events[4], "[DONE]");
    let chunks = chunks_json(&events);
    assert!(chunks.iter().all(|c| c.get("usage").is_none()));
    assert_eq!(chunks[3]["choices"][0]["finish_reason"], "stop");

    // Mistral: the finish chunk without `usage`.
    let r = Format::Mistral
        .call(server.addr, "m;words=2;usage=0", true)
        .await;
    let chunks = chunks_json(&r.events());
    let finish = chunks.last().unwrap();
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        keys(finish),
        sorted(&["id", "object", "created", "model", "choices"])
    );

    // OpenRouter: the finish chunk is the last before [DONE].
    let r = Format::OpenRouter
        .call(server.addr, "m;words=2;usage=0", true)
        .await;
    let chunks = chunks_json(&r.events());
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "stop"
    );

    // Anthropic: message_start's message and message_delta without `usage`.
    let r = Format::Anthropic
        .call(server.addr, "m;words=2;usage=0", true)
        .await;
    let events: Vec<(String, Value)> = sse_events(&r.text(), "\n\n")
        .into_iter()
        .map(|(name, data)| (name, serde_json::from_str(&data).unwrap()))
        .collect();
    let start = &events[0].1["message"];
    assert_eq!(
        keys(start),
        sorted(&[
            "id",
            "type",
            "role",
            "model",
            "content",
            "stop_reason",
            "stop_sequence"
        ])
    );
    let (name, delta) = &events[events.len() - 2];
    assert_eq!(name, "message_delta");
    assert_eq!(
        delta,
        &json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}})
    );

    // Gemini: every chunk without usageMetadata, the last with the finish.
    let r = Format::Gemini
        .call(server.addr, "m;words=2;usage=0", true)
        .await;
    let chunks: Vec<Value> = sse_events(&r.text(), "\r\n\r\n")
        .iter()
        .map(|(_, data)| serde_json::from_str(data).unwrap())
        .collect();
    assert_eq!(chunks.len(), 2);
    for c in &chunks {
        assert_eq!(
            keys(c),
            sorted(&["candidates", "modelVersion", "responseId"])
        );
    }
    assert_eq!(chunks[1]["candidates"][0]["finishReason"], "STOP");
}

#[tokio::test]
async fn bodies_without_usage_and_bad_values() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let r = Format::OpenAi.call(server.addr, "m;usage=0", false).await;
    assert_eq!(
        keys(&r.json()),
        sorted(&[
            "id",
            "object",
            "created",
            "model",
            "choices",
            "service_tier",
            "system_fingerprint"
        ])
    );
    // Gemini's blocked prompt has no usageMetadata either.
    let r = Format::Gemini
        .call(server.addr, "m;error=content_filter;usage=0", false)
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json()["promptFeedback"]["blockReason"], "SAFETY");
    assert!(r.json().get("usageMetadata").is_none());
    // usage=1 is the default; a bad value is rejected.
    let r = Format::Anthropic
        .call(server.addr, "m;usage=1", false)
        .await;
    assert!(r.json()["usage"]["output_tokens"].is_u64());
    let r = Format::Anthropic
        .call(server.addr, "m;usage=none", false)
        .await;
    assert_eq!(r.status(), 400);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("mock option `usage`"));
}
