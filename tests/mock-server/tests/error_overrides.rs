//! `error_message=TEXT` (the human message of any scripted error, mid-stream ones included, in
//! every format) and `error_body=openai` (OpenAI's error shape on the other endpoints, the status
//! as scripted), asserted on the exact body bytes.

mod common;

use common::*;
use serde_json::{json, Value};

const MESSAGE: &str = "ContextWindowExceededError: prompt too long";
const ENCODED: &str = "ContextWindowExceededError%3A%20prompt%20too%20long";

#[tokio::test]
async fn error_message_replaces_the_message_in_every_format() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let model = format!("m;status=400;error_message={ENCODED}");
    for format in Format::ALL {
        let r = format.call(server.addr, &model, false).await;
        assert_eq!(r.status(), 400, "{format:?}");
        let expected = match format {
            Format::OpenAi => format!(
                r#"{{"error":{{"message":"{MESSAGE}","type":"invalid_request_error","param":"max_tokens","code":"unsupported_parameter"}}}}"#
            ),
            Format::Mistral => format!(
                r#"{{"object":"error","message":"{MESSAGE}","type":"invalid_request_error","param":null,"code":null}}"#
            ),
            Format::OpenRouter => format!(r#"{{"error":{{"code":400,"message":"{MESSAGE}"}}}}"#),
            Format::Anthropic => format!(
                r#"{{"type":"error","error":{{"type":"invalid_request_error","message":"{MESSAGE}"}},"request_id":"{}"}}"#,
                r.header("request-id").unwrap()
            ),
            Format::Gemini => format!(
                r#"{{"error":{{"code":400,"message":"{MESSAGE}","status":"INVALID_ARGUMENT"}}}}"#
            ),
        };
        assert_eq!(r.text(), expected, "{format:?}");
    }
}

#[tokio::test]
async fn error_message_keeps_the_rest_of_each_body() {
    let server = polyfuse_mock_server::start().await.unwrap();
    // OpenRouter's 429 keeps its metadata (the upstream's own `raw` message) and `user_id`.
    let r = Format::OpenRouter
        .call(
            server.addr,
            "x-ai/grok-4;error=rate_limit;error_message=slow%20down",
            false,
        )
        .await;
    assert_eq!(r.status(), 429);
    let v = r.json();
    assert_eq!(v["error"]["message"], "slow down");
    assert_eq!(v["error"]["metadata"]["provider_name"], "xAI");
    assert!(v["user_id"].is_string());
    // Mistral's 404 is `{"detail": …}`: the detail is the message.
    let r = Format::Mistral
        .call(server.addr, "m;status=404;error_message=gone", false)
        .await;
    assert_eq!(r.text(), r#"{"detail":"gone"}"#);
    // Gemini's bad-key error repeats the message in its LocalizedMessage; the key is still echoed
    // in DebugInfo, as recorded.
    let r = Format::Gemini
        .call(
            server.addr,
            "m;error=invalid_api_key;error_message=key%20revoked",
            false,
        )
        .await;
    assert_eq!(r.status(), 400);
    let e = &r.json()["error"];
    assert_eq!(e["message"], "key revoked");
    assert_eq!(e["details"][1]["message"], "key revoked");
    assert_eq!(e["details"][2]["detail"], "Invalid API key: AIza-test");
    // Gemini's 429 keeps its RetryInfo.
    let r = Format::Gemini
        .call(
            server.addr,
            "m;status=429;retry_after=3;error_message=quota",
            false,
        )
        .await;
    assert_eq!(r.json()["error"]["message"], "quota");
    assert_eq!(r.json()["error"]["details"][2]["retryDelay"], "3s");
    // Anthropic's 529 keeps its type; OpenAI's content filter keeps Azure's innererror.
    let r = Format::Anthropic
        .call(server.addr, "m;error=overloaded;error_message=busy", false)
        .await;
    assert_eq!(r.status(), 529);
    assert_eq!(
        r.json()["error"],
        json!({"type": "overloaded_error", "message": "busy"})
    );
    let r = Format::OpenAi
        .call(
            server.addr,
            "m;error=content_filter;error_message=content%20policy",
            false,
        )
        .await;
    let e = &r.json()["error"];
    assert_eq!(e["message"], "content policy");
    assert_eq!(e["code"], "content_filter");
    assert_eq!(e["innererror"]["code"], "ResponsibleAIPolicyViolation");
    // Without an error it changes nothing.
    let r = Format::OpenAi
        .call(server.addr, "m;error_message=unused;text=fine", false)
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json()["choices"][0]["message"]["content"], "fine");
}

