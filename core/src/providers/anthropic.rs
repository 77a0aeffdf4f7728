//! The Anthropic Messages wire format (`POST {base}/messages`): request translation from the
//! OpenAI-shaped [`Request`] (system → top-level `system`, tool calls → `tool_use` blocks, tool
//! results → `tool_result` blocks), response and named-event SSE stream parsing (incl. `ping`,
//! `error`, thinking), usage normalization and error classification.
//!
//! # Defaults
//! - `max_tokens` is required by the API: when the request sets none we send
//!   [`DEFAULT_MAX_TOKENS`] (4096), plus the thinking budget when `reasoning_effort` asks for one.
//! - `reasoning_effort` maps to `thinking: {type: "enabled", budget_tokens}`: `low` 1024,
//!   `medium` 4096, `high` 16384 (`minimal`/`none` leave thinking off). `extra.thinking` overrides.
//! - `response_format` `json_schema` becomes `output_config.format` (structured outputs);
//!   `json_object` is a clear error. `seed` has no Messages equivalent and is not sent.
//!
//! Usage: Anthropic's `input_tokens` EXCLUDES cache reads and writes, so input is normalized to
//! `input_tokens + cache_read_input_tokens + cache_creation_input_tokens`.
use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::http::{
    extra_headers, http_error, key_header, post_json, refine_by_message, ErrorReading, Scope,
};
use super::sse::SseEvent;
use super::stream::Decoder;
use super::{Accumulator, Completion, HttpWire, ProviderEvent, ProviderStream};
use crate::config::ProviderConfig;
use crate::types::error::{Error, ErrorKind, Result};
use crate::types::message::{Content, ContentPart, FunctionCall, Message, Role, ToolCall};
use crate::types::request::{Request, Stop};
use crate::types::response::FinishReason;
use crate::usage::{Usage, UsageSource};

/// The `anthropic-version` header every request carries.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";
/// `max_tokens` sent when the request does not set one (the API requires it).
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// An Anthropic Messages endpoint.
pub struct AnthropicProvider {
    scope: Arc<Scope>,
    url: String,
    headers: HeaderMap,
    http: reqwest::Client,
}

impl AnthropicProvider {
    pub fn new(name: &str, pc: &ProviderConfig, http: reqwest::Client) -> Result<Self> {
        let base = pc.base_url.as_deref().ok_or_else(|| {
            Error::config(format!("config key `providers.{name}.base_url`: required"))
        })?;
        let url = format!("{}/messages", base.trim_end_matches('/'));
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(
            "anthropic-version",
            HeaderValue::from_static(ANTHROPIC_VERSION),
        );
        extra_headers(name, pc, &mut headers)?;
        let api_key = pc.api_key.as_ref().map(|k| k.expose().to_string());
        if let Some(key) = &api_key {
            key_header(name, "x-api-key", key, &mut headers)?;
        }
        Ok(AnthropicProvider {
            scope: Arc::new(Scope::new(name, pc)),
            url,
            headers,
            http,
        })
    }

    /// The Messages request body for `req` (as JSON).
    pub fn request_body(&self, model: &str, req: &Request, stream: bool) -> Result<Value> {
        build_body(model, req, stream)
    }

    /// Parses an SSE body given as chunks, exactly as if it had arrived over the wire (replay,
    /// tests: e.g. one byte per chunk).
    pub fn replay_sse(&self, model: &str, chunks: Vec<bytes::Bytes>) -> ProviderStream {
        super::replay(self, model, chunks)
    }

    async fn send_request(
        &self,
        model: &str,
        req: &Request,
        stream: bool,
    ) -> Result<reqwest::Response> {
        let body = serde_json::to_vec(&build_request(model, req, stream)?)
            .map_err(|e| Error::invalid_request(format!("could not encode the request: {e}")))?;
        match post_json(
            &self.http,
            &self.url,
            &self.headers,
            body,
            &self.scope,
            model,
        )
        .await?
        {
            Ok(resp) => Ok(resp),
            Err(f) => Err(http_error(&self.scope, &f, model, read_error)),
        }
    }
}

