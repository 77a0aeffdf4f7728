//! The Google Gemini wire format (Generative Language API v1beta):
//! `POST /v1beta/models/{model}:generateContent` and `:streamGenerateContent?alt=sse`, after the
//! recordings in tests/fixtures/providers/gemini/: `x-goog-api-key` (or `?key=`) auth, options in
//! the model path segment after `;` (URL-decoded), `candidates` / `usageMetadata` bodies, streams
//! of full `GenerateContentResponse`s framed `data: …\r\n\r\n` with running usage and no end marker
//! (the last chunk has `finishReason`), and `{"error":{"code","message","status","details"}}`
//! errors (retry delay in the body's `RetryInfo`, not in a header; in `gemini/errors.rs`). Timing
//! and faults come from `play.rs`, content and counts from `answer.rs`.

mod errors;

use std::time::Instant;

use serde_json::{json, Value};

use crate::answer::{self, Ids, PlannedCall, Tokens};
use crate::http::{Conn, Request};
use crate::json::{raw, Obj, Raw};
use crate::openai::ErrorObject;
use crate::play::{self, Gate, StreamPlan};
use crate::script::{self, percent_decode, ErrorBody, ErrorKind, Script};
use crate::stats::Outcome;
use crate::State;
use errors::{api_key_invalid, default_status, error, scripted_error, INTERNAL};

const JSON: &str = "application/json; charset=UTF-8";
const EVENT_STREAM: &str = "text/event-stream";

/// The method named after the model in the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    GenerateContent,
    StreamGenerateContent,
}

/// Splits `/v1beta/models/{model}:{method}` (also `/v1/…`) into the raw model segment and the
/// method; `None` for any other path.
pub fn parse_path(path: &str) -> Option<(&str, Method)> {
    let rest = path
        .strip_prefix("/v1beta/models/")
        .or_else(|| path.strip_prefix("/v1/models/"))?;
    let (model, method) = rest.rsplit_once(':')?;
    let method = match method {
        "generateContent" => Method::GenerateContent,
        "streamGenerateContent" => Method::StreamGenerateContent,
        _ => return None,
    };
    (!model.is_empty() && !model.contains('/')).then_some((model, method))
}

