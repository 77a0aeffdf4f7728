//! The OpenAI Chat Completions wire format (`POST /v1/chat/completions`): auth, request reading,
//! non-stream bodies, stream chunks, error bodies and response headers, modelled on the real
//! recordings in shared/fixtures/providers/openai/ (see the README for which one backs what).

use std::time::Instant;

use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::answer::{self, Ids};
use crate::http::{Conn, Flow, Request};
use crate::play::{self, StreamPlan};
use crate::router::log_entry;
use crate::script::{self, ErrorKind, Script};
use crate::stats::Outcome;
use crate::State;

/// Path of the endpoint.
pub const PATH: &str = "/v1/chat/completions";

const SYSTEM_FINGERPRINT: &str = "fp_6d2c0b9c1e";
const JSON: &str = "application/json";
const EVENT_STREAM: &str = "text/event-stream; charset=utf-8";
const RATELIMIT_LIMIT_REQUESTS: u64 = 5000;
const RATELIMIT_LIMIT_TOKENS: u64 = 800_000;

/// Handles one `POST /v1/chat/completions` exchange and records its outcome.
pub(crate) async fn chat_completions(conn: &mut Conn, req: Request, state: &State) -> Flow {
    let started = Instant::now();
    let exchange = state.recorder.begin(log_entry(&req));
    let outcome = respond(conn, &req, state, started).await;
    exchange.finish(outcome);
    match outcome {
        Outcome::Completed => Flow::KeepAlive,
        Outcome::ClientGone | Outcome::ServerAbort => Flow::Close,
    }
}

async fn respond(conn: &mut Conn, req: &Request, state: &State, started: Instant) -> Outcome {
    let mut ids = Ids::new();
    let request_id = format!("req_{}", ids.hex(32));
    let keep_alive = req.keep_alive;
    let fail = |status: u16, error: ErrorObject| {
        let headers = headers(&request_id, started, JSON);
        (status, headers, error.to_body())
    };

    // Auth first, as the real API does.
    let api_key = match req
        .header("authorization")
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|k| !k.is_empty())
    {
        Some(key) => key,
        None => {
            let (s, h, b) = fail(401, ErrorObject::missing_key());
            return play::reply(conn, s, &h, &b, keep_alive).await;
        }
    };
    if api_key.starts_with("bad") || api_key.starts_with("sk-bad") {
        let (s, h, b) = fail(401, ErrorObject::invalid_api_key(api_key));
        return play::reply(conn, s, &h, &b, keep_alive).await;
    }

    let body: Value = match serde_json::from_slice(&req.body) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            let (s, h, b) = fail(400, ErrorObject::invalid_json());
            return play::reply(conn, s, &h, &b, keep_alive).await;
        }
    };
    let Some(model_full) = body.get("model").and_then(Value::as_str) else {
        let (s, h, b) = fail(400, ErrorObject::missing_model());
        return play::reply(conn, s, &h, &b, keep_alive).await;
    };
    let Some(messages) = body.get("messages").and_then(Value::as_array) else {
        let (s, h, b) = fail(400, ErrorObject::missing_messages());
        return play::reply(conn, s, &h, &b, keep_alive).await;
    };
    let (model, options) = script::split_model(model_full);
    let script = match Script::parse(options, req.header(script::HEADER)) {
        Ok(script) => script,
        Err(message) => {
            let (s, h, b) = fail(400, ErrorObject::bad_mock_option(message));
            return play::reply(conn, s, &h, &b, keep_alive).await;
        }
    };

    // `fail_times=N`: only the first N requests carrying this key get the faults.
    let key = script.key.clone().unwrap_or_else(|| model_full.to_owned());
    let count = state.recorder.count_key(&key);
    let script = match script.fail_times {
        Some(n) if count > n => script.without_faults(),
        _ => script,
    };

    let stream = body.get("stream").and_then(Value::as_bool) == Some(true);
    let stream_options = body.get("stream_options");
    let include_usage = stream_options
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        == Some(true);
    let obfuscation = stream_options
        .and_then(|o| o.get("include_obfuscation"))
        .and_then(Value::as_bool)
        != Some(false);

    let before_headers = if stream {
        script.latency
    } else {
        script.latency + script.ttft
    };
    if conn.pause(before_headers).await.is_err() {
        return Outcome::ClientGone;
    }
    if script.reset {
        return play::reset(conn);
    }
    if script.hang {
        return play::hang(conn).await;
    }
    if let Some((status, kind)) = script.error_response() {
        let error = ErrorObject::for_kind(kind, status, model, api_key, &script, &request_id);
        let (s, mut h, b) = fail(status, error);
        if let Some(v) = &script.retry_after {
            h.push(("retry-after".into(), v.clone()));
        }
        if let Some(v) = script.retry_after_ms {
            h.push(("retry-after-ms".into(), v.to_string()));
        }
        if let Some(v) = script.should_retry {
            h.push(("x-should-retry".into(), v.to_string()));
        }
        return play::reply(conn, s, &h, &b, keep_alive).await;
    }

    // The answer.
    let prompt_tokens = messages.iter().map(message_tokens).sum::<u64>();
    let tool_calls = tool_calls(&script, &body, &mut ids);
    let text = match tool_calls {
        Some(_) => String::new(),
        None => answer::text(&script, model, &last_user_text(messages)),
    };
    let completion_tokens = match &tool_calls {
        Some(calls) => calls
            .iter()
            .map(|c| answer::tool_call_tokens(&c.function.arguments))
            .sum(),
        None => answer::count_words(&text),
    };
    let usage = Usage::new(&script, prompt_tokens, completion_tokens);
    let finish_reason = script.finish.clone().unwrap_or_else(|| {
        if tool_calls.is_some() {
            "tool_calls"
        } else {
            "stop"
        }
        .to_owned()
    });
    let completion_id = format!("chatcmpl-{}", ids.alnum(29));
    let created = answer::unix_now();

    if !stream {
        let body = ChatCompletion {
            id: &completion_id,
            object: "chat.completion",
            created,
            model,
            choices: [Choice {
                index: 0,
                message: Message {
                    role: "assistant",
                    content: if tool_calls.is_some() {
                        None
                    } else {
                        Some(&text)
                    },
                    tool_calls: tool_calls.as_deref(),
                    refusal: None,
                    annotations: [],
                },
                logprobs: None,
                finish_reason: &finish_reason,
            }],
            usage,
            service_tier: "default",
            system_fingerprint: SYSTEM_FINGERPRINT,
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let h = headers(&request_id, started, JSON);
        return play::reply(conn, 200, &h, &bytes, keep_alive).await;
    }

    let chunks = Chunks {
        id: &completion_id,
        created,
        model,
        include_usage,
        obfuscation,
        ids: std::cell::RefCell::new(ids),
    };
    let mut plan = StreamPlan {
        done: Some(b"data: [DONE]\n\n".to_vec()),
        malformed: b"data: {\"id\": broken-json\n\n".to_vec(),
        error: vec![frame(&ErrorObject::mid_stream().to_body())],
        ..StreamPlan::default()
    };
    match &tool_calls {
        None => {
            plan.head.push(chunks.delta(Delta {
                role: Some("assistant"),
                content: Field::Value(""),
                refusal: Field::Null,
                ..Delta::default()
            }));
            for piece in answer::split_text(&text, script.chunks) {
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
                        name: Some(&call.function.name),
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
                for fragment in answer::split_fragments(&call.function.arguments, script.chunks) {
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
            finish_reason: Some(&finish_reason),
        }],
        None,
    ));
    if include_usage {
        plan.tail.push(chunks.event(Vec::new(), Some(usage)));
    }
    let h = headers(&request_id, started, EVENT_STREAM);
    play::stream(conn, &h, &plan, &script, keep_alive).await
}