/// The error payload of a stream's `error_after` event.
fn mid_stream_error(format: Format, r: &Response) -> Value {
    let events = sse_events(&r.text(), format.separator());
    let data = match format {
        Format::Anthropic => events.iter().find(|(name, _)| name == "error"),
        _ => events.iter().find(|(_, data)| data.contains("\"error\"")),
    };
    let (_, data) = data.unwrap_or_else(|| panic!("{format:?}: no error event in {}", r.text()));
    serde_json::from_str(data).unwrap()
}

#[tokio::test]
async fn error_message_also_names_the_mid_stream_error() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let model = "m;words=3;error_after=1;error_message=upstream%20went%20away";
    for format in Format::ALL {
        let r = format.call(server.addr, model, true).await;
        assert_eq!(r.status(), 200, "{format:?}");
        let e = mid_stream_error(format, &r);
        let message = match format {
            Format::Mistral => &e["message"],
            _ => &e["error"]["message"],
        };
        assert_eq!(message, "upstream went away", "{format:?}: {e}");
    }
}

#[tokio::test]
async fn error_body_openai_on_the_other_endpoints() {
    let server = polyfuse_mock_server::start().await.unwrap();
    // Anthropic: the status stays the format's own (529 overloaded), the body is OpenAI's, naming
    // the response's request id; the retry headers are still sent.
    let r = Format::Anthropic
        .call(
            server.addr,
            "m;error=overloaded;error_body=openai;retry_after=2",
            false,
        )
        .await;
    assert_eq!(r.status(), 529);
    assert_eq!(r.header("retry-after"), Some("2"));
    let request_id = r.header("request-id").unwrap();
    assert_eq!(
        r.text(),
        format!(
            r#"{{"error":{{"message":"That model is currently overloaded with other requests. You can retry your request, or contact us through our help center at help.openai.com if the error persists. (Please include the request ID {request_id} in your message.)","type":"server_error","param":null,"code":null}}}}"#
        )
    );
    // Gemini, with error_message: a 400 "content policy" in OpenAI's shape.
    let r = Format::Gemini
        .call(
            server.addr,
            "m;status=400;error_body=openai;error_message=content%20policy",
            false,
        )
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=UTF-8")
    );
    assert_eq!(
        r.text(),
        r#"{"error":{"message":"content policy","type":"invalid_request_error","param":"max_tokens","code":"unsupported_parameter"}}"#
    );
    // Gemini's 429 in OpenAI's shape: the retry delay is in the message, still no retry header.
    let r = Format::Gemini
        .call(
            server.addr,
            "m;status=429;error_body=openai;retry_after_ms=1500",
            false,
        )
        .await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.header("retry-after-ms"), None);
    let e = &r.json()["error"];
    assert_eq!(e["code"], "rate_limit_exceeded");
    assert!(e["message"]
        .as_str()
        .unwrap()
        .contains("Please try again in 1.5s"));
    // The flavours too; and on OpenAI itself it is the native body.
    for format in [Format::Mistral, Format::OpenRouter, Format::OpenAi] {
        let r = format
            .call(
                server.addr,
                "m;error=insufficient_quota;error_body=openai",
                false,
            )
            .await;
        let expected_status = if format == Format::OpenRouter {
            402
        } else {
            429
        };
        assert_eq!(r.status(), expected_status, "{format:?}");
        assert_eq!(
            r.json(),
            json!({"error": {"message": "You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
                             "type": "insufficient_quota", "param": null, "code": "insufficient_quota"}}),
            "{format:?}"
        );
    }
    // error_body=native is the default.
    let r = Format::Anthropic
        .call(server.addr, "m;status=500;error_body=native", false)
        .await;
    assert_eq!(r.json()["type"], "error");
}

#[tokio::test]
async fn bad_values_are_rejected() {
    let server = polyfuse_mock_server::start().await.unwrap();
    for bad in ["error_body=xml", "error_body=", "error_message="] {
        let r = Format::Gemini
            .call(server.addr, &format!("m;{bad}"), false)
            .await;
        assert_eq!(r.status(), 400, "{bad}");
        assert_eq!(
            r.json()["error"]["details"][0]["reason"],
            "mock_bad_option",
            "{bad}"
        );
        let message = r.json()["error"]["message"].as_str().unwrap().to_owned();
        assert!(
            message.contains(bad.split('=').next().unwrap()),
            "{message}"
        );
    }
}
