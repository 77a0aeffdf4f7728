//! Gemini (`/v1beta/models/{model}:generateContent` and `:streamGenerateContent?alt=sse`): auth,
//! options in the model path segment, body shapes, CRLF stream framing with running usage and the
//! finish on the last chunk, function calls, errors (429 RetryInfo in the body, 503, 400 bad key)
//! and stream faults.

mod common;

use common::*;
use serde_json::{json, Value};

const KEY: &str = "AIza-test";

fn req(user: &str) -> Value {
    json!({"contents": [{"role": "user", "parts": [{"text": user}]}]})
}

fn generate(model: &str) -> String {
    format!("/v1beta/models/{model}:generateContent")
}

fn stream(model: &str) -> String {
    format!("/v1beta/models/{model}:streamGenerateContent?alt=sse")
}

async fn call(addr: std::net::SocketAddr, path: &str, body: Value) -> Response {
    post(addr, path, &[("x-goog-api-key", KEY)], &body).await
}

/// The `data:` payloads of a CRLF-framed stream; panics on LF-only framing.
fn crlf_chunks(r: &Response) -> Vec<Value> {
    let text = r.text();
    assert!(
        !text.replace("\r\n\r\n", "").contains("\n\n"),
        "LF framing in {text:?}"
    );
    sse_events(&text, "\r\n\r\n")
        .into_iter()
        .map(|(name, data)| {
            assert_eq!(name, "", "Gemini events have no name");
            serde_json::from_str(&data).unwrap_or_else(|e| panic!("{data}: {e}"))
        })
        .collect()
}

#[tokio::test]
async fn generate_content_body() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let r = call(
        server.addr,
        &generate("gemini-2.5-flash;reasoning_tokens=7;cached_tokens=2"),
        req("hi there"),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    let b = r.json();
    let c = &b["candidates"][0];
    assert_eq!(c["content"]["role"], "model");
    assert_eq!(
        c["content"]["parts"][0]["text"],
        "Mock answer from gemini-2.5-flash: hi there"
    );
    assert_eq!(c["finishReason"], "STOP");
    assert_eq!(c["index"], 0);
    let u = &b["usageMetadata"];
    assert_eq!(u["promptTokenCount"], 5);
    // thoughts are NOT in candidates; the total includes them.
    assert_eq!(u["candidatesTokenCount"], 6);
    assert_eq!(u["thoughtsTokenCount"], 7);
    assert_eq!(u["totalTokenCount"], 18);
    assert_eq!(u["cachedContentTokenCount"], 2);
    assert_eq!(b["modelVersion"], "gemini-2.5-flash");
    assert!(b["responseId"].as_str().unwrap().len() > 10);
    assert_eq!(
        server.stats().by_key["gemini-2.5-flash;reasoning_tokens=7;cached_tokens=2"],
        1
    );
}

#[tokio::test]
async fn options_in_the_url_encoded_path_segment() {
    let server = polyfuse_mock_server::start().await.unwrap();
    // `;` and `=` encoded, and a `%20` inside a value double-encoded (the segment is decoded once,
    // then the options are, like a model string in a JSON body).
    let r = call(
        server.addr,
        &generate("gemini-2.0-flash%3Btext%3Da%2520b"),
        req("q"),
    )
    .await;
    assert_eq!(
        r.json()["candidates"][0]["content"]["parts"][0]["text"],
        "a b"
    );
    assert_eq!(r.json()["modelVersion"], "gemini-2.0-flash");
    let r = call(server.addr, &generate("g;words=2"), req("q")).await;
    assert_eq!(
        r.json()["candidates"][0]["content"]["parts"][0]["text"],
        "w1 w2"
    );
    // Options also come in the x-mock header.
    let r = post(
        server.addr,
        &generate("g"),
        &[("x-goog-api-key", KEY), ("x-mock", "text=hdr")],
        &req("q"),
    )
    .await;
    assert_eq!(
        r.json()["candidates"][0]["content"]["parts"][0]["text"],
        "hdr"
    );
    let r = call(server.addr, &generate("g;nope=1"), req("q")).await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json()["error"]["status"], "INVALID_ARGUMENT");
    assert_eq!(r.json()["error"]["details"][0]["reason"], "mock_bad_option");
}

