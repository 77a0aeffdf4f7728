//! The Google Gemini wire format (Generative Language API v1beta): `models/{model}:generateContent`
//! and `:streamGenerateContent?alt=sse`, key in the `x-goog-api-key` header (never in the URL).
//! Request translation (contents/parts, systemInstruction, functionDeclarations, toolConfig,
//! generationConfig), response and stream parsing, usage normalization and error classification.
//!
//! # Defaults and conventions
//! - Gemini function calls carry no id: we synthesize stable ones (`call_` + a hash of the response
//!   id, the call's position and name), so the same response always yields the same ids.
//! - Assistant function calls sent back get `thoughtSignature: "skip_thought_signature_validator"`
//!   on the first call of each turn (Google's documented escape for calls whose signature was not
//!   kept: OpenAI-shaped messages have no place for it). Gemini 3 rejects such turns otherwise.
//! - Tool parameters (JSON Schema in OpenAI tools) are sent as `parametersJsonSchema`.
//! - A tool result whose content is a JSON object is sent as the `functionResponse.response`;
//!   any other content as `{"result": <text>}`.
//! - `reasoning_effort` maps to `thinkingConfig {thinkingBudget, includeThoughts: true}`:
//!   `none`/`minimal` 0, `low` 1024, `medium` 8192, `high` 24576.
//! - Usage: `thoughtsTokenCount` is NOT part of `candidatesTokenCount`, so output = candidates +
//!   thoughts; input = prompt (+ tool-use prompt), cached = `cachedContentTokenCount`. A stream
//!   repeats usage on every chunk as a running count: the last one wins. Streams have no end
//!   marker: a stream is complete when a chunk carried a `finishReason` and the body ended.
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::http::{extra_headers, http_error, key_header, post_json, ErrorReading, Scope};
use super::sse::SseEvent;
use super::stream::Decoder;
use super::{Accumulator, Completion, HttpWire, ProviderEvent, ProviderStream};
use crate::config::ProviderConfig;
use crate::providers::http::kind_for_status;
use crate::types::error::{Error, ErrorKind, Result};
use crate::types::message::{Content, ContentPart, Message, Role};
use crate::types::request::{Request, Stop};
use crate::types::response::FinishReason;
use crate::usage::{Usage, UsageSource};

/// The dummy signature Google documents for function calls whose thought signature was not kept.
pub const SKIP_SIGNATURE: &str = "skip_thought_signature_validator";

/// A Gemini endpoint.
pub struct GeminiProvider {
    scope: Arc<Scope>,
    base: String,
    headers: HeaderMap,
    http: reqwest::Client,
}

impl GeminiProvider {
    pub fn new(name: &str, pc: &ProviderConfig, http: reqwest::Client) -> Result<Self> {
        let base = pc
            .base_url
            .as_deref()
            .ok_or_else(|| {
                Error::config(format!("config key `providers.{name}.base_url`: required"))
            })?
            .trim_end_matches('/')
            .to_string();
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        extra_headers(name, pc, &mut headers)?;
        let api_key = pc.api_key.as_ref().map(|k| k.expose().to_string());
        if let Some(key) = &api_key {
            key_header(name, "x-goog-api-key", key, &mut headers)?;
        }
        Ok(GeminiProvider {
            scope: Arc::new(Scope::new(name, pc)),
            base,
            headers,
            http,
        })
    }

    /// The generateContent request body for `req` (as JSON).
    pub fn request_body(&self, _model: &str, req: &Request, _stream: bool) -> Result<Value> {
        build_body(req)
    }

    /// Parses an SSE body given as chunks, exactly as if it had arrived over the wire (replay,
    /// tests: e.g. one byte per chunk).
    pub fn replay_sse(&self, model: &str, chunks: Vec<bytes::Bytes>) -> ProviderStream {
        super::replay(self, model, chunks)
    }

    /// The endpoint for `model`: its name is one escaped path segment, whatever it contains.
    pub(crate) fn url(&self, model: &str, stream: bool) -> String {
        let model = super::http::encode_path(model);
        if stream {
            format!("{}/models/{model}:streamGenerateContent?alt=sse", self.base)
        } else {
            format!("{}/models/{model}:generateContent", self.base)
        }
    }