/// Response headers of every completions response, as in the tidyllm recording.
fn headers(request_id: &str, started: Instant, content_type: &str) -> Vec<(String, String)> {
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

/// The scripted tool calls, if any: `tool_call=a,b` names them, `tools=1` calls the request's
/// own tools; `tool_calls=N` sets how many (default: as many names as given, else 1). Call i is
/// named by the i-th explicit name, else the i-th request tool, else the first name.
fn tool_calls(script: &Script, body: &Value, ids: &mut Ids) -> Option<Vec<ToolCall>> {
    let requested: Vec<String> = body
        .get("tools")
        .and_then(Value::as_array)
        .map(|tools| {
            tools
                .iter()
                .filter_map(|t| t.pointer("/function/name").and_then(Value::as_str))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let names: Vec<String> = match &script.tool_call {
        Some(names) => names.clone(),
        None if script.tools && !requested.is_empty() => vec![requested[0].clone()],
        None => return None,
    };
    let count = script
        .tool_calls
        .unwrap_or(script.tool_call.as_ref().map_or(1, Vec::len));
    let arguments = script
        .tool_args
        .clone()
        .unwrap_or_else(|| answer::DEFAULT_TOOL_ARGS.to_owned());
    Some(
        (0..count)
            .map(|i| ToolCall {
                id: format!("call_{}", ids.alnum(24)),
                kind: "function",
                function: Function {
                    name: names
                        .get(i)
                        .or_else(|| requested.get(i))
                        .unwrap_or(&names[0])
                        .clone(),
                    arguments: arguments.clone(),
                },
            })
            .collect(),
    )
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
    /// Counted tokens, with the script's overrides. Cached tokens are a subset of the prompt and
    /// reasoning tokens a subset of the completion, as in the real API.
    fn new(script: &Script, prompt: u64, completion: u64) -> Usage {
        let cached = script.cached_tokens.unwrap_or(0);
        let reasoning = script.reasoning_tokens.unwrap_or(0);
        let prompt = script.prompt_tokens.unwrap_or(prompt.max(cached));
        let completion = script.completion_tokens.unwrap_or(completion + reasoning);
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt + completion,
            prompt_tokens_details: PromptTokensDetails {
                cached_tokens: cached,
                audio_tokens: 0,
            },
            completion_tokens_details: CompletionTokensDetails {
                reasoning_tokens: reasoning,
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
fn frame(json: &[u8]) -> Vec<u8> {
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
struct ErrorObject {
    message: String,
    #[serde(rename = "type")]
    kind: Option<&'static str>,
    param: Option<&'static str>,
    code: Value,
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
            // error_429_insufficient_quota.json.
            ErrorKind::InsufficientQuota => Self::new(
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