#[tokio::test]
async fn auth() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let r = post(server.addr, &generate("g"), &[], &req("q")).await;
    assert_eq!(r.status(), 403);
    assert_eq!(r.json()["error"]["status"], "PERMISSION_DENIED");
    let r = post(
        server.addr,
        &generate("g"),
        &[("x-goog-api-key", "bad-key")],
        &req("q"),
    )
    .await;
    assert_eq!(r.status(), 400);
    let e = &r.json()["error"];
    assert_eq!(e["code"], 400);
    assert_eq!(e["status"], "INVALID_ARGUMENT");
    assert_eq!(
        e["message"],
        "API key not valid. Please pass a valid API key."
    );
    assert_eq!(e["details"][0]["reason"], "API_KEY_INVALID");
    // `?key=` works too, and is not logged (the log has no query string).
    let r = post(
        server.addr,
        "/v1beta/models/g:generateContent?key=AIza-q",
        &[],
        &req("q"),
    )
    .await;
    assert_eq!(r.status(), 200);
    let log = serde_json::to_string(&server.requests()).unwrap();
    assert!(!log.contains("AIza"));
}

#[tokio::test]
async fn stream_is_crlf_framed_with_running_usage() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let r = call(server.addr, &stream("gemini-2.5-flash;words=4"), req("a b")).await;
    assert_eq!(r.status(), 200);
    assert!(r.complete);
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    let chunks = crlf_chunks(&r);
    assert_eq!(chunks.len(), 4);
    assert!(!r.text().contains("[DONE]"));
    let mut text = String::new();
    let mut last_count = 0;
    for (i, c) in chunks.iter().enumerate() {
        let cand = &c["candidates"][0];
        text.push_str(cand["content"]["parts"][0]["text"].as_str().unwrap());
        // Only the last chunk has finishReason.
        assert_eq!(cand.get("finishReason").is_some(), i == 3, "chunk {i}");
        let u = &c["usageMetadata"];
        assert_eq!(u["promptTokenCount"], 5);
        let n = u["candidatesTokenCount"].as_u64().unwrap();
        assert!(n >= last_count);
        last_count = n;
        assert_eq!(c["responseId"], chunks[0]["responseId"]);
    }
    assert_eq!(text, "w1 w2 w3 w4");
    assert_eq!(last_count, 4);
    assert_eq!(chunks[3]["candidates"][0]["finishReason"], "STOP");
    assert_eq!(chunks[3]["usageMetadata"]["totalTokenCount"], 9);
}

#[tokio::test]
async fn function_calls() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let mut body = req("weather?");
    body["tools"] =
        json!([{"functionDeclarations": [{"name": "get_weather"}, {"name": "get_time"}]}]);
    let r = call(server.addr, &stream("g;tools=1;tool_calls=2"), body.clone()).await;
    let chunks = crlf_chunks(&r);
    // Whole calls, all in one chunk that also carries the finish (pai_stream_function_call).
    assert_eq!(chunks.len(), 1);
    let parts = chunks[0]["candidates"][0]["content"]["parts"]
        .as_array()
        .unwrap();
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0]["functionCall"]["name"], "get_weather");
    assert_eq!(parts[1]["functionCall"]["name"], "get_time");
    assert_eq!(
        parts[0]["functionCall"]["args"],
        json!({"city": "Paris", "unit": "celsius"})
    );
    assert_eq!(chunks[0]["candidates"][0]["finishReason"], "STOP");

    let r = call(
        server.addr,
        &generate("g;tool_call=lookup;tool_args=%7B%22q%22:1%7D"),
        body,
    )
    .await;
    let part = &r.json()["candidates"][0]["content"]["parts"][0];
    assert_eq!(
        part["functionCall"],
        json!({"name": "lookup", "args": {"q": 1}})
    );
}