/// Handles one generate / stream-generate exchange; `model_segment` is the raw path segment.
pub(crate) async fn respond(
    conn: &mut Conn,
    req: &Request,
    state: &State,
    started: Instant,
    model_segment: &str,
    method: Method,
) -> Outcome {
    let mut ids = Ids::new();
    let keep_alive = req.keep_alive;
    let json_headers = || headers(started, JSON);
    let fail = |status: u16, body: Vec<u8>| (status, json_headers(), body);

    // The key: the header, else `?key=` (never logged: the log drops the query string).
    let query_key = req
        .query
        .split('&')
        .find_map(|kv| kv.strip_prefix("key="))
        .map(percent_decode);
    let api_key = req
        .header("x-goog-api-key")
        .map(str::to_owned)
        .or(query_key)
        .filter(|k| !k.trim().is_empty());
    let Some(api_key) = api_key else {
        let (s, h, b) = fail(
            403,
            error(
                403,
                "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
                None,
            ),
        );
        return play::reply(conn, s, &h, &b, keep_alive).await;
    };
    if api_key.starts_with("bad") {
        let (s, h, b) = fail(400, api_key_invalid(400, &api_key));
        return play::reply(conn, s, &h, &b, keep_alive).await;
    }

    let body: Value = match serde_json::from_slice(&req.body) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            let (s, h, b) = fail(
                400,
                error(
                    400,
                    "Invalid JSON payload received. Unexpected token.",
                    None,
                ),
            );
            return play::reply(conn, s, &h, &b, keep_alive).await;
        }
    };
    let Some(contents) = body.get("contents").and_then(Value::as_array) else {
        let (s, h, b) = fail(
            400,
            error(
                400,
                "* GenerateContentRequest.contents: contents is not specified\n",
                None,
            ),
        );
        return play::reply(conn, s, &h, &b, keep_alive).await;
    };
    let model_full = percent_decode(model_segment);
    let (model, options) = script::split_model(&model_full);
    let script = Script::parse(options, req.header(script::HEADER)).and_then(|s| {
        match s.format.as_deref() {
            Some(f) if f != "gemini" => Err(format!(
                "format `{f}` is not spoken at /v1beta/models: use gemini"
            )),
            _ if s.refusal.is_some() => Err(
                "mock option `refusal` is not spoken at /v1beta/models: Gemini has no refusal field (a block is finish=SAFETY)".into(),
            ),
            _ => Ok(s),
        }
    });
    let script = match script {
        Ok(script) => script,
        Err(message) => {
            let details = vec![json!({
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "mock_bad_option",
                "domain": "polyfuse-mock-server",
            })];
            let (s, h, b) = fail(
                400,
                error(
                    400,
                    &format!("polyfuse-mock-server: {message}"),
                    Some(details),
                ),
            );
            return play::reply(conn, s, &h, &b, keep_alive).await;
        }
    };

    let key = script.key.clone().unwrap_or_else(|| model_full.clone());
    // `json_stream=1`: streamGenerateContent gets generateContent's JSON body.
    let stream = method == Method::StreamGenerateContent && !script.json_stream;
    let sse = req.query.split('&').any(|kv| kv == "alt=sse");
    let script = match play::gate(
        conn,
        &state.recorder,
        script,
        &key,
        stream && sse,
        default_status,
    )
    .await
    {
        Gate::Done(outcome) => return outcome,
        // A blocked prompt is not an error status: 200, no candidates, only promptFeedback.
        Gate::Error(_, ErrorKind::ContentFilter, script) if script.status.is_none() => {
            let prompt = prompt_tokens(&body, contents);
            let bytes = Obj::new()
                .f("promptFeedback", json!({"blockReason": "SAFETY"}))
                .opt(
                    "usageMetadata",
                    (!script.no_usage).then(|| {
                        Obj::new()
                            .f("promptTokenCount", prompt)
                            .f("totalTokenCount", prompt)
                            .raw()
                    }),
                )
                .f("modelVersion", model)
                .f("responseId", ids.alnum(23))
                .bytes();
            return play::reply(conn, 200, &json_headers(), &bytes, keep_alive).await;
        }
        Gate::Error(status, kind, script) => {
            let body = match script.error_body {
                ErrorBody::Native => scripted_error(kind, status, model, &api_key, &script),
                // A proxy in front of the API, answering in OpenAI's shape.
                ErrorBody::OpenAi => {
                    let request_id = format!("req_{}", ids.hex(32));
                    ErrorObject::for_kind(kind, status, model, &api_key, &script, &request_id)
                        .to_body()
                }
            };
            return play::reply(conn, status, &json_headers(), &body, keep_alive).await;
        }
        Gate::Answer(script) => script,
    };

    // The answer.
    let requested: Vec<String> = body
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| {
            t.get("functionDeclarations")
                .or_else(|| t.get("function_declarations"))
                .and_then(Value::as_array)
        })
        .flatten()
        .filter_map(|f| f.get("name").and_then(Value::as_str))
        .map(str::to_owned)
        .collect();
    let calls = answer::planned_calls(&script, &requested);
    let text = match calls {
        Some(_) => String::new(),
        None => answer::text(&script, model, &last_user_text(contents)),
    };
    let tokens = Tokens::new(
        &script,
        prompt_tokens(&body, contents),
        Tokens::completion_of(calls.as_deref(), &text),
    );
    let finish = script.finish.clone().unwrap_or_else(|| "STOP".to_owned());
    let response = Response {
        model,
        id: ids.alnum(23),
        tokens: (!script.no_usage).then_some(tokens),
    };

    if !stream {
        let parts = match &calls {
            Some(calls) => call_parts(calls),
            None => vec![text_part(&text)],
        };
        let bytes = response.chunk(parts, Some(&finish), tokens.completion);
        return play::reply(conn, 200, &json_headers(), &bytes, keep_alive).await;
    }

    // Content chunks with a running candidates count; the last one also carries finishReason.
    let mut chunks: Vec<(Vec<Raw>, u64)> = Vec::new();
    match &calls {
        // Function calls arrive whole, all in one chunk (pai_stream_function_call).
        Some(calls) => chunks.push((call_parts(calls), tokens.completion)),
        None => {
            let pieces = answer::split_text(&text, script.chunks);
            let n = pieces.len() as u64;
            let out = tokens.completion.saturating_sub(tokens.reasoning);
            for (i, piece) in pieces.iter().enumerate() {
                let running = (out * (i as u64 + 1)).div_ceil(n.max(1));
                chunks.push((vec![text_part(piece)], running + tokens.reasoning));
            }
        }
    }
    if !sse {
        // Without `alt=sse` the API answers a JSON array of the chunks; sent whole here.
        let last = chunks.len().saturating_sub(1);
        let items: Vec<Raw> = chunks
            .into_iter()
            .enumerate()
            .map(|(i, (parts, done))| {
                let finish = (i == last).then_some(finish.as_str());
                raw_bytes(response.chunk(parts, finish, done))
            })
            .collect();
        let bytes = serde_json::to_vec(&items).unwrap_or_default();
        return play::reply(conn, 200, &json_headers(), &bytes, keep_alive).await;
    }
    let mut plan = StreamPlan {
        done: None,
        malformed: b"data: {\"candidates\": broken-json\r\n\r\n".to_vec(),
        // Not recorded: a mid-stream failure as an error object in a data event.
        error: vec![frame(&error(500, script.error_text(INTERNAL), None))],
        keepalive: KEEPALIVE.to_vec(),
        ..StreamPlan::default()
    };
    for (parts, done) in &chunks {
        plan.content
            .push(frame(&response.chunk(parts.clone(), None, *done)));
    }
    if let Some((parts, done)) = chunks.last() {
        plan.fused_end = Some(vec![frame(&response.chunk(
            parts.clone(),
            Some(&finish),
            *done,
        ))]);
    }
    // Only sent when the last content chunk cannot carry the finish (no content at all, or
    // `malformed_at` names it): a separate empty-text finish chunk, as Gemini 3 sends.
    plan.tail.push(frame(&response.chunk(
        vec![text_part("")],
        Some(&finish),
        tokens.completion,
    )));
    play::stream(
        conn,
        &headers(started, EVENT_STREAM),
        &plan,
        &script,
        keep_alive,
    )
    .await
}

