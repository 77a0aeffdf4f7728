//! The OpenAI Chat Completions wire format (`POST /v1/chat/completions`): auth, request reading,
//! non-stream bodies, stream chunks, error bodies and response headers, modelled on the real
//! recordings in tests/fixtures/providers/openai/ (see the README for which one backs what).
//!
//! The same endpoint also speaks two OpenAI-like flavours, chosen per request ([`Flavour`]): the
//! request handling here is shared, and `mistral.rs` / `openrouter.rs` render their own bodies,
//! chunks, errors and headers.

use std::time::Instant;

use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::answer::{self, Ids, PlannedCall, Tokens};
use crate::http::{Conn, Request};
use crate::play::{self, Gate, StreamPlan};
use crate::script::{self, ErrorKind, Script};
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
    pub calls: Option<Vec<Call>>,
    pub finish_reason: String,
    pub tokens: Tokens,
    /// `stream_options.include_usage` (OpenRouter also `usage.include`).
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
    let stream = body.get("stream").and_then(Value::as_bool) == Some(true);
    let gate = play::gate(conn, &state.recorder, script, &key, stream, |k| {
        flavour.default_status(k)
    });
    let script = match gate.await {
        Gate::Done(outcome) => return outcome,
        Gate::Error(status, kind, script) => {
            let mut h = json_headers();
            let b = match flavour {
                Flavour::OpenAi => {
                    ErrorObject::for_kind(kind, status, model, api_key, &script, &request_id)
                        .to_body()
                }
                Flavour::Mistral => mistral::error_body(kind, status, model, &script),
                Flavour::OpenRouter => openrouter::error_body(kind, status, model, &script),
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
        calls,
        finish_reason,
        tokens,
        include_usage,
    };

    if !stream {
        let bytes = match flavour {
            Flavour::OpenAi => completion_body(&answer),
            Flavour::Mistral => mistral::completion(&answer),
            Flavour::OpenRouter => openrouter::completion(&answer, &script),
        };
        return play::reply(conn, 200, &json_headers(), &bytes, keep_alive).await;
    }
    let plan = match flavour {
        Flavour::OpenAi => stream_plan(&answer, &script, obfuscation, ids),
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

fn completion_body(answer: &Answer<'_>) -> Vec<u8> {
    let tool_calls: Option<Vec<ToolCall>> = answer.calls.as_ref().map(|calls| {
        calls
            .iter()
            .map(|c| ToolCall {
                id: c.id.clone(),
                kind: "function",
                function: Function {
                    name: c.name.clone(),
                    arguments: c.arguments.clone(),
                },
            })
            .collect()
    });
    let body = ChatCompletion {
        id: &answer.id,
        object: "chat.completion",
        created: answer.created,
        model: answer.model,
        choices: [Choice {
            index: 0,
            message: Message {
                role: "assistant",
                content: if tool_calls.is_some() {
                    None
                } else {
                    Some(&answer.text)
                },
                tool_calls: tool_calls.as_deref(),
                refusal: None,
                annotations: [],
            },
            logprobs: None,
            finish_reason: &answer.finish_reason,
        }],
        usage: Usage::new(answer.tokens),
        service_tier: "default",
        system_fingerprint: SYSTEM_FINGERPRINT,
    };
    serde_json::to_vec(&body).unwrap_or_default()
}

fn stream_plan(answer: &Answer<'_>, script: &Script, obfuscation: bool, ids: Ids) -> StreamPlan {
    let chunks = Chunks {
        id: &answer.id,
        created: answer.created,
        model: answer.model,
        include_usage: answer.include_usage,
        obfuscation,
        ids: std::cell::RefCell::new(ids),
    };
    let mut plan = StreamPlan {
        done: Some(DONE.to_vec()),
        malformed: b"data: {\"id\": broken-json\n\n".to_vec(),
        error: vec![frame(&ErrorObject::mid_stream().to_body())],
        ..StreamPlan::default()
    };
    match &answer.calls {
        None => {
            plan.head.push(chunks.delta(Delta {
                role: Some("assistant"),
                content: Field::Value(""),
                refusal: Field::Null,
                ..Delta::default()
            }));
            for piece in answer::split_text(&answer.text, script.chunks) {
                plan.content.push(chunks.delta(Delta {
                    content: Field::Value(&piece),
                    ..Delta::default()
                }));
            }
        }
        Some(calls) => {
            // As recorded: a single call carries the role in its first delta; parallel calls get a
            // role-only chunk first.
            let single = calls.len() == 1;
            if !single {
                plan.head.push(chunks.delta(Delta {
                    role: Some("assistant"),
                    content: Field::Null,
                    ..Delta::default()
                }));
            }
            for (index, call) in calls.iter().enumerate() {
                let opening = ToolCallDelta {
                    index,
                    id: Some(&call.id),
                    kind: Some("function"),
                    function: FunctionDelta {
                        name: Some(&call.name),
                        arguments: "",
                    },
                };
                plan.content.push(chunks.delta(if single {
                    Delta {
                        role: Some("assistant"),
                        content: Field::Null,
                        tool_calls: Some(vec![opening]),
                        refusal: Field::Null,
                    }
                } else {
                    Delta {
                        tool_calls: Some(vec![opening]),
                        ..Delta::default()
                    }
                }));
                for fragment in answer::split_fragments(&call.arguments, script.chunks) {
                    plan.content.push(chunks.delta(Delta {
                        tool_calls: Some(vec![ToolCallDelta {
                            index,
                            id: None,
                            kind: None,
                            function: FunctionDelta {
                                name: None,
                                arguments: &fragment,
                            },
                        }]),
                        ..Delta::default()
                    }));
                }
            }
        }
    }
    plan.tail.push(chunks.event(
        vec![ChunkChoice {
            index: 0,
            delta: Delta::default(),
            logprobs: None,
            finish_reason: Some(&answer.finish_reason),
        }],
        None,
    ));
    if answer.include_usage {
        plan.tail
            .push(chunks.event(Vec::new(), Some(Usage::new(answer.tokens))));
    }
    plan
}

/// `data: [DONE]\n\n`.
pub(crate) const DONE: &[u8] = b"data: [DONE]\n\n";

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

// ---- wire types (field order = the real API's) ----

#[derive(Serialize)]
struct ChatCompletion<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: [Choice<'a>; 1],
    usage: Usage,
    service_tier: &'static str,
    system_fingerprint: &'static str,
}

#[derive(Serialize)]
struct Choice<'a> {
    index: u32,
    message: Message<'a>,
    logprobs: Option<()>,
    finish_reason: &'a str,
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'static str,
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<&'a [ToolCall]>,
    refusal: Option<()>,
    annotations: [(); 0],
}

#[derive(Serialize, Clone)]
struct ToolCall {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    function: Function,
}

#[derive(Serialize, Clone)]
struct Function {
    name: String,
    arguments: String,
}

#[derive(Serialize, Clone, Copy)]
struct Usage {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
    prompt_tokens_details: PromptTokensDetails,
    completion_tokens_details: CompletionTokensDetails,
}

#[derive(Serialize, Clone, Copy)]
struct PromptTokensDetails {
    cached_tokens: u64,
    audio_tokens: u64,
}

#[derive(Serialize, Clone, Copy)]
struct CompletionTokensDetails {
    reasoning_tokens: u64,
    audio_tokens: u64,
    accepted_prediction_tokens: u64,
    rejected_prediction_tokens: u64,
}

impl Usage {
    /// The neutral counts in OpenAI's shape: cached tokens are a subset of the prompt and
    /// reasoning tokens a subset of the completion, as in the real API.
    fn new(tokens: Tokens) -> Usage {
        Usage {
            prompt_tokens: tokens.prompt,
            completion_tokens: tokens.completion,
            total_tokens: tokens.total(),
            prompt_tokens_details: PromptTokensDetails {
                cached_tokens: tokens.cached,
                audio_tokens: 0,
            },
            completion_tokens_details: CompletionTokensDetails {
                reasoning_tokens: tokens.reasoning,
                audio_tokens: 0,
                accepted_prediction_tokens: 0,
                rejected_prediction_tokens: 0,
            },
        }
    }
}

/// A JSON field that can be absent, `null`, or a value.
#[derive(Clone, Copy, Default)]
enum Field<T> {
    #[default]
    Absent,
    Null,
    Value(T),
}

impl<T> Field<T> {
    fn is_absent(&self) -> bool {
        matches!(self, Field::Absent)
    }
}

impl<T: Serialize> Serialize for Field<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Field::Value(v) => v.serialize(s),
            Field::Absent | Field::Null => s.serialize_none(),
        }
    }
}