/// Reads Anthropic's error body `{"type": "error", "error": {"type", "message"}}`. A body with an
/// OpenAI-style `code` or `param` is left to the OpenAI reader (a proxy in front).
pub(crate) fn read_error(body: &[u8], by_status: ErrorKind) -> Option<ErrorReading> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let e = v.get("error")?;
    if e.get("code").is_some() || e.get("param").is_some() {
        return None;
    }
    let d: ErrorDetail = serde_json::from_value(e.clone()).ok()?;
    Some(ErrorReading {
        kind: classify(
            by_status,
            d.kind.as_deref(),
            d.message.as_deref().unwrap_or(""),
        ),
        message: d.message_or_default(),
        code: d.kind,
        retry_after: None,
    })
}

/// Meaning of an Anthropic `error.type` (documented list), refined by the message for the
/// cases Anthropic reports under a generic type (prompt too long, no credit).
fn classify(by_status: ErrorKind, kind: Option<&str>, message: &str) -> ErrorKind {
    let lower = message.to_ascii_lowercase();
    if lower.contains("prompt is too long")
        || lower.contains("context window")
        || lower.contains("input length and `max_tokens` exceed")
    {
        return ErrorKind::ContextWindowExceeded;
    }
    if lower.contains("credit balance is too low") {
        return ErrorKind::Quota;
    }
    let kind = match kind {
        Some("invalid_request_error") | Some("not_found_error") => ErrorKind::InvalidRequest,
        Some("authentication_error") => ErrorKind::Authentication,
        Some("permission_error") => ErrorKind::Permission,
        Some("billing_error") => ErrorKind::Quota,
        Some("request_too_large") => ErrorKind::ContextWindowExceeded,
        Some("rate_limit_error") => ErrorKind::RateLimited,
        Some("api_error") => ErrorKind::Server,
        Some("overloaded_error") => ErrorKind::Overloaded,
        Some("timeout_error") => ErrorKind::Timeout,
        _ => by_status,
    };
    refine_by_message(kind, message)
}

// ---------------------------------------------------------------------------------------------
// Request

#[derive(Serialize)]
struct MessagesRequest<'a> {
    model: &'a str,
    max_tokens: u32,
    messages: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop_sequences: Option<Vec<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_config: Option<Value>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    extra: Option<&'a Map<String, Value>>,
}

fn thinking_budget(effort: Option<&str>) -> Option<u32> {
    match effort? {
        "low" => Some(1024),
        "medium" => Some(4096),
        "high" => Some(16384),
        _ => None,
    }
}

/// The request body as JSON (for inspection and tests; sending serializes [`build_request`]'s
/// typed body straight to bytes).
fn build_body(model: &str, req: &Request, stream: bool) -> Result<Value> {
    serde_json::to_value(build_request(model, req, stream)?)
        .map_err(|e| Error::invalid_request(format!("could not encode the request: {e}")))
}

fn build_request<'a>(
    model: &'a str,
    req: &'a Request,
    stream: bool,
) -> Result<MessagesRequest<'a>> {
    let p = &req.params;
    let (system, messages) = translate_messages(&req.messages)?;
    let budget = thinking_budget(p.reasoning_effort.as_deref());
    let max_tokens = p
        .max_tokens
        .unwrap_or(DEFAULT_MAX_TOKENS + budget.unwrap_or(0));
    let stop_sequences = p.stop.as_ref().map(|s| match s {
        Stop::One(s) => vec![s.as_str()],
        Stop::Many(v) => v.iter().map(String::as_str).collect(),
    });
    let tools = p
        .tools
        .as_ref()
        .map(|tools| tools.iter().map(translate_tool).collect::<Vec<_>>());
    let mut tool_choice = p.tool_choice.as_ref().and_then(translate_tool_choice);
    if p.parallel_tool_calls == Some(false) && tools.is_some() {
        let choice = tool_choice.get_or_insert_with(|| json!({"type": "auto"}));
        if choice["type"] != "none" {
            choice["disable_parallel_tool_use"] = Value::Bool(true);
        }
    }
    let body = MessagesRequest {
        model,
        max_tokens,
        messages,
        system,
        temperature: p.temperature,
        top_p: p.top_p,
        stop_sequences,
        tools,
        tool_choice,
        thinking: budget.map(|b| json!({"type": "enabled", "budget_tokens": b})),
        metadata: p.user.as_ref().map(|u| json!({"user_id": u})),
        output_config: p
            .response_format
            .as_ref()
            .map(translate_response_format)
            .transpose()?
            .flatten(),
        stream,
        extra: p.extra.as_ref(),
    };
    Ok(body)
}