    async fn send_request(
        &self,
        model: &str,
        req: &Request,
        stream: bool,
    ) -> Result<reqwest::Response> {
        let url = self.url(model, stream);
        let body = serde_json::to_vec(&build_body(req)?)
            .map_err(|e| Error::invalid_request(format!("could not encode the request: {e}")))?;
        match post_json(&self.http, &url, &self.headers, body, &self.scope, model).await? {
            Ok(resp) => Ok(resp),
            Err(f) => Err(http_error(&self.scope, &f, model, read_error)),
        }
    }
}

/// Reads Gemini's error body `{"error": {"code", "message", "status", "details"}}` (Vertex: in an
/// array). A body without Gemini's `status` is left to the OpenAI reader (a proxy in front).
pub(crate) fn read_error(body: &[u8], by_status: ErrorKind) -> Option<ErrorReading> {
    let detail = parse_error_body(body).filter(|d| d.status.is_some())?;
    let e = detail.to_error(by_status);
    Some(ErrorReading {
        kind: e.kind,
        message: e.message,
        code: e.provider_code,
        retry_after: e.retry_after,
    })
}

// ---------------------------------------------------------------------------------------------
// Request

fn build_body(req: &Request) -> Result<Value> {
    let p = &req.params;
    let mut body = Map::new();
    let (system, contents) = translate_messages(&req.messages)?;
    body.insert("contents".into(), Value::Array(contents));
    if let Some(system) = system {
        body.insert(
            "systemInstruction".into(),
            json!({"parts": [{"text": system}]}),
        );
    }
    if let Some(tools) = &p.tools {
        let decls: Vec<Value> = tools
            .iter()
            .map(|t| {
                let f = t.get("function").unwrap_or(t);
                let mut d = Map::new();
                d.insert("name".into(), f.get("name").cloned().unwrap_or(Value::Null));
                if let Some(desc) = f.get("description") {
                    d.insert("description".into(), desc.clone());
                }
                // OpenAI tools carry JSON Schema: sent as `parametersJsonSchema` (full JSON
                // Schema), not `parameters` (Gemini's OpenAPI subset rejects e.g. additionalProperties).
                if let Some(params) = f.get("parameters") {
                    d.insert("parametersJsonSchema".into(), params.clone());
                }
                Value::Object(d)
            })
            .collect();
        body.insert("tools".into(), json!([{"functionDeclarations": decls}]));
    }
    if let Some(choice) = &p.tool_choice {
        let config = match choice {
            Value::String(s) => match s.as_str() {
                "auto" => Some(json!({"mode": "AUTO"})),
                "none" => Some(json!({"mode": "NONE"})),
                "required" | "any" => Some(json!({"mode": "ANY"})),
                _ => None,
            },
            Value::Object(o) => o
                .get("function")
                .and_then(|f| f.get("name"))
                .map(|name| json!({"mode": "ANY", "allowedFunctionNames": [name]})),
            _ => None,
        };
        if let Some(c) = config {
            body.insert("toolConfig".into(), json!({"functionCallingConfig": c}));
        }
    }
    let mut gen = Map::new();
    if let Some(t) = p.temperature {
        gen.insert("temperature".into(), json!(t));
    }
    if let Some(t) = p.top_p {
        gen.insert("topP".into(), json!(t));
    }
    if let Some(m) = p.max_tokens {
        gen.insert("maxOutputTokens".into(), json!(m));
    }
    if let Some(stop) = &p.stop {
        let list: Vec<&str> = match stop {
            Stop::One(s) => vec![s.as_str()],
            Stop::Many(v) => v.iter().map(String::as_str).collect(),
        };
        gen.insert("stopSequences".into(), json!(list));
    }
    if let Some(seed) = p.seed {
        gen.insert("seed".into(), json!(seed));
    }
    if let Some(rf) = &p.response_format {
        match rf.get("type").and_then(Value::as_str) {
            Some("json_object") => {
                gen.insert("responseMimeType".into(), json!("application/json"));
            }
            Some("json_schema") => {
                gen.insert("responseMimeType".into(), json!("application/json"));
                if let Some(schema) = rf.get("json_schema").and_then(|s| s.get("schema")) {
                    gen.insert("responseJsonSchema".into(), schema.clone());
                }
            }
            _ => {}
        }
    }
    let budget = match p.reasoning_effort.as_deref() {
        Some("none") | Some("minimal") => Some(0),
        Some("low") => Some(1024),
        Some("medium") => Some(8192),
        Some("high") => Some(24576),
        _ => None,
    };
    if let Some(b) = budget {
        gen.insert(
            "thinkingConfig".into(),
            json!({"thinkingBudget": b, "includeThoughts": b > 0}),
        );
    }
    if !gen.is_empty() {
        body.insert("generationConfig".into(), Value::Object(gen));
    }
    if let Some(extra) = &p.extra {
        for (k, v) in extra {
            body.insert(k.clone(), v.clone());
        }
    }
    Ok(Value::Object(body))
}