#[derive(Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    service_tier: &'static str,
    system_fingerprint: &'static str,
    choices: Vec<ChunkChoice<'a>>,
    #[serde(skip_serializing_if = "Field::is_absent")]
    usage: Field<Usage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    obfuscation: Option<String>,
}

#[derive(Serialize)]
struct ChunkChoice<'a> {
    index: u32,
    delta: Delta<'a>,
    logprobs: Option<()>,
    finish_reason: Option<&'a str>,
}

#[derive(Serialize, Default)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Field::is_absent")]
    content: Field<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<Vec<ToolCallDelta<'a>>>,
    #[serde(skip_serializing_if = "Field::is_absent")]
    refusal: Field<()>,
}

#[derive(Serialize)]
struct ToolCallDelta<'a> {
    index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    function: FunctionDelta<'a>,
}

#[derive(Serialize)]
struct FunctionDelta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    arguments: &'a str,
}

/// Builds the framed chunk events of one stream.
struct Chunks<'a> {
    id: &'a str,
    created: u64,
    model: &'a str,
    include_usage: bool,
    obfuscation: bool,
    ids: std::cell::RefCell<Ids>,
}

impl Chunks<'_> {
    fn delta(&self, delta: Delta<'_>) -> Vec<u8> {
        self.event(
            vec![ChunkChoice {
                index: 0,
                delta,
                logprobs: None,
                finish_reason: None,
            }],
            None,
        )
    }

    /// With `stream_options.include_usage`, every chunk but the usage chunk has `"usage":null`
    /// (vercel_openai-text.stream.jsonl, pai_stream_tool_call.response.sse); without it the
    /// field is absent (openaipy recordings, API reference).
    fn event(&self, choices: Vec<ChunkChoice<'_>>, usage: Option<Usage>) -> Vec<u8> {
        let usage = match (usage, self.include_usage) {
            (Some(u), _) => Field::Value(u),
            (None, true) => Field::Null,
            (None, false) => Field::Absent,
        };
        // Recent API versions pad every chunk with a random `obfuscation` string (opt out with
        // `stream_options.include_obfuscation: false`); clients must ignore it.
        let obfuscation = self.obfuscation.then(|| {
            let mut ids = self.ids.borrow_mut();
            let len = 2 + (ids.next_u64() % 14) as usize;
            ids.alnum(len)
        });
        let chunk = Chunk {
            id: self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: self.model,
            service_tier: "default",
            system_fingerprint: SYSTEM_FINGERPRINT,
            choices,
            usage,
            obfuscation,
        };
        frame(&serde_json::to_vec(&chunk).unwrap_or_default())
    }
}