/// OpenAI `response_format` → Messages structured outputs `output_config: {format: {type:
/// "json_schema", schema}}`. `json_object` (JSON without a schema) has no equivalent: a clear error.
fn translate_response_format(rf: &Value) -> Result<Option<Value>> {
    match rf.get("type").and_then(Value::as_str) {
        Some("text") => Ok(None),
        Some("json_schema") => {
            let schema = rf
                .get("json_schema")
                .and_then(|j| j.get("schema"))
                .ok_or_else(|| Error::invalid_request("parameter `response_format.json_schema.schema`: required"))?;
            Ok(Some(json!({"format": {"type": "json_schema", "schema": schema}})))
        }
        other => Err(Error::invalid_request(format!(
            "parameter `response_format`: type {other:?} has no Anthropic Messages equivalent; use `json_schema` with a schema"
        ))),
    }
}

/// OpenAI tool `{type:"function", function:{name, description, parameters}}` → `{name, description, input_schema}`.
fn translate_tool(tool: &Value) -> Value {
    let f = tool.get("function").unwrap_or(tool);
    let mut out = Map::new();
    out.insert("name".into(), f.get("name").cloned().unwrap_or(Value::Null));
    if let Some(d) = f.get("description") {
        out.insert("description".into(), d.clone());
    }
    let schema = f
        .get("parameters")
        .or_else(|| f.get("input_schema"))
        .cloned()
        .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
    out.insert("input_schema".into(), schema);
    Value::Object(out)
}

fn translate_tool_choice(choice: &Value) -> Option<Value> {
    match choice {
        Value::String(s) => match s.as_str() {
            "auto" => Some(json!({"type": "auto"})),
            "none" => Some(json!({"type": "none"})),
            "required" | "any" => Some(json!({"type": "any"})),
            _ => None,
        },
        Value::Object(o) => {
            let name = o
                .get("function")
                .and_then(|f| f.get("name"))
                .or_else(|| o.get("name"))?;
            Some(json!({"type": "tool", "name": name}))
        }
        _ => None,
    }
}

/// OpenAI-shaped content → Anthropic content blocks.
fn content_blocks(content: &Option<Content>) -> Vec<Value> {
    match content {
        None => Vec::new(),
        Some(Content::Text(t)) if t.is_empty() => Vec::new(),
        Some(Content::Text(t)) => vec![json!({"type": "text", "text": t})],
        Some(Content::Parts(parts)) => parts
            .iter()
            .map(|p| match p {
                ContentPart::Text { text } => json!({"type": "text", "text": text}),
                ContentPart::ImageUrl { image_url } => {
                    json!({"type": "image", "source": image_source(&image_url.url)})
                }
            })
            .collect(),
    }
}

/// `data:<mime>;base64,<data>` → base64 source; anything else → url source.
pub(crate) fn image_source(url: &str) -> Value {
    if let Some(rest) = url.strip_prefix("data:") {
        if let Some((meta, data)) = rest.split_once(',') {
            let media_type = meta.trim_end_matches(";base64");
            return json!({"type": "base64", "media_type": media_type, "data": data});
        }
    }
    json!({"type": "url", "url": url})
}

