//! `json_stream=1`: a streaming request answered with the format's complete non-streaming JSON
//! body (status 200, a JSON content type, `content-length`, no SSE), the stream options ignored.

mod common;

use common::*;
use serde_json::Value;

/// The JSON content type of each format.
fn json_type(format: Format) -> &'static str {
    match format {
        Format::Gemini => "application/json; charset=UTF-8",
        _ => "application/json",
    }
}

/// Drops the fields that differ between any two responses (ids, timestamps).
fn without_ids(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        for key in ["id", "created", "responseId"] {
            o.remove(key);
        }
    }
    v
}

/// The answer text in a non-streaming body.
fn body_text(format: Format, v: &Value) -> Option<&str> {
    let pointer = match format {
        Format::OpenAi | Format::Mistral | Format::OpenRouter => "/choices/0/message/content",
        Format::Anthropic => "/content/0/text",
        Format::Gemini => "/candidates/0/content/parts/0/text",
    };
    v.pointer(pointer).and_then(Value::as_str)
}

#[tokio::test]
async fn a_stream_request_gets_the_non_stream_body_in_every_format() {
    let server = polyfuse_mock_server::start().await.unwrap();
    // The stream options (faults, keep-alives, chunking) have no effect on a JSON answer.
    let model = "m;json_stream=1;words=3;chunks=3;cut_after=1;malformed_at=1;no_done=1;keepalive_ms=5;ttft_ms=20";
    for format in Format::ALL {
        let r = format.call(server.addr, model, true).await;
        assert_eq!(r.status(), 200, "{format:?}");
        assert_eq!(
            r.header("content-type"),
            Some(json_type(format)),
            "{format:?}"
        );
        assert!(!r.head.is_chunked(), "{format:?}");
        assert_eq!(
            r.header("content-length"),
            Some(r.body.len().to_string().as_str()),
            "{format:?}"
        );
        assert!(r.complete, "{format:?}");
        let streamed = r.json();
        assert_eq!(body_text(format, &streamed), Some("w1 w2 w3"), "{format:?}");
        // Exactly what the same request without `"stream": true` gets.
        let plain = format.call(server.addr, model, false).await;
        assert_eq!(plain.header("content-type"), Some(json_type(format)));
        assert_eq!(
            without_ids(streamed),
            without_ids(plain.json()),
            "{format:?}"
        );
    }
    assert_eq!(server.stats().server_aborts, 0, "cut_after was ignored");
}

#[tokio::test]
async fn gemini_without_alt_sse_gets_one_object_not_an_array() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let body = serde_json::json!({"contents": [{"role": "user", "parts": [{"text": "q"}]}]});
    let path =
        "/v1beta/models/gemini-2.5-flash%3Bjson_stream%3D1%3Bwords%3D2:streamGenerateContent";
    let r = post(server.addr, path, &[("x-goog-api-key", "AIza-test")], &body).await;
    assert_eq!(r.status(), 200);
    let v = r.json();
    assert!(v.is_object(), "{v}");
    assert_eq!(v["candidates"][0]["content"]["parts"][0]["text"], "w1 w2");
    assert_eq!(v["candidates"][0]["finishReason"], "STOP");
    // Without json_stream the same path answers the array of chunks.
    let path = "/v1beta/models/gemini-2.5-flash%3Bwords%3D2:streamGenerateContent";
    let r = post(server.addr, path, &[("x-goog-api-key", "AIza-test")], &body).await;
    assert!(r.json().is_array());
}

#[tokio::test]
async fn errors_stay_json_and_bad_values_are_rejected() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let r = Format::Anthropic
        .call(server.addr, "m;json_stream=1;status=529", true)
        .await;
    assert_eq!(r.status(), 529);
    assert_eq!(r.json()["error"]["type"], "overloaded_error");
    let r = Format::OpenAi
        .call(server.addr, "m;json_stream=maybe", true)
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json()["error"]["code"], "mock_bad_option");
    // json_stream=0 streams as usual.
    let r = Format::OpenAi
        .call(server.addr, "m;json_stream=0;words=1", true)
        .await;
    assert!(r.head.is_chunked());
    assert_eq!(r.events().last().map(String::as_str), Some("[DONE]"));
}