fn parts_of(content: &Option<Content>) -> Vec<Value> {
    match content {
        None => Vec::new(),
        Some(Content::Text(t)) if t.is_empty() => Vec::new(),
        Some(Content::Text(t)) => vec![json!({"text": t})],
        Some(Content::Parts(parts)) => parts
            .iter()
            .map(|p| match p {
                ContentPart::Text { text } => json!({"text": text}),
                ContentPart::ImageUrl { image_url } => match image_url.url.strip_prefix("data:").and_then(|r| r.split_once(',')) {
                    Some((meta, data)) => json!({"inlineData": {"mimeType": meta.trim_end_matches(";base64"), "data": data}}),
                    None => json!({"fileData": {"fileUri": image_url.url}}),
                },
            })
            .collect(),
    }
}

fn translate_messages(messages: &[Message]) -> Result<(Option<String>, Vec<Value>)> {
    let mut system: Vec<String> = Vec::new();
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    // tool_call_id → function name, to name functionResponse parts.
    let mut names: BTreeMap<&str, &str> = BTreeMap::new();
    for (i, m) in messages.iter().enumerate() {
        let (role, parts) = match m.role {
            Role::System | Role::Developer => {
                system.push(m.text());
                continue;
            }
            Role::User => ("user", parts_of(&m.content)),
            Role::Assistant => {
                let mut parts = parts_of(&m.content);
                for (n, tc) in m.tool_calls.iter().enumerate() {
                    names.insert(tc.id.as_str(), tc.function.name.as_str());
                    let args: Value = if tc.function.arguments.trim().is_empty() {
                        json!({})
                    } else {
                        serde_json::from_str(&tc.function.arguments).map_err(|e| {
                            Error::invalid_request(format!(
                                "messages[{i}].tool_calls: the arguments of `{}` are not JSON: {e}",
                                tc.function.name
                            ))
                        })?
                    };
                    let mut part = json!({"functionCall": {"id": tc.id, "name": tc.function.name, "args": args}});
                    if n == 0 {
                        part["thoughtSignature"] = json!(SKIP_SIGNATURE);
                    }
                    parts.push(part);
                }
                ("model", parts)
            }
            Role::Tool => {
                let id = m.tool_call_id.as_deref().unwrap_or_default();
                let name = names.get(id).copied().or(m.name.as_deref()).ok_or_else(|| {
                    Error::invalid_request(format!(
                        "messages[{i}]: tool result `{id}` answers no earlier assistant tool call (Gemini needs the function name)"
                    ))
                })?;
                let text = m.text();
                let response = match serde_json::from_str::<Value>(&text) {
                    Ok(Value::Object(o)) => Value::Object(o),
                    _ => json!({"result": text}),
                };
                (
                    "user",
                    vec![
                        json!({"functionResponse": {"id": id, "name": name, "response": response}}),
                    ],
                )
            }
        };
        match turns.last_mut() {
            Some((r, p)) if *r == role => p.extend(parts),
            _ => turns.push((role, parts)),
        }
    }
    let contents = turns
        .into_iter()
        .map(|(role, parts)| json!({"role": role, "parts": parts}))
        .collect();
    Ok(((!system.is_empty()).then(|| system.join("\n\n")), contents))
}