/// Splits out the system prompt and turns the conversation into user/assistant turns.
/// Consecutive messages of the same role are merged (tool results and a following user
/// message become one user turn).
fn translate_messages(messages: &[Message]) -> Result<(Option<Value>, Vec<Value>)> {
    let mut system: Vec<String> = Vec::new();
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let (role, blocks) = match m.role {
            Role::System | Role::Developer => {
                system.push(m.text());
                continue;
            }
            Role::User => ("user", content_blocks(&m.content)),
            Role::Assistant => {
                let mut blocks = content_blocks(&m.content);
                for tc in &m.tool_calls {
                    let input: Value = if tc.function.arguments.trim().is_empty() {
                        json!({})
                    } else {
                        serde_json::from_str(&tc.function.arguments).map_err(|e| {
                            Error::invalid_request(format!(
                                "messages[{i}].tool_calls: the arguments of `{}` are not JSON: {e}",
                                tc.function.name
                            ))
                        })?
                    };
                    blocks.push(json!({"type": "tool_use", "id": tc.id, "name": tc.function.name, "input": input}));
                }
                ("assistant", blocks)
            }
            Role::Tool => {
                let id = m.tool_call_id.clone().ok_or_else(|| {
                    Error::invalid_request(format!(
                        "messages[{i}]: a tool message needs `tool_call_id`"
                    ))
                })?;
                let content = match &m.content {
                    Some(Content::Parts(_)) => Value::Array(content_blocks(&m.content)),
                    _ => Value::String(m.text()),
                };
                (
                    "user",
                    vec![json!({"type": "tool_result", "tool_use_id": id, "content": content})],
                )
            }
        };
        match turns.last_mut() {
            Some((r, b)) if *r == role => b.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    let system = match system.len() {
        0 => None,
        1 => Some(Value::String(system.remove(0))),
        _ => Some(Value::Array(
            system
                .into_iter()
                .map(|t| json!({"type": "text", "text": t}))
                .collect(),
        )),
    };
    let messages = turns
        .into_iter()
        .map(|(role, content)| json!({"role": role, "content": content}))
        .collect();
    Ok((system, messages))
}

// ---------------------------------------------------------------------------------------------
// Response

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

impl ErrorDetail {
    fn message_or_default(&self) -> String {
        self.message
            .clone()
            .unwrap_or_else(|| "the provider reported an error without a message".into())
    }
}

#[derive(Deserialize)]
struct MessageResponse {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    content: Vec<Value>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    error: Option<ErrorDetail>,
}

/// Anthropic usage; every field optional because `message_delta` repeats only some of them.
#[derive(Deserialize, Default, Clone, Debug)]
struct WireUsage {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
    /// `{ephemeral_5m_input_tokens, ephemeral_1h_input_tokens}`: the writes by lifetime.
    #[serde(default)]
    cache_creation: Option<CacheCreation>,
    #[serde(default)]
    output_tokens_details: Option<OutputDetails>,
}

#[derive(Deserialize, Default, Clone, Debug)]
struct CacheCreation {
    #[serde(default)]
    ephemeral_1h_input_tokens: Option<u64>,
}

#[derive(Deserialize, Default, Clone, Debug)]
struct OutputDetails {
    #[serde(default)]
    thinking_tokens: Option<u64>,
}

impl WireUsage {
    /// Later values (message_delta, cumulative) win where present.
    fn merge(&mut self, later: WireUsage) {
        self.input_tokens = later.input_tokens.or(self.input_tokens);
        self.output_tokens = later.output_tokens.or(self.output_tokens);
        self.cache_creation_input_tokens = later
            .cache_creation_input_tokens
            .or(self.cache_creation_input_tokens);
        self.cache_read_input_tokens = later
            .cache_read_input_tokens
            .or(self.cache_read_input_tokens);
        if later.output_tokens_details.is_some() {
            self.output_tokens_details = later.output_tokens_details;
        }
        if later.cache_creation.is_some() {
            self.cache_creation = later.cache_creation;
        }
    }

    fn normalize(&self) -> Usage {
        let read = self.cache_read_input_tokens.unwrap_or(0);
        let write = self.cache_creation_input_tokens.unwrap_or(0);
        Usage {
            input_tokens: self
                .input_tokens
                .unwrap_or(0)
                .saturating_add(read)
                .saturating_add(write),
            output_tokens: self.output_tokens.unwrap_or(0),
            cached_input_tokens: read,
            cache_write_tokens: write,
            cache_write_1h_tokens: self
                .cache_creation
                .as_ref()
                .and_then(|c| c.ephemeral_1h_input_tokens)
                .unwrap_or(0)
                .min(write),
            reasoning_tokens: self
                .output_tokens_details
                .as_ref()
                .and_then(|d| d.thinking_tokens)
                .unwrap_or(0),
            cost_usd: None,
            source: UsageSource::Reported,
        }
    }
}

fn finish_reason(stop: &str) -> FinishReason {
    match stop {
        "end_turn" | "stop_sequence" => FinishReason::Stop,
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_string()),
    }
}

fn stream_error(detail: &ErrorDetail) -> Error {
    let kind = classify(
        ErrorKind::Server,
        detail.kind.as_deref(),
        detail.message.as_deref().unwrap_or(""),
    );
    Error::new(kind, detail.message_or_default()).with_provider_code(detail.kind.clone())
}

fn invalid(msg: String) -> Error {
    Error::new(ErrorKind::InvalidResponse, msg)
}

