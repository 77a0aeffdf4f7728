//! The Mistral flavour of the Chat Completions endpoint (`format=mistral`, `x-mock-format:
//! mistral`, or `--format mistral`), after the recordings in tests/fixtures/providers/mistral/:
//! OpenAI-like, but OpenAI-only request fields are a 422 (`extra_forbidden`), streamed usage rides
//! on the finish chunk (no `stream_options`), a streamed tool call arrives whole in one chunk with
//! the finish, tool-call ids are 9 alphanumerics, and errors have Mistral's bodies. Request
//! handling, timing and faults are shared with `openai.rs`.

use serde_json::{json, Value};

use crate::answer::{self, Ids, Tokens};
use crate::json::{null, Obj, Raw};
use crate::openai::{frame, Answer, ErrorObject, DONE, KEEPALIVE};
use crate::play::StreamPlan;
use crate::script::{ErrorKind, Script};

/// Request fields Mistral rejects with a 422 (OpenAI-only names; Mistral has `max_tokens` and
/// `random_seed`, and no `stream_options`).
pub const FORBIDDEN_FIELDS: &[&str] = &["stream_options", "max_completion_tokens", "seed"];

/// The 422 for OpenAI-only fields, as the current API words it (partITech/php-mistral#76, 2025:
/// `object:"Error"`, the pydantic `detail` list both as `detail` and `message`, `code:3001`).
pub(crate) fn forbidden_fields(body: &Value) -> Option<Vec<u8>> {
    let detail: Vec<Value> = FORBIDDEN_FIELDS
        .iter()
        .filter_map(|&field| {
            body.get(field).map(|input| {
                json!({"type": "extra_forbidden", "loc": ["body", field],
                       "msg": "Extra inputs are not permitted", "input": input})
            })
        })
        .collect();
    if detail.is_empty() {
        return None;
    }
    Some(
        Obj::new()
            .f("object", "Error")
            .f("detail", &detail)
            .f("message", &detail)
            .f("type", "invalid_request_error")
            .f("code", 3001)
            .bytes(),
    )
}

/// 401 for a missing or bad key (error_401_unauthorized.json); nothing of the key is echoed.
pub(crate) fn unauthorized(ids: &mut Ids) -> Vec<u8> {
    Obj::new()
        .f("message", "Unauthorized")
        .f("request_id", ids.hex(32))
        .bytes()
}

/// `{"object":"error","message","type","param","code"}` (error_400_invalid_request.json).
fn error(message: &str, kind: &str, code: Option<&str>) -> Vec<u8> {
    Obj::new()
        .f("object", "error")
        .f("message", message)
        .f("type", kind)
        .f("param", null())
        .f("code", code)
        .bytes()
}

/// An OpenAI-worded request error (bad JSON, missing field, bad mock option) in Mistral's shape.
pub(crate) fn error_object(e: &ErrorObject) -> Vec<u8> {
    Obj::new()
        .f("object", "error")
        .f("message", &e.message)
        .f("type", e.kind)
        .f("param", e.param)
        .f("code", &e.code)
        .bytes()
}