/// `data: <json>\n\n`.
pub(crate) fn frame(json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len() + 8);
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(json);
    out.extend_from_slice(b"\n\n");
    out
}

// ---- errors: {"error":{"message","type","param","code"}} ----

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a ErrorObject,
}

#[derive(Serialize)]
pub(crate) struct ErrorObject {
    pub(crate) message: String,
    #[serde(rename = "type")]
    pub(crate) kind: Option<&'static str>,
    pub(crate) param: Option<&'static str>,
    pub(crate) code: Value,
    /// Azure's content-filter error adds these two.
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    innererror: Option<Value>,
}

impl ErrorObject {
    fn new(
        message: impl Into<String>,
        kind: &'static str,
        param: Option<&'static str>,
        code: Option<&'static str>,
    ) -> Self {
        ErrorObject {
            message: message.into(),
            kind: Some(kind),
            param,
            code: code.map_or(Value::Null, Value::from),
            status: None,
            innererror: None,
        }
    }

    fn to_body(&self) -> Vec<u8> {
        serde_json::to_vec(&ErrorBody { error: self }).unwrap_or_default()
    }

    fn missing_key() -> Self {
        Self::new(
            "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username. You can obtain an API key from https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
            None,
            None,
        )
    }

    /// Echoes the key in full, as the real API does: the client must redact it.
    fn invalid_api_key(key: &str) -> Self {
        Self::new(
            format!("Incorrect API key provided: {key}. You can find your API key at https://platform.openai.com/account/api-keys."),
            "invalid_request_error",
            None,
            Some("invalid_api_key"),
        )
    }

