//! The OpenAI Chat Completions wire format (`POST /v1/chat/completions`): auth, request reading,
//! non-stream bodies, stream chunks, error bodies and response headers, modelled on the real
//! recordings in tests/fixtures/providers/openai/ (see the README for which one backs what).
//!
//! The same endpoint also speaks two OpenAI-like flavours, chosen per request ([`Flavour`]): the
//! request handling here is shared, and `mistral.rs` / `openrouter.rs` render their own bodies,
//! chunks, errors and headers. OpenAI's own bodies and chunks are in `openai/wire.rs`, its error
//! bodies in `openai/errors.rs`.

mod errors;
mod wire;

use std::time::Instant;

use serde_json::Value;

pub(crate) use errors::ErrorObject;
pub(crate) use wire::{frame, DONE, KEEPALIVE};

use crate::answer::{self, Ids, PlannedCall, Tokens};
use crate::http::{Conn, Request};
use crate::play::{self, Gate};
use crate::script::{self, ErrorBody, ErrorKind, Script};
use crate::stats::Outcome;
use crate::{mistral, openrouter, State};

/// Path of the endpoint.
pub const PATH: &str = "/v1/chat/completions";

/// OpenRouter's path (its base URL is `https://openrouter.ai/api/v1`): the same endpoint, with
/// the OpenRouter flavour by default.
pub const OPENROUTER_PATH: &str = "/api/v1/chat/completions";

const SYSTEM_FINGERPRINT: &str = "fp_6d2c0b9c1e";
pub(crate) const JSON: &str = "application/json";
const EVENT_STREAM: &str = "text/event-stream; charset=utf-8";
const RATELIMIT_LIMIT_REQUESTS: u64 = 5000;
const RATELIMIT_LIMIT_TOKENS: u64 = 800_000;

/// The flavour of the Chat Completions endpoint. Chosen per request by the `format` option (in the
/// model or the `x-mock` header), else the `x-mock-format` header, else the path
/// (`/api/v1/chat/completions` is OpenRouter), else the server default
/// ([`crate::MockServer::set_flavour`], `--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Flavour {
    /// OpenAI itself.
    #[default]
    OpenAi,
    /// Mistral (`mistral.rs`): 422 on OpenAI-only fields, usage on the finish chunk, 9-char tool ids.
    Mistral,
    /// OpenRouter (`openrouter.rs`): `: OPENROUTER PROCESSING` comments, `provider`,
    /// `native_finish_reason`, `usage.cost`, 402 out of credits.
    OpenRouter,
}

impl Flavour {
    /// `openai`, `mistral` or `openrouter`.
    pub fn from_name(name: &str) -> Option<Flavour> {
        match name {
            "openai" => Some(Flavour::OpenAi),
            "mistral" => Some(Flavour::Mistral),
            "openrouter" => Some(Flavour::OpenRouter),
            _ => None,
        }
    }

    pub(crate) fn to_u8(self) -> u8 {
        self as u8
    }

    pub(crate) fn from_u8(n: u8) -> Flavour {
        match n {
            1 => Flavour::Mistral,
            2 => Flavour::OpenRouter,
            _ => Flavour::OpenAi,
        }
    }

    /// The status a scripted `error=` kind gets unless `status=` is given.
    fn default_status(self, kind: ErrorKind) -> u16 {
        match (self, kind) {
            (Flavour::OpenRouter, ErrorKind::InsufficientQuota) => 402,
            _ => kind.default_status(),
        }
    }
}

/// A tool call with its wire id.
pub(crate) struct Call {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// Everything a flavour needs to render a successful answer.
pub(crate) struct Answer<'a> {
    /// The model as echoed back (before the first `;`).
    pub model: &'a str,
    /// The completion id (`chatcmpl-…`, Mistral's 32 hex, OpenRouter's `gen-…`).
    pub id: String,
    pub created: u64,
    /// The text (empty for tool calls).
    pub text: String,
    /// The text is a refusal (`refusal=`): sent as `refusal`, with `content: null`.
    pub refusal: bool,
    pub calls: Option<Vec<Call>>,
    pub finish_reason: String,
    pub tokens: Tokens,
    /// Usage is reported at all (`usage=0` turns it off).
    pub usage: bool,
    /// `stream_options.include_usage` (OpenRouter also `usage.include`), unless `usage=0`.
    pub include_usage: bool,
}