/// The body of a scripted error, its message replaced by `error_message`.
pub(crate) fn error_body(kind: ErrorKind, status: u16, model: &str, script: &Script) -> Vec<u8> {
    let text = |default: &str| script.error_text(default).to_owned();
    match kind {
        // error_400_invalid_request.json.
        ErrorKind::InvalidRequest => error(
            &text("Assistant message must have either content or tool_calls, but not none."),
            "invalid_request_error",
            None,
        ),
        // Not recorded: the API's wording as reported publicly.
        ErrorKind::ContextLengthExceeded => error(
            &text("Prompt contains 140000 tokens and 0 draft tokens, too large for model with 131072 maximum context length"),
            "invalid_request_message_too_long",
            Some("3051"),
        ),
        ErrorKind::InvalidApiKey => Obj::new()
            .f("message", text("Unauthorized"))
            .f("request_id", Ids::new().hex(32))
            .bytes(),
        // error_404_not_found.json.
        ErrorKind::ModelNotFound => Obj::new().f("detail", text("Not Found")).bytes(),
        // error_429_rate_limited.json.
        ErrorKind::RateLimit => error(&text("Rate limit exceeded"), "rate_limited", Some("1300")),
        ErrorKind::ServerError => error(
            &text("Internal server error"),
            "internal_server_error",
            None,
        ),
        ErrorKind::Overloaded => error(
            &text("Service tier capacity exceeded for this model."),
            "service_tier_capacity_exceeded",
            Some("3505"),
        ),
        ErrorKind::InsufficientQuota | ErrorKind::InsufficientCredits => error(
            &text("You have exceeded your monthly limit. Please upgrade your plan."),
            "invalid_request_error",
            None,
        ),
        ErrorKind::ContentFilter
        | ErrorKind::PermissionDenied
        | ErrorKind::RequestTooLarge
        | ErrorKind::BadGateway
        | ErrorKind::Other(_) => error(
            &text(&format!(
                "polyfuse-mock-server: scripted HTTP {status} for {model}"
            )),
            if status >= 500 {
                "internal_server_error"
            } else {
                "invalid_request_error"
            },
            None,
        ),
    }
}

/// `usage` as Mistral sends it; `cached_tokens` only when some are cached (stream) or always
/// (non-stream, pai_nonstream_text.response.json).
fn usage(tokens: Tokens, always_details: bool) -> Raw {
    Obj::new()
        .f("prompt_tokens", tokens.prompt)
        .f("total_tokens", tokens.total())
        .f("completion_tokens", tokens.completion)
        .opt(
            "prompt_tokens_details",
            (always_details || tokens.cached > 0)
                .then(|| Obj::new().f("cached_tokens", tokens.cached).raw()),
        )
        .raw()
}

fn tool_calls(answer: &Answer<'_>, with_index: bool) -> Option<Vec<Raw>> {
    answer.calls.as_ref().map(|calls| {
        calls
            .iter()
            .enumerate()
            .map(|(i, c)| {
                Obj::new()
                    .f("id", &c.id)
                    .f(
                        "function",
                        Obj::new()
                            .f("name", &c.name)
                            .f("arguments", &c.arguments)
                            .raw(),
                    )
                    .opt("index", with_index.then_some(i))
                    .raw()
            })
            .collect()
    })
}

/// The non-stream body, in the key order of vercel_mistral-text.response.json.
pub(crate) fn completion(answer: &Answer<'_>) -> Vec<u8> {
    let message = Obj::new()
        .f("role", "assistant")
        .f("tool_calls", tool_calls(answer, true))
        .f("content", &answer.text)
        .raw();
    Obj::new()
        .f("id", &answer.id)
        .f("created", answer.created)
        .f("model", answer.model)
        .opt("usage", answer.usage.then(|| usage(answer.tokens, true)))
        .f("object", "chat.completion")
        .f(
            "choices",
            [Obj::new()
                .f("index", 0)
                .f("finish_reason", &answer.finish_reason)
                .f("message", message)
                .raw()],
        )
        .bytes()
}