impl HttpWire for AnthropicProvider {
    fn scope(&self) -> &Arc<Scope> {
        &self.scope
    }

    /// A trailing assistant message is continued, not answered.
    fn supports_prefill(&self) -> bool {
        true
    }

    fn send<'a>(
        &'a self,
        model: &'a str,
        req: &'a Request,
        stream: bool,
    ) -> BoxFuture<'a, Result<reqwest::Response>> {
        Box::pin(self.send_request(model, req, stream))
    }

    fn parse(&self, bytes: &[u8], model: &str, include_raw: bool) -> Result<Completion> {
        parse_response(bytes, include_raw).map_err(|e| self.scope.tag(e, model))
    }

    fn decoder(&self) -> Box<dyn Decoder> {
        Box::new(StreamState::default())
    }
}

fn parse_response(bytes: &[u8], include_raw: bool) -> Result<Completion> {
    let resp: MessageResponse = serde_json::from_slice(bytes)
        .map_err(|e| invalid(format!("could not parse the provider's response: {e}")))?;
    if resp.kind.as_deref() == Some("error") || resp.error.is_some() {
        let detail = resp.error.unwrap_or(ErrorDetail {
            kind: None,
            message: None,
        });
        return Err(stream_error(&detail));
    }
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut tool_calls = Vec::new();
    for block in &resp.content {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => text.push_str(block.get("text").and_then(Value::as_str).unwrap_or("")),
            Some("thinking") => {
                reasoning.push_str(block.get("thinking").and_then(Value::as_str).unwrap_or(""))
            }
            Some("tool_use") => tool_calls.push(ToolCall {
                id: block
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                kind: "function".into(),
                function: FunctionCall {
                    name: block
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    arguments: block
                        .get("input")
                        .map(Value::to_string)
                        .unwrap_or_else(|| "{}".into()),
                },
            }),
            _ => {} // redacted_thinking, server tool blocks, citations: not modelled
        }
    }
    let finish =
        resp.stop_reason
            .as_deref()
            .map(finish_reason)
            .unwrap_or(if tool_calls.is_empty() {
                FinishReason::Stop
            } else {
                FinishReason::ToolCalls
            });
    let content = if text.is_empty() && !tool_calls.is_empty() {
        None
    } else {
        Some(Content::Text(text))
    };
    Ok(Completion {
        provider_response_id: resp.id,
        message: Message {
            role: Role::Assistant,
            content,
            name: None,
            tool_calls,
            tool_call_id: None,
            refusal: None,
        },
        finish_reason: finish,
        usage: resp.usage.map(|u| u.normalize()).unwrap_or_default(),
        provider_model: resp.model,
        raw: if include_raw {
            serde_json::from_slice(bytes).ok()
        } else {
            None
        },
        reasoning: (!reasoning.is_empty()).then_some(reasoning),
    })
}

// ---------------------------------------------------------------------------------------------
// Stream

/// The state of one Messages stream: feed it each event's data, get provider events back.
#[derive(Default)]
pub(crate) struct StreamState {
    acc: Accumulator,
    usage: WireUsage,
    /// Whether the stream carried any usage figure yet.
    usage_seen: bool,
    /// Content block index → tool-call ordinal (0, 1, ... in the order the calls appear).
    tool_blocks: BTreeMap<u64, u32>,
}

/// What one SSE event meant.
pub(crate) enum Step {
    Events(Vec<ProviderEvent>),
    Finished(Box<Completion>),
}