/// Handles one chat-completions exchange (`default` is the flavour of the path or the server).
pub(crate) async fn respond(
    conn: &mut Conn,
    req: &Request,
    state: &State,
    started: Instant,
    default: Flavour,
) -> Outcome {
    let mut ids = Ids::new();
    let request_id = format!("req_{}", ids.hex(32));
    let keep_alive = req.keep_alive;

    // The body is parsed up front only to find the flavour, so that even auth errors take the
    // right wire format; its errors are still reported after auth, as the real APIs do.
    let parsed: Option<Value> = serde_json::from_slice(&req.body)
        .ok()
        .filter(Value::is_object);
    let model_options = parsed
        .as_ref()
        .and_then(|b| b.get("model"))
        .and_then(Value::as_str)
        .map_or("", |m| script::split_model(m).1);
    let format_header = req.header(script::FORMAT_HEADER).map(str::trim);
    let flavour = script::peek_format(model_options, req.header(script::HEADER))
        .as_deref()
        .or(format_header)
        .and_then(Flavour::from_name)
        .unwrap_or(default);
    let fail = |status: u16, error: ErrorObject| {
        let headers = headers(flavour, &request_id, started, JSON);
        let body = match flavour {
            Flavour::OpenAi => error.to_body(),
            Flavour::Mistral => mistral::error_object(&error),
            Flavour::OpenRouter => openrouter::error_object(status, &error.message),
        };
        (status, headers, body)
    };
    let json_headers = || headers(flavour, &request_id, started, JSON);

    // Auth first, as the real API does.
    let api_key = req
        .header("authorization")
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|k| !k.is_empty());
    let bad_key = api_key.is_some_and(|k| k.starts_with("bad") || k.starts_with("sk-bad"));
    if api_key.is_none() || bad_key {
        let body = match (flavour, api_key) {
            (Flavour::OpenAi, None) => ErrorObject::missing_key().to_body(),
            (Flavour::OpenAi, Some(key)) => ErrorObject::invalid_api_key(key).to_body(),
            (Flavour::Mistral, _) => mistral::unauthorized(&mut ids),
            (Flavour::OpenRouter, None) => {
                openrouter::error_object(401, "No auth credentials found")
            }
            (Flavour::OpenRouter, Some(_)) => openrouter::error_object(401, "User not found."),
        };
        return play::reply(conn, 401, &json_headers(), &body, keep_alive).await;
    }
    let api_key = api_key.unwrap_or_default();

    let Some(body) = parsed else {
        let (s, h, b) = fail(400, ErrorObject::invalid_json());
        return play::reply(conn, s, &h, &b, keep_alive).await;
    };
    let Some(model_full) = body.get("model").and_then(Value::as_str) else {
        let (s, h, b) = fail(400, ErrorObject::missing_model());
        return play::reply(conn, s, &h, &b, keep_alive).await;
    };
    let Some(messages) = body.get("messages").and_then(Value::as_array) else {
        let (s, h, b) = fail(400, ErrorObject::missing_messages());
        return play::reply(conn, s, &h, &b, keep_alive).await;
    };
    if flavour == Flavour::Mistral {
        if let Some(b) = mistral::forbidden_fields(&body) {
            return play::reply(conn, 422, &json_headers(), &b, keep_alive).await;
        }
    }
    let (model, options) = script::split_model(model_full);
    let script = match Script::parse(options, req.header(script::HEADER)) {
        Ok(script) => match script.format.as_deref().or(format_header) {
            Some(f) if Flavour::from_name(f).is_none() => Err(format!(
                "format `{f}` is not spoken at {}: use openai|mistral|openrouter",
                req.path
            )),
            // Mistral's assistant message has no refusal field.
            _ if flavour == Flavour::Mistral && script.refusal.is_some() => Err(
                "mock option `refusal` is not spoken by the mistral flavour: its messages have no refusal field".into(),
            ),
            _ => Ok(script),
        },
        Err(message) => Err(message),
    };
    let script = match script {
        Ok(script) => script,
        Err(message) => {
            let (s, h, b) = fail(400, ErrorObject::bad_mock_option(message));
            return play::reply(conn, s, &h, &b, keep_alive).await;
        }
    };

    // `fail_times=N`: only the first N requests carrying this key get the faults.
    let key = script.key.clone().unwrap_or_else(|| model_full.to_owned());
    // `json_stream=1`: a streaming request gets the non-streaming JSON body.
    let stream = body.get("stream").and_then(Value::as_bool) == Some(true) && !script.json_stream;
    let gate = play::gate(conn, &state.recorder, script, &key, stream, |k| {
        flavour.default_status(k)
    });
    let script = match gate.await {
        Gate::Done(outcome) => return outcome,
        Gate::Error(status, kind, script) => {
            let mut h = json_headers();
            let b = match (flavour, script.error_body) {
                (Flavour::OpenAi, _) | (_, ErrorBody::OpenAi) => {
                    ErrorObject::for_kind(kind, status, model, api_key, &script, &request_id)
                        .to_body()
                }
                (Flavour::Mistral, ErrorBody::Native) => {
                    mistral::error_body(kind, status, model, &script)
                }
                (Flavour::OpenRouter, ErrorBody::Native) => {
                    openrouter::error_body(kind, status, model, &script)
                }
            };
            retry_headers(&script, &mut h);
            return play::reply(conn, status, &h, &b, keep_alive).await;
        }
        Gate::Answer(script) => script,
    };

    let stream_options = body.get("stream_options");
    let include_usage = stream_options
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        == Some(true)
        || (flavour == Flavour::OpenRouter
            && body.pointer("/usage/include").and_then(Value::as_bool) == Some(true));
    let obfuscation = stream_options
        .and_then(|o| o.get("include_obfuscation"))
        .and_then(Value::as_bool)
        != Some(false);

    // The answer.
    let prompt_tokens = messages.iter().map(message_tokens).sum::<u64>();
    let planned = answer::planned_calls(&script, &requested_tools(&body));
    let text = match planned {
        Some(_) => String::new(),
        None => answer::text(&script, model, &last_user_text(messages)),
    };
    let tokens = Tokens::new(
        &script,
        prompt_tokens,
        Tokens::completion_of(planned.as_deref(), &text),
    );
    let finish_reason = script.finish.clone().unwrap_or_else(|| {
        if planned.is_some() {
            "tool_calls"
        } else {
            "stop"
        }
        .to_owned()
    });
    let calls = planned.map(|calls| {
        calls
            .into_iter()
            .map(|PlannedCall { name, arguments }| Call {
                id: match flavour {
                    Flavour::Mistral => ids.alnum(9),
                    _ => format!("call_{}", ids.alnum(24)),
                },
                name,
                arguments,
            })
            .collect::<Vec<_>>()
    });
    let created = answer::unix_now();
    let id = match flavour {
        Flavour::OpenAi => format!("chatcmpl-{}", ids.alnum(29)),
        Flavour::Mistral => ids.hex(32),
        Flavour::OpenRouter => format!("gen-{created}-{}", ids.alnum(20)),
    };
    let answer = Answer {
        model,
        id,
        created,
        text,
        refusal: script.refusal.is_some(),
        calls,
        finish_reason,
        tokens,
        usage: !script.no_usage,
        include_usage: include_usage && !script.no_usage,
    };

    if !stream {
        let bytes = match flavour {
            Flavour::OpenAi => wire::completion_body(&answer),
            Flavour::Mistral => mistral::completion(&answer),
            Flavour::OpenRouter => openrouter::completion(&answer, &script),
        };
        return play::reply(conn, 200, &json_headers(), &bytes, keep_alive).await;
    }
    let plan = match flavour {
        Flavour::OpenAi => wire::stream_plan(&answer, &script, obfuscation, ids),
        Flavour::Mistral => mistral::stream(&answer, &script),
        Flavour::OpenRouter => openrouter::stream(&answer, &script),
    };
    let h = headers(flavour, &request_id, started, EVENT_STREAM);
    play::stream(conn, &h, &plan, &script, keep_alive).await
}