// ---------------------------------------------------------------------------------------------
// Response

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct GenerateResponse {
    #[serde(default)]
    candidates: Vec<Candidate>,
    #[serde(default)]
    prompt_feedback: Option<Value>,
    #[serde(default)]
    usage_metadata: Option<UsageMetadata>,
    #[serde(default)]
    model_version: Option<String>,
    #[serde(default)]
    response_id: Option<String>,
    #[serde(default)]
    error: Option<ErrorDetail>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Candidate {
    #[serde(default)]
    content: Option<CandidateContent>,
    #[serde(default)]
    finish_reason: Option<String>,
    #[serde(default)]
    index: Option<u32>,
}

#[derive(Deserialize, Default)]
struct CandidateContent {
    /// Missing on MAX_TOKENS from thinking models and on SAFETY (`content: {}`).
    #[serde(default)]
    parts: Vec<Value>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
struct UsageMetadata {
    #[serde(default)]
    prompt_token_count: u64,
    #[serde(default)]
    candidates_token_count: u64,
    #[serde(default)]
    cached_content_token_count: u64,
    #[serde(default)]
    thoughts_token_count: u64,
    #[serde(default)]
    tool_use_prompt_token_count: u64,
}

impl UsageMetadata {
    fn normalize(&self) -> Usage {
        Usage {
            input_tokens: self
                .prompt_token_count
                .saturating_add(self.tool_use_prompt_token_count),
            output_tokens: self
                .candidates_token_count
                .saturating_add(self.thoughts_token_count),
            cached_input_tokens: self.cached_content_token_count,
            cache_write_tokens: 0,
            cache_write_1h_tokens: 0,
            reasoning_tokens: self.thoughts_token_count,
            cost_usd: None,
            source: UsageSource::Reported,
        }
    }
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    code: Option<u16>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    details: Vec<Value>,
}

/// `{"error": {...}}`, or (Vertex) the same wrapped in an array.
fn parse_error_body(body: &[u8]) -> Option<ErrorDetail> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let obj = match v {
        Value::Array(mut items) if !items.is_empty() => items.swap_remove(0),
        other => other,
    };
    serde_json::from_value(obj.get("error")?.clone()).ok()
}

impl ErrorDetail {
    fn to_error(&self, by_status: ErrorKind) -> Error {
        let message = self
            .message
            .clone()
            .unwrap_or_else(|| "the provider reported an error without a message".into());
        let reasons: Vec<&str> = self
            .details
            .iter()
            .filter_map(|d| d.get("reason").and_then(Value::as_str))
            .collect();
        let lower = message.to_ascii_lowercase();
        let kind = if reasons
            .iter()
            .any(|r| *r == "API_KEY_INVALID" || *r == "API_KEY_EXPIRED")
        {
            ErrorKind::Authentication
        } else if lower.contains("exceeds the maximum number of tokens")
            || lower.contains("input token count") && lower.contains("exceeds")
        {
            ErrorKind::ContextWindowExceeded
        } else {
            match self.status.as_deref() {
                Some("INVALID_ARGUMENT")
                | Some("NOT_FOUND")
                | Some("FAILED_PRECONDITION")
                | Some("OUT_OF_RANGE") => {
                    if lower.contains("billing") {
                        ErrorKind::Quota
                    } else {
                        ErrorKind::InvalidRequest
                    }
                }
                Some("UNAUTHENTICATED") => ErrorKind::Authentication,
                Some("PERMISSION_DENIED") => ErrorKind::Permission,
                Some("RESOURCE_EXHAUSTED") => ErrorKind::RateLimited,
                Some("UNAVAILABLE") => ErrorKind::Overloaded,
                Some("INTERNAL") | Some("UNKNOWN") => ErrorKind::Server,
                Some("DEADLINE_EXCEEDED") => ErrorKind::Timeout,
                _ => self
                    .code
                    .map(kind_for_status)
                    .filter(|_| by_status == ErrorKind::Server)
                    .unwrap_or(by_status),
            }
        };
        let retry = self
            .details
            .iter()
            .find(|d| {
                d.get("@type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.ends_with("RetryInfo"))
            })
            .and_then(|d| d.get("retryDelay").and_then(Value::as_str))
            .and_then(parse_duration);
        let mut e = Error::new(kind, message)
            .with_provider_code(self.status.clone())
            .with_retry_after(retry);
        if let Some(code) = self.code {
            e.status = Some(code);
        }
        e
    }
}

/// A protobuf Duration in JSON: `"34.4s"`, `"1s"`, `"0.5s"`.
fn parse_duration(s: &str) -> Option<Duration> {
    let secs: f64 = s.trim().strip_suffix('s')?.parse().ok()?;
    super::http::hint_from_secs(secs)
}

fn finish_reason(reason: &str, has_tool_calls: bool) -> FinishReason {
    match reason {
        "STOP" if has_tool_calls => FinishReason::ToolCalls,
        "STOP" => FinishReason::Stop,
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY" => {
            FinishReason::ContentFilter
        }
        other => FinishReason::Other(other.to_ascii_lowercase()),
    }
}

/// A stable id for the `ordinal`-th function call of a response.
fn synth_id(response_id: Option<&str>, ordinal: u32, name: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in response_id
        .unwrap_or("")
        .bytes()
        .chain([0])
        .chain(ordinal.to_le_bytes())
        .chain(name.bytes())
    {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("call_{:016x}", h)
}

fn invalid(msg: String) -> Error {
    Error::new(ErrorKind::InvalidResponse, msg)
}

/// A prompt blocked before generation: no candidates, only `promptFeedback.blockReason`.
fn blocked(feedback: &Option<Value>) -> Option<Error> {
    let reason = feedback.as_ref()?.get("blockReason")?.as_str()?;
    Some(
        Error::new(
            ErrorKind::ContentFiltered,
            format!("the prompt was blocked ({reason})"),
        )
        .with_provider_code(Some(reason.to_string())),
    )
}

impl HttpWire for GeminiProvider {
    fn scope(&self) -> &Arc<Scope> {
        &self.scope
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
    let resp: GenerateResponse = serde_json::from_slice(bytes)
        .map_err(|e| invalid(format!("could not parse the provider's response: {e}")))?;
    if let Some(e) = &resp.error {
        return Err(e.to_error(ErrorKind::Server));
    }
    let mut state = StreamState::default();
    let events = state.on_chunk(resp)?;
    drop(events);
    if !state.seen_finish && state.acc.text.is_empty() && state.acc.tool_calls.is_empty() {
        return Err(invalid("the provider's response has no candidates".into()));
    }
    let mut c = state.finish();
    if include_raw {
        c.raw = serde_json::from_slice(bytes).ok();
    }
    Ok(c)
}

// ---------------------------------------------------------------------------------------------
// Stream

/// One function call being streamed with Vertex's `partialArgs` / `willContinue`.
struct OpenCall {
    ordinal: u32,
    args: Map<String, Value>,
}

/// The state of one response, fed chunk by chunk (a non-streaming response is one chunk).
#[derive(Default)]
pub(crate) struct StreamState {
    acc: Accumulator,
    usage: Option<UsageMetadata>,
    finish: Option<String>,
    seen_finish: bool,
    calls: u32,
    open: Option<OpenCall>,
}

impl StreamState {
    pub(crate) fn on_data(&mut self, data: &str) -> Result<Vec<ProviderEvent>> {
        let data = data.trim();
        if data.is_empty() {
            return Ok(Vec::new());
        }
        let chunk: GenerateResponse = serde_json::from_str(data).map_err(|e| {
            let snippet: String = data.chars().take(80).collect();
            invalid(format!("malformed stream chunk ({e}): {snippet}"))
        })?;
        if let Some(e) = &chunk.error {
            return Err(e.to_error(ErrorKind::Server));
        }
        self.on_chunk(chunk)
    }

    fn on_chunk(&mut self, chunk: GenerateResponse) -> Result<Vec<ProviderEvent>> {
        let mut out = Vec::new();
        if self.acc.response_id.is_none() {
            self.acc.response_id = chunk.response_id.clone();
        }
        if self.acc.provider_model.is_none() {
            self.acc.provider_model = chunk.model_version.clone();
        }
        if let Some(u) = chunk.usage_metadata {
            // Running totals: the last report wins (Vertex sends usage without counts mid-stream).
            if u.prompt_token_count > 0
                || u.candidates_token_count > 0
                || u.thoughts_token_count > 0
                || self.usage.is_none()
            {
                self.usage = Some(u);
            }
        }
        if chunk.candidates.is_empty() {
            if let Some(e) = blocked(&chunk.prompt_feedback) {
                return Err(e);
            }
        }
        let response_id = chunk.response_id.clone();
        for cand in chunk.candidates {
            if cand.index.unwrap_or(0) != 0 {
                continue; // candidateCount > 1 is not modelled: first candidate only
            }
            for part in cand.content.map(|c| c.parts).unwrap_or_default() {
                if let Some(fc) = part.get("functionCall") {
                    self.function_call(fc, response_id.as_deref(), &mut out);
                } else if let Some(text) = part
                    .get("text")
                    .and_then(Value::as_str)
                    .filter(|t| !t.is_empty())
                {
                    if part.get("thought").and_then(Value::as_bool) == Some(true) {
                        self.acc.reasoning.push_str(text);
                        out.push(ProviderEvent::ReasoningDelta(text.to_string()));
                    } else {
                        self.acc.text.push_str(text);
                        out.push(ProviderEvent::TextDelta(text.to_string()));
                    }
                }
            }
            if let Some(fr) = cand.finish_reason {
                self.finish = Some(fr);
                self.seen_finish = true;
            }
        }
        Ok(out)
    }

    fn function_call(
        &mut self,
        fc: &Value,
        response_id: Option<&str>,
        out: &mut Vec<ProviderEvent>,
    ) {
        let name = fc.get("name").and_then(Value::as_str);
        let partial = fc.get("partialArgs").and_then(Value::as_array);
        let will_continue = fc.get("willContinue").and_then(Value::as_bool) == Some(true);
        if name.is_none() && self.open.is_some() {
            // Continuation of a streamed call: more partialArgs, or `{}` closing it.
            if let (Some(items), Some(open)) = (partial, self.open.as_mut()) {
                for item in items {
                    apply_partial(&mut open.args, item);
                }
            }
            if !will_continue {
                self.close_call(out);
            }
            return;
        }
        let Some(name) = name else { return };
        self.close_call(out);
        let ordinal = self.calls;
        self.calls += 1;
        let id = fc
            .get("id")
            .and_then(Value::as_str)
            .map(String::from)
            .unwrap_or_else(|| synth_id(response_id, ordinal, name));
        if will_continue || partial.is_some() {
            out.push(self.acc.tool_call_delta(
                ordinal,
                Some(id),
                Some(name.to_string()),
                String::new(),
            ));
            let mut args = fc
                .get("args")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            for item in partial.into_iter().flatten() {
                apply_partial(&mut args, item);
            }
            self.open = Some(OpenCall { ordinal, args });
            if !will_continue {
                self.close_call(out);
            }
        } else {
            let args = fc.get("args").cloned().unwrap_or_else(|| json!({}));
            out.push(self.acc.tool_call_delta(
                ordinal,
                Some(id),
                Some(name.to_string()),
                args.to_string(),
            ));
        }
    }

    fn close_call(&mut self, out: &mut Vec<ProviderEvent>) {
        if let Some(open) = self.open.take() {
            out.push(self.acc.tool_call_delta(
                open.ordinal,
                None,
                None,
                Value::Object(open.args).to_string(),
            ));
        }
    }

    pub(crate) fn has_finish_reason(&self) -> bool {
        self.seen_finish
    }

    pub(crate) fn finish(&mut self) -> Completion {
        let mut out = Vec::new();
        self.close_call(&mut out);
        let mut acc = std::mem::take(&mut self.acc);
        let has_tools = !acc.tool_calls.is_empty();
        acc.finish_reason = Some(
            self.finish
                .as_deref()
                .map(|r| finish_reason(r, has_tools))
                .unwrap_or(if has_tools {
                    FinishReason::ToolCalls
                } else {
                    FinishReason::Stop
                }),
        );
        acc.usage = self.usage.as_ref().map(UsageMetadata::normalize);
        acc.finish()
    }
}

/// Applies one Vertex `partialArgs` item (`{jsonPath: "$.a.b", stringValue|numberValue|boolValue|nullValue}`):
/// string values append (they arrive in pieces), others set.
fn apply_partial(args: &mut Map<String, Value>, item: &Value) {
    let Some(path) = item.get("jsonPath").and_then(Value::as_str) else {
        return;
    };
    let keys: Vec<&str> = path
        .trim_start_matches('$')
        .split('.')
        .filter(|k| !k.is_empty())
        .collect();
    let Some((last, parents)) = keys.split_last() else {
        return;
    };
    let mut obj = args;
    for k in parents {
        let entry = obj
            .entry(k.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        let Value::Object(next) = entry else {
            return;
        };
        obj = next;
    }
    if let Some(s) = item.get("stringValue").and_then(Value::as_str) {
        match obj.get_mut(*last) {
            Some(Value::String(existing)) => existing.push_str(s),
            _ => {
                obj.insert(last.to_string(), json!(s));
            }
        }
    } else if let Some(v) = item.get("numberValue").or_else(|| item.get("boolValue")) {
        obj.insert(last.to_string(), v.clone());
    } else if item.get("nullValue").is_some() {
        obj.insert(last.to_string(), Value::Null);
    }
}

impl Decoder for StreamState {
    fn event(&mut self, ev: SseEvent, out: &mut Vec<ProviderEvent>) -> Result<Option<Completion>> {
        out.extend(self.on_data(&ev.data)?);
        Ok(None)
    }

    fn end(&mut self) -> Option<Completion> {
        // No end marker: complete when a chunk said why generation stopped.
        self.has_finish_reason().then(|| self.finish())
    }

    fn usage(&self) -> Option<Usage> {
        self.usage.as_ref().map(UsageMetadata::normalize)
    }

    fn end_marker(&self) -> &'static str {
        "a finishReason"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_name_cannot_change_the_url() {
        let pc = ProviderConfig {
            base_url: Some("https://g.example/v1beta".into()),
            ..ProviderConfig::default()
        };
        let http =
            crate::providers::http::build_http_client(&crate::config::Policy::default()).unwrap();
        let p = GeminiProvider::new("google", &pc, http).unwrap();
        assert_eq!(
            p.url("gemini-2.5-flash", false),
            "https://g.example/v1beta/models/gemini-2.5-flash:generateContent"
        );
        assert_eq!(
            p.url("../files?key=x#y z", true),
            "https://g.example/v1beta/models/..%2Ffiles%3Fkey%3Dx%23y%20z:streamGenerateContent?alt=sse"
        );
    }

    #[test]
    fn retry_delay_and_kinds() {
        assert_eq!(
            parse_duration("1e20s"),
            Some(crate::providers::http::MAX_HINT)
        );
        let body = br#"{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"34.4s"}]}}"#;
        let e = parse_error_body(body)
            .unwrap()
            .to_error(ErrorKind::RateLimited);
        assert_eq!(e.kind, ErrorKind::RateLimited);
        assert_eq!(e.retry_after, Some(Duration::from_millis(34_400)));
        let body = br#"[{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}]"#;
        assert_eq!(
            parse_error_body(body)
                .unwrap()
                .to_error(ErrorKind::Overloaded)
                .kind,
            ErrorKind::Overloaded
        );
        let body = br#"{"error":{"code":400,"message":"The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).","status":"INVALID_ARGUMENT"}}"#;
        assert_eq!(
            parse_error_body(body)
                .unwrap()
                .to_error(ErrorKind::InvalidRequest)
                .kind,
            ErrorKind::ContextWindowExceeded
        );
    }

    #[test]
    fn thoughts_count_as_output_and_ids_are_stable() {
        let chunk = r#"{"candidates":[{"content":{"parts":[{"text":"plan","thought":true},{"functionCall":{"name":"f","args":{"a":1}}}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":5,"thoughtsTokenCount":7,"cachedContentTokenCount":4},"responseId":"r1"}"#;
        let run = || {
            let mut s = StreamState::default();
            s.on_data(chunk).unwrap();
            s.finish()
        };
        let (a, b) = (run(), run());
        assert_eq!(a.message.tool_calls[0].id, b.message.tool_calls[0].id);
        assert_eq!(a.finish_reason, FinishReason::ToolCalls);
        assert_eq!(a.reasoning.as_deref(), Some("plan"));
        assert_eq!(
            (
                a.usage.input_tokens,
                a.usage.output_tokens,
                a.usage.cached_input_tokens,
                a.usage.reasoning_tokens
            ),
            (10, 12, 4, 7)
        );
    }

    #[test]
    fn blocked_prompt_is_content_filtered() {
        let mut s = StreamState::default();
        let e = s.on_data(r#"{"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":3}}"#).unwrap_err();
        assert_eq!(e.kind, ErrorKind::ContentFiltered);
    }

    #[test]
    fn body_uses_system_instruction_and_names_function_responses() {
        let req = Request::from_values(
            "google/gemini",
            json!([
                {"role": "system", "content": "sys"},
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "42"},
            ]),
            json!({"max_tokens": 10, "tool_choice": "required"}),
        )
        .unwrap();
        let b = build_body(&req).unwrap();
        assert_eq!(b["systemInstruction"], json!({"parts": [{"text": "sys"}]}));
        assert_eq!(b["generationConfig"]["maxOutputTokens"], 10);
        assert_eq!(b["toolConfig"]["functionCallingConfig"]["mode"], "ANY");
        assert_eq!(
            b["contents"][2]["parts"][0]["functionResponse"],
            json!({"id": "c1", "name": "f", "response": {"result": "42"}})
        );
    }
}