impl StreamState {
    /// Handles one event (`event_name` may be empty: the JSON `type` decides).
    pub(crate) fn on_event(&mut self, event_name: &str, data: &str) -> Result<Step> {
        let data = data.trim();
        if data.is_empty() {
            return Ok(Step::Events(Vec::new()));
        }
        let v: Value = serde_json::from_str(data).map_err(|e| {
            let snippet: String = data.chars().take(80).collect();
            invalid(format!("malformed stream event ({e}): {snippet}"))
        })?;
        let kind = v.get("type").and_then(Value::as_str).unwrap_or(event_name);
        let mut out = Vec::new();
        match kind {
            "message_start" => {
                let m = &v["message"];
                self.acc.response_id = m.get("id").and_then(Value::as_str).map(String::from);
                self.acc.provider_model = m.get("model").and_then(Value::as_str).map(String::from);
                if let Some(u) = m.get("usage") {
                    self.usage
                        .merge(serde_json::from_value(u.clone()).unwrap_or_default());
                    self.usage_seen = true;
                }
            }
            "content_block_start" => {
                let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                let block = &v["content_block"];
                match block.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        if let Some(t) = block
                            .get("text")
                            .and_then(Value::as_str)
                            .filter(|t| !t.is_empty())
                        {
                            self.acc.text.push_str(t);
                            out.push(ProviderEvent::TextDelta(t.to_string()));
                        }
                    }
                    Some("thinking") => {
                        if let Some(t) = block
                            .get("thinking")
                            .and_then(Value::as_str)
                            .filter(|t| !t.is_empty())
                        {
                            self.acc.reasoning.push_str(t);
                            out.push(ProviderEvent::ReasoningDelta(t.to_string()));
                        }
                    }
                    Some("tool_use") => {
                        let ordinal = self.tool_blocks.len() as u32;
                        self.tool_blocks.insert(index, ordinal);
                        let id = block.get("id").and_then(Value::as_str).map(String::from);
                        let name = block.get("name").and_then(Value::as_str).map(String::from);
                        out.push(self.acc.tool_call_delta(ordinal, id, name, String::new()));
                    }
                    _ => {}
                }
            }
            "content_block_delta" => {
                let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                let delta = &v["delta"];
                match delta.get("type").and_then(Value::as_str) {
                    Some("text_delta") => {
                        if let Some(t) = delta
                            .get("text")
                            .and_then(Value::as_str)
                            .filter(|t| !t.is_empty())
                        {
                            self.acc.text.push_str(t);
                            out.push(ProviderEvent::TextDelta(t.to_string()));
                        }
                    }
                    Some("thinking_delta") => {
                        if let Some(t) = delta
                            .get("thinking")
                            .and_then(Value::as_str)
                            .filter(|t| !t.is_empty())
                        {
                            self.acc.reasoning.push_str(t);
                            out.push(ProviderEvent::ReasoningDelta(t.to_string()));
                        }
                    }
                    Some("input_json_delta") => {
                        let fragment = delta
                            .get("partial_json")
                            .and_then(Value::as_str)
                            .unwrap_or("");
                        if let (Some(&ordinal), false) =
                            (self.tool_blocks.get(&index), fragment.is_empty())
                        {
                            out.push(self.acc.tool_call_delta(
                                ordinal,
                                None,
                                None,
                                fragment.to_string(),
                            ));
                        }
                    }
                    _ => {} // signature_delta, citations_delta
                }
            }
            "content_block_stop" => {
                // A tool without arguments streams only "": its input is `{}`.
                let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                if let Some(&ordinal) = self.tool_blocks.get(&index) {
                    if self
                        .acc
                        .tool_calls
                        .get(&ordinal)
                        .is_some_and(|tc| tc.function.arguments.is_empty())
                    {
                        out.push(self.acc.tool_call_delta(ordinal, None, None, "{}".into()));
                    }
                }
            }
            "message_delta" => {
                if let Some(stop) = v["delta"].get("stop_reason").and_then(Value::as_str) {
                    self.acc.finish_reason = Some(finish_reason(stop));
                }
                if let Some(u) = v.get("usage") {
                    self.usage
                        .merge(serde_json::from_value(u.clone()).unwrap_or_default());
                    self.usage_seen = true;
                }
            }
            "message_stop" => return Ok(Step::Finished(Box::new(self.finish()))),
            "error" => {
                let detail: ErrorDetail =
                    serde_json::from_value(v.get("error").cloned().unwrap_or(Value::Null))
                        .unwrap_or(ErrorDetail {
                            kind: None,
                            message: Some(data.to_string()),
                        });
                return Err(stream_error(&detail));
            }
            _ => {} // ping and future event types
        }
        Ok(Step::Events(out))
    }

    /// Whether the provider already said why it stopped (a stream cut after that is complete).
    pub(crate) fn has_finish_reason(&self) -> bool {
        self.acc.finish_reason.is_some()
    }

    pub(crate) fn finish(&mut self) -> Completion {
        let mut acc = std::mem::take(&mut self.acc);
        acc.usage = self.usage_seen.then(|| self.usage.normalize());
        acc.finish()
    }
}