    fn invalid_json() -> Self {
        Self::new(
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)",
            "invalid_request_error",
            None,
            None,
        )
    }

    fn missing_model() -> Self {
        Self::new(
            "you must provide a model parameter",
            "invalid_request_error",
            None,
            None,
        )
    }

    fn missing_messages() -> Self {
        Self::new(
            "Missing required parameter: 'messages'.",
            "invalid_request_error",
            Some("messages"),
            Some("missing_required_parameter"),
        )
    }

    fn bad_mock_option(message: String) -> Self {
        Self::new(
            format!("polyfuse-mock-server: {message}"),
            "invalid_request_error",
            Some("model"),
            Some("mock_bad_option"),
        )
    }

    fn mid_stream() -> Self {
        Self::new("stream failed after output", "server_error", None, None)
    }

    fn for_kind(
        kind: ErrorKind,
        status: u16,
        model: &str,
        api_key: &str,
        script: &Script,
        request_id: &str,
    ) -> Self {
        match kind {
            // reasoning-model-legacy-parameter-error.json (vercel, REC).
            ErrorKind::InvalidRequest => Self::new(
                "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
                "invalid_request_error",
                Some("max_tokens"),
                Some("unsupported_parameter"),
            ),
            ErrorKind::ContextLengthExceeded => Self::new(
                "This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens. Please reduce the length of the messages.",
                "invalid_request_error",
                Some("messages"),
                Some("context_length_exceeded"),
            ),
            // Azure OpenAI's prompt filter (the public API has no such 400; Azure is a target).
            ErrorKind::ContentFilter => ErrorObject {
                message: "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry. To learn more about our content filtering policies please read our documentation: https://go.microsoft.com/fwlink/?linkid=2198766".into(),
                kind: None,
                param: Some("prompt"),
                code: Value::from("content_filter"),
                status: Some(status),
                innererror: Some(serde_json::json!({
                    "code": "ResponsibleAIPolicyViolation",
                    "content_filter_result": {
                        "hate": {"filtered": false, "severity": "safe"},
                        "jailbreak": {"filtered": false, "detected": false},
                        "self_harm": {"filtered": false, "severity": "safe"},
                        "sexual": {"filtered": false, "severity": "safe"},
                        "violence": {"filtered": true, "severity": "medium"}
                    }
                })),
            },
            ErrorKind::InvalidApiKey => Self::invalid_api_key(api_key),
            ErrorKind::PermissionDenied => Self::new(
                "Country, region, or territory not supported",
                "request_forbidden",
                None,
                Some("unsupported_country_region_territory"),
            ),
            ErrorKind::ModelNotFound => Self::new(
                format!("The model `{model}` does not exist or you do not have access to it."),
                "invalid_request_error",
                None,
                Some("model_not_found"),
            ),
            ErrorKind::RequestTooLarge => Self::new(
                format!("Request too large for {model}. Please reduce the size of your request."),
                "invalid_request_error",
                None,
                Some("request_too_large"),
            ),
            // error_429_rate_limit_exceeded_tpm.json.
            ErrorKind::RateLimit => {
                let wait = match (script.retry_after_ms, &script.retry_after) {
                    (Some(ms), _) if ms < 1000 => format!("{ms}ms"),
                    (Some(ms), _) => format!("{}s", ms as f64 / 1000.0),
                    (None, Some(s)) if s.parse::<f64>().is_ok() => format!("{s}s"),
                    _ => "1.574s".to_owned(),
                };
                Self::new(
                    format!("Rate limit reached for {model} in organization org-mock on tokens per min (TPM): Limit 200000, Used 162960, Requested 42288. Please try again in {wait}. Visit https://platform.openai.com/account/rate-limits to learn more."),
                    "tokens",
                    None,
                    Some("rate_limit_exceeded"),
                )
            }
            // error_429_insufficient_quota.json (OpenAI has no 402: out of credits is this body).
            ErrorKind::InsufficientQuota | ErrorKind::InsufficientCredits => Self::new(
                "You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
                "insufficient_quota",
                None,
                Some("insufficient_quota"),
            ),
            ErrorKind::ServerError => Self::new(
                "The server had an error while processing your request. Sorry about that!",
                "server_error",
                None,
                None,
            ),
            ErrorKind::BadGateway => ErrorObject {
                code: Value::from(502),
                ..Self::new("Bad gateway.", "cf_bad_gateway", None, None)
            },
            ErrorKind::Overloaded => Self::new(
                format!("That model is currently overloaded with other requests. You can retry your request, or contact us through our help center at help.openai.com if the error persists. (Please include the request ID {request_id} in your message.)"),
                "server_error",
                None,
                None,
            ),
            ErrorKind::Other(status) => Self::new(
                format!("polyfuse-mock-server: scripted HTTP {status}"),
                if status >= 500 {
                    "server_error"
                } else {
                    "invalid_request_error"
                },
                None,
                None,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delta_fields_absent_null_or_set() {
        let d = Delta {
            role: Some("assistant"),
            content: Field::Value(""),
            refusal: Field::Null,
            ..Delta::default()
        };
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            r#"{"role":"assistant","content":"","refusal":null}"#
        );
        assert_eq!(serde_json::to_string(&Delta::default()).unwrap(), "{}");
    }

    #[test]
    fn error_shapes() {
        let e = ErrorObject::invalid_api_key("bad-key-123");
        let v: Value = serde_json::from_slice(&e.to_body()).unwrap();
        assert_eq!(v["error"]["code"], "invalid_api_key");
        assert!(v["error"]["param"].is_null());
        assert!(v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("bad-key-123"));
        let s = Script::default();
        let e = ErrorObject::for_kind(ErrorKind::BadGateway, 502, "m", "k", &s, "r");
        let v: Value = serde_json::from_slice(&e.to_body()).unwrap();
        assert_eq!(v["error"]["code"], 502);
    }

    #[test]
    fn prompt_tokens_count_text_parts() {
        let m: Value = serde_json::json!({"role":"user","content":[{"type":"text","text":"a b"},{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":"c"}]});
        assert_eq!(content_text(&m), "a b c");
        assert_eq!(message_tokens(&m), 6);
    }
}