/// What every chunk of one response shares.
struct Response<'a> {
    model: &'a str,
    id: String,
    /// `None` with `usage=0`: no `usageMetadata`.
    tokens: Option<Tokens>,
}

impl Response<'_> {
    /// One `GenerateContentResponse` (pai_generate_text, pai_stream_text): `completion` is the
    /// candidates-plus-thoughts count so far.
    fn chunk(&self, parts: Vec<Raw>, finish: Option<&str>, completion: u64) -> Vec<u8> {
        let candidate = Obj::new()
            .f(
                "content",
                Obj::new().f("parts", parts).f("role", "model").raw(),
            )
            .opt("finishReason", finish)
            .f("index", 0)
            .raw();
        let usage = self.tokens.map(|t| {
            let thoughts = t.reasoning.min(completion);
            Obj::new()
                .f("promptTokenCount", t.prompt)
                .f("candidatesTokenCount", completion - thoughts)
                .f("totalTokenCount", t.prompt + completion)
                .opt(
                    "cachedContentTokenCount",
                    (t.cached > 0).then_some(t.cached),
                )
                .f(
                    "promptTokensDetails",
                    [json!({"modality": "TEXT", "tokenCount": t.prompt})],
                )
                .opt("thoughtsTokenCount", (thoughts > 0).then_some(thoughts))
                .raw()
        });
        Obj::new()
            .f("candidates", [candidate])
            .opt("usageMetadata", usage)
            .f("modelVersion", self.model)
            .f("responseId", &self.id)
            .bytes()
    }
}