/// `retry-after`, `retry-after-ms` and `x-should-retry` as scripted (error responses only).
pub(crate) fn retry_headers(script: &Script, headers: &mut Vec<(String, String)>) {
    if let Some(v) = &script.retry_after {
        headers.push(("retry-after".into(), v.clone()));
    }
    if let Some(v) = script.retry_after_ms {
        headers.push(("retry-after-ms".into(), v.to_string()));
    }
    if let Some(v) = script.should_retry {
        headers.push(("x-should-retry".into(), v.to_string()));
    }
}

/// Response headers of every completions response, as in the tidyllm recording (the flavours have
/// their own).
fn headers(
    flavour: Flavour,
    request_id: &str,
    started: Instant,
    content_type: &str,
) -> Vec<(String, String)> {
    match flavour {
        Flavour::OpenAi => {}
        Flavour::Mistral => return mistral::headers(request_id, content_type),
        Flavour::OpenRouter => return openrouter::headers(content_type),
    }
    let pairs: [(&str, String); 12] = [
        ("content-type", content_type.to_owned()),
        ("access-control-expose-headers", "X-Request-ID".to_owned()),
        (
            "openai-processing-ms",
            started.elapsed().as_millis().to_string(),
        ),
        ("openai-version", "2020-10-01".to_owned()),
        (
            "x-ratelimit-limit-requests",
            RATELIMIT_LIMIT_REQUESTS.to_string(),
        ),
        (
            "x-ratelimit-limit-tokens",
            RATELIMIT_LIMIT_TOKENS.to_string(),
        ),
        (
            "x-ratelimit-remaining-requests",
            (RATELIMIT_LIMIT_REQUESTS - 1).to_string(),
        ),
        (
            "x-ratelimit-remaining-tokens",
            (RATELIMIT_LIMIT_TOKENS - 14).to_string(),
        ),
        ("x-ratelimit-reset-requests", "12ms".to_owned()),
        ("x-ratelimit-reset-tokens", "1ms".to_owned()),
        ("x-request-id", request_id.to_owned()),
        ("server", "polyfuse-mock-server".to_owned()),
    ];
    pairs.into_iter().map(|(n, v)| (n.to_owned(), v)).collect()
}

/// Text of a message's `content`: a string, or the `text` of its `{type:"text"}` parts.
fn content_text(message: &Value) -> String {
    match message.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

/// Prompt tokens of one message: its words plus 3.
fn message_tokens(message: &Value) -> u64 {
    answer::count_words(&content_text(message)) + 3
}

fn last_user_text(messages: &[Value]) -> String {
    messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .map(content_text)
        .unwrap_or_default()
}

/// The function names of the request's `tools`, in order.
fn requested_tools(body: &Value) -> Vec<String> {
    body.get("tools")
        .and_then(Value::as_array)
        .map(|tools| {
            tools
                .iter()
                .filter_map(|t| t.pointer("/function/name").and_then(Value::as_str))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_tokens_count_text_parts() {
        let m: Value = serde_json::json!({"role":"user","content":[{"type":"text","text":"a b"},{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":"c"}]});
        assert_eq!(content_text(&m), "a b c");
        assert_eq!(message_tokens(&m), 6);
    }
}