impl Decoder for StreamState {
    fn event(&mut self, ev: SseEvent, out: &mut Vec<ProviderEvent>) -> Result<Option<Completion>> {
        match self.on_event(&ev.event, &ev.data)? {
            Step::Events(list) => {
                out.extend(list);
                Ok(None)
            }
            Step::Finished(c) => Ok(Some(*c)),
        }
    }

    fn end(&mut self) -> Option<Completion> {
        self.has_finish_reason().then(|| self.finish())
    }

    fn usage(&self) -> Option<Usage> {
        self.usage_seen.then(|| self.usage.normalize())
    }

    fn end_marker(&self) -> &'static str {
        "message_stop"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::sse::SseDecoder;

    fn run(sse: &str) -> (Vec<ProviderEvent>, Result<Completion>) {
        let mut d = SseDecoder::new();
        let mut evs = Vec::new();
        d.feed(sse.as_bytes(), &mut evs);
        d.finish(&mut evs);
        let mut st = StreamState::default();
        let mut out = Vec::new();
        for ev in evs {
            match st.on_event(&ev.event, &ev.data) {
                Ok(Step::Events(l)) => out.extend(l),
                Ok(Step::Finished(c)) => return (out, Ok(*c)),
                Err(e) => return (out, Err(e)),
            }
        }
        (out, Err(invalid("no message_stop".into())))
    }

    #[test]
    fn body_moves_system_and_translates_tools() {
        let req = Request::from_values(
            "anthropic/claude",
            json!([
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "w", "arguments": "{\"city\":\"Paris\"}"}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
            ]),
            json!({"tools": [{"type": "function", "function": {"name": "w", "description": "d", "parameters": {"type": "object"}}}], "tool_choice": "required", "stop": "END"}),
        )
        .unwrap();
        let body = build_body("claude", &req, true).unwrap();
        assert_eq!(body["system"], "Be brief.");
        assert_eq!(body["max_tokens"], DEFAULT_MAX_TOKENS);
        assert_eq!(body["stream"], true);
        assert_eq!(body["stop_sequences"], json!(["END"]));
        assert_eq!(
            body["tools"],
            json!([{"name": "w", "description": "d", "input_schema": {"type": "object"}}])
        );
        assert_eq!(body["tool_choice"], json!({"type": "any"}));
        assert_eq!(
            body["messages"][1]["content"][0],
            json!({"type": "tool_use", "id": "call_1", "name": "w", "input": {"city": "Paris"}})
        );
        assert_eq!(
            body["messages"][2],
            json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "sunny"}]})
        );
    }

    #[test]
    fn usage_counts_cache_reads_and_writes_as_input() {
        let u: WireUsage = serde_json::from_value(json!({"input_tokens": 3, "cache_read_input_tokens": 1111, "cache_creation_input_tokens": 418, "output_tokens": 33})).unwrap();
        let n = u.normalize();
        assert_eq!(
            (
                n.input_tokens,
                n.cached_input_tokens,
                n.cache_write_tokens,
                n.output_tokens
            ),
            (1532, 1111, 418, 33)
        );
    }

    #[test]
    fn no_arg_tool_gets_empty_object_and_ping_is_ignored() {
        let sse = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n\
event: ping\ndata: {\"type\": \"ping\"}\n\n\
event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t1\",\"name\":\"f\",\"input\":{}}}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\"}}\n\n\
event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n\
event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":9}}\n\n\
event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
        let (_, c) = run(sse);
        let c = c.unwrap();
        assert_eq!(c.message.tool_calls[0].function.arguments, "{}");
        assert_eq!(c.finish_reason, FinishReason::ToolCalls);
        assert_eq!((c.usage.input_tokens, c.usage.output_tokens), (5, 9));
    }

    #[test]
    fn midstream_error_is_classified_by_type_not_status() {
        let sse = "data: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n\
event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
        let (_, r) = run(sse);
        assert_eq!(r.unwrap_err().kind, ErrorKind::Overloaded);
        assert_eq!(
            classify(
                ErrorKind::InvalidRequest,
                Some("invalid_request_error"),
                "prompt is too long: 210000 tokens > 200000 maximum"
            ),
            ErrorKind::ContextWindowExceeded
        );
        assert_eq!(
            classify(
                ErrorKind::InvalidRequest,
                Some("invalid_request_error"),
                "Your credit balance is too low to access the Anthropic API."
            ),
            ErrorKind::Quota
        );
    }
}
