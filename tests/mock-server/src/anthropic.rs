//! The Anthropic Messages wire format (`POST /v1/messages`), after the recordings in
//! tests/fixtures/providers/anthropic/: `x-api-key` auth and a required `anthropic-version`
//! header, `max_tokens` required, `msg_…` bodies with `text` / `tool_use` blocks, named SSE events
//! (`message_start`, `content_block_*`, `ping`, `message_delta`, `message_stop`, no `[DONE]`),
//! `{"type":"error","error":{…},"request_id"}` errors (529 overloaded) and `event: error`
//! mid-stream (the error bodies are in `anthropic/errors.rs`). Timing and faults come from
//! `play.rs`, content and counts from `answer.rs`.

mod errors;

use std::time::{Instant, SystemTime};

use serde_json::Value;

use crate::answer::{self, Ids, PlannedCall, Tokens};
use crate::http::{Conn, Request};
use crate::json::{null, raw, Obj, Raw};
use crate::openai::{retry_headers, ErrorObject};
use crate::play::{self, Gate, StreamPlan};
use crate::script::{self, ErrorBody, Script};
use crate::stats::Outcome;
use crate::State;
use errors::{default_status, error_body, scripted_error};

/// Path of the endpoint.
pub const PATH: &str = "/v1/messages";

const JSON: &str = "application/json";
const EVENT_STREAM: &str = "text/event-stream; charset=utf-8";