fn text_part(text: &str) -> Raw {
    Obj::new().f("text", text).raw()
}

/// `{"functionCall":{"name","args"}}` parts; `args` is the parsed `tool_args` (the raw text as a
/// string when it is not JSON, scripted on purpose). Gemini calls have no id.
fn call_parts(calls: &[PlannedCall]) -> Vec<Raw> {
    calls
        .iter()
        .map(|c| {
            let args = serde_json::from_str::<Value>(&c.arguments)
                .map(raw)
                .unwrap_or_else(|_| raw(&c.arguments));
            Obj::new()
                .f(
                    "functionCall",
                    Obj::new().f("name", &c.name).f("args", args).raw(),
                )
                .raw()
        })
        .collect()
}

fn raw_bytes(bytes: Vec<u8>) -> Raw {
    serde_json::value::RawValue::from_string(String::from_utf8(bytes).unwrap_or_default())
        .unwrap_or_else(|_| crate::json::null())
}

/// The `keepalive_ms` event: an SSE comment, CRLF-framed like the rest of the stream (not
/// recorded: the API is not seen sending keep-alives).
const KEEPALIVE: &[u8] = b": keep-alive\r\n\r\n";

/// `data: <json>\r\n\r\n`: the real API frames events with CRLF.
fn frame(json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len() + 10);
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(json);
    out.extend_from_slice(b"\r\n\r\n");
    out
}

/// Text of a `parts` list (its `text` parts, joined by a space).
fn parts_text(parts: Option<&Value>) -> String {
    parts
        .and_then(Value::as_array)
        .map(|parts| {
            parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// Words of `systemInstruction`, plus words + 3 per `contents` entry.
fn prompt_tokens(body: &Value, contents: &[Value]) -> u64 {
    let system = body
        .get("systemInstruction")
        .or_else(|| body.get("system_instruction"))
        .map_or(0, |s| answer::count_words(&parts_text(s.get("parts"))));
    system
        + contents
            .iter()
            .map(|c| answer::count_words(&parts_text(c.get("parts"))) + 3)
            .sum::<u64>()
}

fn last_user_text(contents: &[Value]) -> String {
    contents
        .iter()
        .rev()
        .find(|c| matches!(c.get("role").and_then(Value::as_str), Some("user") | None))
        .map(|c| parts_text(c.get("parts")))
        .unwrap_or_default()
}

fn headers(started: Instant, content_type: &str) -> Vec<(String, String)> {
    let mut h = vec![
        ("content-type".to_owned(), content_type.to_owned()),
        ("vary".to_owned(), "Origin, X-Origin, Referer".to_owned()),
        (
            "server-timing".to_owned(),
            format!("gfet4t7; dur={}", started.elapsed().as_millis()),
        ),
        ("server".to_owned(), "polyfuse-mock-server".to_owned()),
    ];
    if content_type == EVENT_STREAM {
        h.push(("content-disposition".to_owned(), "attachment".to_owned()));
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(
            parse_path("/v1beta/models/gemini-2.5-flash:generateContent"),
            Some(("gemini-2.5-flash", Method::GenerateContent))
        );
        assert_eq!(
            parse_path("/v1beta/models/g%3Bchunks%3D2:streamGenerateContent"),
            Some(("g%3Bchunks%3D2", Method::StreamGenerateContent))
        );
        assert_eq!(parse_path("/v1beta/models/g:countTokens"), None);
        assert_eq!(parse_path("/v1beta/models/:generateContent"), None);
    }
}