#[tokio::test]
async fn errors_have_google_bodies() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let r = call(
        server.addr,
        &stream("g;status=429;retry_after=34"),
        req("q"),
    )
    .await;
    assert_eq!(r.status(), 429);
    assert_eq!(
        r.header("retry-after"),
        None,
        "Gemini sends the delay in the body only"
    );
    let e = &r.json()["error"];
    assert_eq!(e["code"], 429);
    assert_eq!(e["status"], "RESOURCE_EXHAUSTED");
    let retry = e["details"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["@type"] == "type.googleapis.com/google.rpc.RetryInfo")
        .expect("RetryInfo");
    assert_eq!(retry["retryDelay"], "34s");
    // Without a scripted delay there is no RetryInfo.
    let r = call(server.addr, &generate("g;error=rate_limit"), req("q")).await;
    assert!(!r.text().contains("RetryInfo"));

    let cases = [
        ("status=503", 503, "UNAVAILABLE"),
        ("error=overloaded", 503, "UNAVAILABLE"),
        ("status=500", 500, "INTERNAL"),
        ("status=400", 400, "INVALID_ARGUMENT"),
        ("error=context_length_exceeded", 400, "INVALID_ARGUMENT"),
        ("error=invalid_api_key", 400, "INVALID_ARGUMENT"),
        ("error=model_not_found", 404, "NOT_FOUND"),
        ("status=504", 504, "DEADLINE_EXCEEDED"),
    ];
    for (opts, status, name) in cases {
        let r = call(server.addr, &generate(&format!("g;{opts}")), req("q")).await;
        assert_eq!(r.status(), status, "{opts}");
        assert_eq!(r.json()["error"]["code"], status, "{opts}");
        assert_eq!(r.json()["error"]["status"], name, "{opts}");
    }
    let r = call(server.addr, &generate("g;status=503"), req("q")).await;
    assert_eq!(
        r.json()["error"]["message"],
        "The model is overloaded. Please try again later."
    );
    // A blocked prompt: 200, no candidates, promptFeedback.
    let r = call(server.addr, &generate("g;error=content_filter"), req("q")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json()["promptFeedback"]["blockReason"], "SAFETY");
    assert!(r.json().get("candidates").is_none());
}

#[tokio::test]
async fn stream_faults() {
    let server = polyfuse_mock_server::start().await.unwrap();
    // cut_after at the end: all content, but no finishReason and no clean end.
    let r = call(server.addr, &stream("g;words=3;cut_after=3"), req("q")).await;
    assert!(!r.complete);
    let chunks = crlf_chunks(&r);
    assert_eq!(chunks.len(), 3);
    assert!(chunks
        .iter()
        .all(|c| c["candidates"][0].get("finishReason").is_none()));
    eventually("cut counted", || server.stats().server_aborts == 1).await;

    let r = call(server.addr, &stream("g;words=3;cut_after=1"), req("q")).await;
    assert!(!r.complete);
    assert_eq!(crlf_chunks(&r).len(), 1);

    // error_after: an error object in a data event, then the body ends.
    let r = call(server.addr, &stream("g;words=3;error_after=2"), req("q")).await;
    assert!(r.complete);
    let chunks = crlf_chunks(&r);
    assert_eq!(chunks.len(), 3);
    assert_eq!(chunks[2]["error"]["status"], "INTERNAL");

    // malformed_at the last chunk: a separate finish chunk follows.
    let r = call(server.addr, &stream("g;words=2;malformed_at=2"), req("q")).await;
    let text = r.text();
    assert!(text.contains("data: {\"candidates\": broken-json\r\n\r\n"));
    let last = sse_events(&text, "\r\n\r\n").pop().unwrap().1;
    let last: Value = serde_json::from_str(&last).unwrap();
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert_eq!(last["candidates"][0]["content"]["parts"][0]["text"], "");

    // finish= and fail_times.
    let r = call(
        server.addr,
        &stream("g;words=2;finish=MAX_TOKENS"),
        req("q"),
    )
    .await;
    assert_eq!(
        crlf_chunks(&r)[1]["candidates"][0]["finishReason"],
        "MAX_TOKENS"
    );
    for expected in [503, 200] {
        let r = call(
            server.addr,
            &generate("g;status=503;fail_times=1;key=k"),
            req("q"),
        )
        .await;
        assert_eq!(r.status(), expected);
    }
}