/// Handles one `POST /v1/messages` exchange.
pub(crate) async fn respond(
    conn: &mut Conn,
    req: &Request,
    state: &State,
    _started: Instant,
) -> Outcome {
    let mut ids = Ids::new();
    let request_id = format!("req_011C{}", ids.alnum(20));
    let keep_alive = req.keep_alive;
    let fail = |status: u16, kind: &str, message: &str| {
        let body = error_body(kind, message, Some(&request_id));
        (status, headers(&request_id, JSON), body)
    };

    // Auth, then the version header, then the body.
    let api_key = req
        .header("x-api-key")
        .map(str::trim)
        .filter(|k| !k.is_empty());
    let Some(api_key) = api_key else {
        let (s, h, b) = fail(401, "authentication_error", "x-api-key header is required");
        return play::reply(conn, s, &h, &b, keep_alive).await;
    };
    if is_bad_key(api_key) {
        // error_401_authentication_error.json: nothing of the key is echoed.
        let (s, h, b) = fail(401, "authentication_error", "invalid x-api-key");
        return play::reply(conn, s, &h, &b, keep_alive).await;
    }
    if req.header("anthropic-version").is_none() {
        let (s, h, b) = fail(
            400,
            "invalid_request_error",
            "anthropic-version: header is required",
        );
        return play::reply(conn, s, &h, &b, keep_alive).await;
    }
    let body: Value = match serde_json::from_slice(&req.body) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            let (s, h, b) = fail(
                400,
                "invalid_request_error",
                "There was an error parsing the body of your request. Please check that it is valid JSON.",
            );
            return play::reply(conn, s, &h, &b, keep_alive).await;
        }
    };
    for field in ["model", "messages", "max_tokens"] {
        if body.get(field).is_none() {
            let (s, h, b) = fail(
                400,
                "invalid_request_error",
                &format!("{field}: Field required"),
            );
            return play::reply(conn, s, &h, &b, keep_alive).await;
        }
    }
    let (Some(model_full), Some(messages)) = (
        body.get("model").and_then(Value::as_str),
        body.get("messages").and_then(Value::as_array),
    ) else {
        let (s, h, b) = fail(
            400,
            "invalid_request_error",
            "model: Input should be a valid string; messages: Input should be a valid list",
        );
        return play::reply(conn, s, &h, &b, keep_alive).await;
    };
    let (model, options) = script::split_model(model_full);
    let script = Script::parse(options, req.header(script::HEADER)).and_then(|s| {
        match s.format.as_deref() {
            Some(f) if f != "anthropic" => Err(format!(
                "format `{f}` is not spoken at {PATH}: use anthropic"
            )),
            _ if s.refusal.is_some() => Err(format!(
                "mock option `refusal` is not spoken at {PATH}: an Anthropic refusal is finish=refusal"
            )),
            _ => Ok(s),
        }
    });
    let script = match script {
        Ok(script) => script,
        Err(message) => {
            let (s, h, b) = fail(
                400,
                "invalid_request_error",
                &format!("polyfuse-mock-server: {message}"),
            );
            return play::reply(conn, s, &h, &b, keep_alive).await;
        }
    };

    let key = script.key.clone().unwrap_or_else(|| model_full.to_owned());
    // `json_stream=1`: a streaming request gets the non-streaming JSON body.
    let stream = body.get("stream").and_then(Value::as_bool) == Some(true) && !script.json_stream;
    let script = match play::gate(conn, &state.recorder, script, &key, stream, default_status).await
    {
        Gate::Done(outcome) => return outcome,
        Gate::Error(status, kind, script) => {
            let b = match script.error_body {
                ErrorBody::Native => {
                    let (error_type, message) = scripted_error(kind, status, model);
                    error_body(error_type, script.error_text(&message), Some(&request_id))
                }
                // A proxy in front of the API, answering in OpenAI's shape.
                ErrorBody::OpenAi => {
                    ErrorObject::for_kind(kind, status, model, api_key, &script, &request_id)
                        .to_body()
                }
            };
            let mut h = headers(&request_id, JSON);
            retry_headers(&script, &mut h);
            return play::reply(conn, status, &h, &b, keep_alive).await;
        }
        Gate::Answer(script) => script,
    };

    // The answer.
    let prompt = system_tokens(&body) + messages.iter().map(message_tokens).sum::<u64>();
    let requested: Vec<String> = body
        .get("tools")
        .and_then(Value::as_array)
        .map(|tools| {
            tools
                .iter()
                .filter_map(|t| t.get("name").and_then(Value::as_str))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let calls = answer::planned_calls(&script, &requested);
    let text = match calls {
        Some(_) => String::new(),
        None => answer::text(&script, model, &last_user_text(messages)),
    };
    let tokens = Tokens::new(
        &script,
        prompt,
        Tokens::completion_of(calls.as_deref(), &text),
    );
    let stop_reason = script.finish.clone().unwrap_or_else(|| {
        if calls.is_some() {
            "tool_use"
        } else {
            "end_turn"
        }
        .to_owned()
    });
    let calls: Option<Vec<(String, PlannedCall)>> = calls.map(|calls| {
        calls
            .into_iter()
            .map(|c| (format!("toolu_01{}", ids.alnum(22)), c))
            .collect()
    });
    let message_id = format!("msg_01{}", ids.alnum(22));
    // `usage=0`: no usage objects at all.
    let with_usage = !script.no_usage;

    if !stream {
        let content: Vec<Raw> = match &calls {
            None => vec![Obj::new().f("type", "text").f("text", &text).raw()],
            Some(calls) => calls
                .iter()
                .map(|(id, c)| {
                    Obj::new()
                        .f("type", "tool_use")
                        .f("id", id)
                        .f("name", &c.name)
                        .f("input", input_value(&c.arguments))
                        .raw()
                })
                .collect(),
        };
        let bytes = Obj::new()
            .f("id", &message_id)
            .f("type", "message")
            .f("role", "assistant")
            .f("model", model)
            .f("content", content)
            .f("stop_reason", &stop_reason)
            .f("stop_sequence", null())
            .opt(
                "usage",
                with_usage.then(|| usage(tokens, tokens.completion, true)),
            )
            .bytes();
        return play::reply(conn, 200, &headers(&request_id, JSON), &bytes, keep_alive).await;
    }

    // The stream (sdkpy_stream_basic_response.sse, sdkpy_stream_tool_use_response.sse).
    let mut plan = StreamPlan {
        done: None,
        malformed: b"event: content_block_delta\ndata: {\"type\": broken-json\n\n".to_vec(),
        // stream_error_midstream_overloaded.sse.
        error: vec![event(
            "error",
            &Obj::new()
                .f("type", "error")
                .f(
                    "error",
                    Obj::new()
                        .f("details", null())
                        .f("type", "overloaded_error")
                        .f("message", script.error_text("Overloaded"))
                        .raw(),
                )
                .raw(),
        )],
        // The API's own keep-alive is the `ping` event.
        keepalive: PING.to_vec(),
        ..StreamPlan::default()
    };
    let start_message = Obj::new()
        .f("id", &message_id)
        .f("type", "message")
        .f("role", "assistant")
        .f("model", model)
        .f("content", Vec::<Raw>::new())
        .f("stop_reason", null())
        .f("stop_sequence", null())
        // The real input count and a placeholder output count, as recorded.
        .opt("usage", with_usage.then(|| usage(tokens, 1, false)))
        .raw();
    plan.head.push(event(
        "message_start",
        &Obj::new()
            .f("type", "message_start")
            .f("message", start_message)
            .raw(),
    ));
    let block_start = |index: usize, block: Raw| {
        event(
            "content_block_start",
            &Obj::new()
                .f("type", "content_block_start")
                .f("index", index)
                .f("content_block", block)
                .raw(),
        )
    };
    let block_delta = |index: usize, delta: Raw| {
        event(
            "content_block_delta",
            &Obj::new()
                .f("type", "content_block_delta")
                .f("index", index)
                .f("delta", delta)
                .raw(),
        )
    };
    let block_stop = |index: usize| {
        event(
            "content_block_stop",
            &Obj::new()
                .f("type", "content_block_stop")
                .f("index", index)
                .raw(),
        )
    };
    let last_block = match &calls {
        None => {
            plan.head.push(block_start(
                0,
                Obj::new().f("type", "text").f("text", "").raw(),
            ));
            plan.head.push(PING.to_vec());
            for piece in answer::split_text(&text, script.chunks) {
                plan.content.push(block_delta(
                    0,
                    Obj::new().f("type", "text_delta").f("text", piece).raw(),
                ));
            }
            0
        }
        Some(calls) => {
            plan.head.push(PING.to_vec());
            for (index, (id, call)) in calls.iter().enumerate() {
                // Block boundaries are not counted by the fault options; the opening empty
                // `partial_json` is, like OpenAI's opening tool-call delta.
                let mut before = Vec::new();
                if index > 0 {
                    before.push(block_stop(index - 1));
                }
                before.push(block_start(
                    index,
                    Obj::new()
                        .f("type", "tool_use")
                        .f("id", id)
                        .f("name", &call.name)
                        .f("input", raw(serde_json::json!({})))
                        .raw(),
                ));
                plan.before.resize(plan.content.len(), Vec::new());
                plan.before.push(before);
                let json_delta = |partial: &str| {
                    Obj::new()
                        .f("type", "input_json_delta")
                        .f("partial_json", partial)
                        .raw()
                };
                plan.content.push(block_delta(index, json_delta("")));
                for fragment in answer::split_fragments(&call.arguments, script.chunks) {
                    plan.content.push(block_delta(index, json_delta(&fragment)));
                }
            }
            calls.len().saturating_sub(1)
        }
    };
    plan.tail.push(block_stop(last_block));
    plan.tail.push(event(
        "message_delta",
        &Obj::new()
            .f("type", "message_delta")
            .f(
                "delta",
                Obj::new()
                    .f("stop_reason", &stop_reason)
                    .f("stop_sequence", null())
                    .raw(),
            )
            .opt("usage", with_usage.then(|| delta_usage(tokens)))
            .raw(),
    ));
    plan.tail.push(event(
        "message_stop",
        &Obj::new().f("type", "message_stop").raw(),
    ));
    let h = headers(&request_id, EVENT_STREAM);
    play::stream(conn, &h, &plan, &script, keep_alive).await
}

/// `event: ping` as the real API formats it (with a space, sdkpy_stream_basic_response.sse).
const PING: &[u8] = b"event: ping\ndata: {\"type\": \"ping\"}\n\n";

/// `event: <name>\ndata: <json>\n\n`.
fn event(name: &str, data: &Raw) -> Vec<u8> {
    format!("event: {name}\ndata: {}\n\n", data.get()).into_bytes()
}

fn is_bad_key(key: &str) -> bool {
    key.starts_with("bad") || key.starts_with("sk-bad") || key.starts_with("sk-ant-bad")
}

/// The usage object: `input_tokens` EXCLUDES cached reads and cache writes, as the real API
/// counts them. The non-stream body adds the `cache_creation` breakdown and `service_tier`.
fn usage(tokens: Tokens, output: u64, full: bool) -> Raw {
    let input = tokens
        .prompt
        .saturating_sub(tokens.cached + tokens.cache_write);
    let mut o = Obj::new()
        .f("input_tokens", input)
        .f("cache_creation_input_tokens", tokens.cache_write)
        .f("cache_read_input_tokens", tokens.cached);
    if full {
        o = o.f(
            "cache_creation",
            Obj::new()
                .f("ephemeral_5m_input_tokens", tokens.cache_write)
                .f("ephemeral_1h_input_tokens", 0)
                .raw(),
        );
    }
    o.f("output_tokens", output)
        .f("service_tier", "standard")
        .raw()
}

/// `message_delta.usage`: cumulative counts (vercel_anthropic-text: input and cache counts again,
/// then the final `output_tokens`).
fn delta_usage(tokens: Tokens) -> Raw {
    let input = tokens
        .prompt
        .saturating_sub(tokens.cached + tokens.cache_write);
    Obj::new()
        .f("input_tokens", input)
        .f("cache_creation_input_tokens", tokens.cache_write)
        .f("cache_read_input_tokens", tokens.cached)
        .f("output_tokens", tokens.completion)
        .raw()
}

/// A `tool_use.input`: the parsed arguments, or the raw text as a string when `tool_args` is
/// not JSON (scripted on purpose).
fn input_value(arguments: &str) -> Raw {
    serde_json::from_str::<Value>(arguments)
        .map(raw)
        .unwrap_or_else(|_| raw(arguments))
}

/// Text of a `content`/`system`: a string, or the `text` of its `{type:"text"}` blocks (and of
/// `tool_result` blocks' own content).
fn text_of(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(blocks)) => blocks
            .iter()
            .filter_map(|b| match b.get("type").and_then(Value::as_str) {
                Some("text") => b.get("text").and_then(Value::as_str).map(str::to_owned),
                Some("tool_result") => Some(text_of(b.get("content"))),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

fn system_tokens(body: &Value) -> u64 {
    answer::count_words(&text_of(body.get("system")))
}

/// Prompt tokens of one message: its words plus 3.
fn message_tokens(message: &Value) -> u64 {
    answer::count_words(&text_of(message.get("content"))) + 3
}

fn last_user_text(messages: &[Value]) -> String {
    messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .map(|m| text_of(m.get("content")))
        .unwrap_or_default()
}

/// Response headers, after the tidyllm recording: `request-id`, the organization, and the
/// `anthropic-ratelimit-*` family with RFC 3339 reset times.
fn headers(request_id: &str, content_type: &str) -> Vec<(String, String)> {
    let reset = rfc3339(SystemTime::now());
    let mut h: Vec<(String, String)> = vec![
        ("content-type".into(), content_type.into()),
        ("request-id".into(), request_id.into()),
        (
            "anthropic-organization-id".into(),
            "00000000-0000-4000-8000-000000000000".into(),
        ),
    ];
    for (name, limit) in [
        ("requests", 1000u64),
        ("tokens", 96_000),
        ("input-tokens", 80_000),
        ("output-tokens", 16_000),
    ] {
        h.push((
            format!("anthropic-ratelimit-{name}-limit"),
            limit.to_string(),
        ));
        h.push((
            format!("anthropic-ratelimit-{name}-remaining"),
            (limit - 1).to_string(),
        ));
        h.push((format!("anthropic-ratelimit-{name}-reset"), reset.clone()));
    }
    h.push(("server".into(), "polyfuse-mock-server".into()));
    h
}

/// `2025-08-21T12:40:59Z`.
fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_inputs() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_755_780_059);
        assert_eq!(rfc3339(t), "2025-08-21T12:40:59Z");
        assert_eq!(input_value(r#"{"a":1}"#).get(), r#"{"a":1}"#);
        assert_eq!(input_value("{broken").get(), r#""{broken""#);
    }

    #[test]
    fn usage_excludes_cache_from_input() {
        let script = Script {
            cached_tokens: Some(100),
            cache_write_tokens: Some(20),
            ..Script::default()
        };
        let t = Tokens::new(&script, 10, 5);
        let u: Value = serde_json::from_str(usage(t, t.completion, true).get()).unwrap();
        assert_eq!(u["input_tokens"], 0);
        assert_eq!(u["cache_read_input_tokens"], 100);
        assert_eq!(u["cache_creation_input_tokens"], 20);
        let t = Tokens::new(&script, 200, 5);
        let u: Value = serde_json::from_str(usage(t, 1, false).get()).unwrap();
        assert_eq!(u["input_tokens"], 80);
        assert_eq!(u["output_tokens"], 1);
    }
}