/// The stream, after vercel_mistral-text / vercel_mistral-tool-call: the role chunk, content
/// chunks, then the finish chunk `delta:{"content":""}` with `finish_reason` and `usage` (always,
/// no `stream_options` needed), then `[DONE]`. Tool calls arrive whole, all in one chunk that also
/// carries the finish and usage; with `chunks=N` they stream incrementally instead, as the
/// Mistral API does for some models (vercel_mistral-incremental-tool-call-glm).
pub(crate) fn stream(answer: &Answer<'_>, script: &Script) -> StreamPlan {
    let chunk = |delta: Raw, finish: Option<&str>, with_usage: bool| -> Vec<u8> {
        let choice = Obj::new()
            .f("index", 0)
            .f("delta", delta)
            .f("finish_reason", finish)
            .f("logprobs", null())
            .raw();
        let body = Obj::new()
            .f("id", &answer.id)
            .f("object", "chat.completion.chunk")
            .f("created", answer.created)
            .f("model", answer.model)
            .f("choices", [choice])
            .opt(
                "usage",
                (with_usage && answer.usage).then(|| usage(answer.tokens, false)),
            )
            .bytes();
        frame(&body)
    };
    let mut plan = StreamPlan {
        done: Some(DONE.to_vec()),
        malformed: b"data: {\"id\": broken-json\n\n".to_vec(),
        // Not recorded: a mid-stream failure as a Mistral error object, then [DONE].
        error: vec![frame(&error(
            script.error_text("stream failed after output"),
            "internal_server_error",
            None,
        ))],
        keepalive: KEEPALIVE.to_vec(),
        ..StreamPlan::default()
    };
    plan.head.push(chunk(
        Obj::new().f("role", "assistant").f("content", "").raw(),
        None,
        false,
    ));
    let finish = Some(answer.finish_reason.as_str());
    match &answer.calls {
        None => {
            for piece in answer::split_text(&answer.text, script.chunks) {
                plan.content
                    .push(chunk(Obj::new().f("content", piece).raw(), None, false));
            }
        }
        Some(_) if script.chunks.is_none() => {
            let delta = || {
                Obj::new()
                    .f("content", null())
                    .f("tool_calls", tool_calls(answer, false))
                    .raw()
            };
            plan.content.push(chunk(delta(), None, false));
            plan.fused_end = Some(vec![chunk(delta(), finish, true)]);
        }
        Some(calls) => {
            for (index, call) in calls.iter().enumerate() {
                let opening = Obj::new()
                    .f("id", &call.id)
                    .f("type", "function")
                    .f("function", json!({"name": call.name, "arguments": ""}))
                    .f("index", index)
                    .raw();
                plan.content.push(chunk(
                    Obj::new().f("tool_calls", [opening]).f("content", "").raw(),
                    None,
                    false,
                ));
                for fragment in answer::split_fragments(&call.arguments, script.chunks) {
                    let delta = Obj::new()
                        .f("type", "function")
                        .f(
                            "function",
                            Obj::new().f("name", "").f("arguments", fragment).raw(),
                        )
                        .f("index", index)
                        .raw();
                    plan.content.push(chunk(
                        Obj::new().f("tool_calls", [delta]).f("content", "").raw(),
                        None,
                        false,
                    ));
                }
            }
        }
    }
    plan.tail
        .push(chunk(Obj::new().f("content", "").raw(), finish, true));
    plan
}

/// Response headers, after the tidyllm recording (`mistral-correlation-id`, token and request
/// rate limits).
pub(crate) fn headers(request_id: &str, content_type: &str) -> Vec<(String, String)> {
    let correlation = request_id.trim_start_matches("req_").to_owned();
    [
        ("content-type", content_type.to_owned()),
        ("mistral-correlation-id", correlation.clone()),
        ("x-kong-request-id", correlation),
        ("x-ratelimit-limit-tokens-minute", "2000000".to_owned()),
        ("x-ratelimit-remaining-tokens-minute", "1999932".to_owned()),
        ("x-ratelimit-limit-tokens-month", "10000000000".to_owned()),
        (
            "x-ratelimit-remaining-tokens-month",
            "9999999932".to_owned(),
        ),
        ("x-ratelimit-tokens-query-cost", "68".to_owned()),
        ("x-ratelimit-limit-req-10-second", "60".to_owned()),
        ("x-ratelimit-remaining-req-10-second", "59".to_owned()),
        ("server", "polyfuse-mock-server".to_owned()),
    ]
    .into_iter()
    .map(|(n, v)| (n.to_owned(), v))
    .collect()
}
