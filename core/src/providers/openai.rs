//! The OpenAI Chat Completions wire format: request body, response and stream parsing, error
//! classification. Also serves OpenRouter, Groq, Together, DeepSeek, xAI, Ollama /v1, vLLM, Azure.
use std::sync::Arc;

use futures_util::future::BoxFuture;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::http::{
    encode, http_error, kind_for_status, post_json, refine_by_message, ErrorReading, HttpFailure,
    Scope,
};
use super::sse::SseEvent;
use super::stream::Decoder;
use super::{Accumulator, Completion, HttpWire, ProviderEvent, ProviderStream};
use crate::config::ProviderConfig;
use crate::types::error::{Error, ErrorKind, Result};
use crate::types::message::{Content, Message, Role, ToolCall};
use crate::types::request::{Request, Stop};
use crate::types::response::FinishReason;
use crate::usage::{Usage, UsageSource};

/// An OpenAI-format endpoint.
pub struct OpenAiProvider {
    pub(crate) scope: Arc<Scope>,
    url: String,
    headers: HeaderMap,
    max_tokens_field: &'static str,
    http: reqwest::Client,
    /// xAI reports `completion_tokens` WITHOUT `reasoning_tokens`; add them back so output
    /// tokens mean the same everywhere. On for the provider named `xai` or an api.x.ai base URL.
    reasoning_outside_completion: bool,
}

impl OpenAiProvider {
    pub fn new(name: &str, pc: &ProviderConfig, http: reqwest::Client) -> Result<Self> {
        let base = pc.base_url.as_deref().ok_or_else(|| {
            Error::config(format!("config key `providers.{name}.base_url`: required"))
        })?;
        let mut url = format!("{}/chat/completions", base.trim_end_matches('/'));
        if !pc.query.is_empty() {
            let q: Vec<String> = pc
                .query
                .iter()
                .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
                .collect();
            url.push('?');
            url.push_str(&q.join("&"));
        }
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        for (k, v) in &pc.headers {
            let hn = HeaderName::from_bytes(k.as_bytes()).map_err(|_| {
                Error::config(format!(
                    "config key `providers.{name}.headers.{k}`: not a valid header name"
                ))
            })?;
            let hv = HeaderValue::from_str(v).map_err(|_| {
                Error::config(format!(
                    "config key `providers.{name}.headers.{k}`: not a valid header value"
                ))
            })?;
            headers.insert(hn, hv);
        }
        let api_key = pc.api_key.as_ref().map(|k| k.expose().to_string());
        if let Some(key) = &api_key {
            let header = pc
                .auth_header
                .as_deref()
                .unwrap_or("authorization")
                .to_ascii_lowercase();
            let (hn, value) = if header == "authorization" {
                (AUTHORIZATION, format!("Bearer {key}"))
            } else {
                let hn = HeaderName::from_bytes(header.as_bytes()).map_err(|_| {
                    Error::config(format!(
                        "config key `providers.{name}.auth_header`: not a valid header name"
                    ))
                })?;
                (hn, key.clone())
            };
            let mut hv = HeaderValue::from_str(&value)
                .map_err(|_| Error::config(format!("config key `providers.{name}.api_key`: contains characters not allowed in a header")))?;
            hv.set_sensitive(true);
            headers.insert(hn, hv);
        }
        let max_tokens_field = match pc.max_tokens_field.as_deref() {
            Some("max_tokens") => "max_tokens",
            Some("max_completion_tokens") => "max_completion_tokens",
            Some(other) => {
                return Err(Error::config(format!(
                    "config key `providers.{name}.max_tokens_field`: expected `max_tokens` or `max_completion_tokens`, got `{other}`"
                )))
            }
            None if name == "openai" => "max_completion_tokens",
            None => "max_tokens",
        };
        let reasoning_outside_completion = name == "xai" || base.contains("://api.x.ai");
        Ok(OpenAiProvider {
            scope: Arc::new(Scope::new(name, pc)),
            url,
            headers,
            max_tokens_field,
            http,
            reasoning_outside_completion,
        })
    }

    /// The request body this provider sends for `req` (as JSON), e.g. to inspect or test it.
    pub fn request_body(&self, model: &str, req: &Request, stream: bool) -> Result<Value> {
        let bytes = self.body(model, req, stream)?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::invalid_request(format!("could not encode the request: {e}")))
    }

    fn body(&self, model: &str, req: &Request, stream: bool) -> Result<Vec<u8>> {
        let p = &req.params;
        let body = ChatRequest {
            model,
            messages: &req.messages,
            temperature: p.temperature,
            top_p: p.top_p,
            max_completion_tokens: p
                .max_tokens
                .filter(|_| self.max_tokens_field == "max_completion_tokens"),
            max_tokens: p
                .max_tokens
                .filter(|_| self.max_tokens_field == "max_tokens"),
            stop: p.stop.as_ref(),
            seed: p.seed,
            tools: p.tools.as_ref(),
            tool_choice: p.tool_choice.as_ref(),
            parallel_tool_calls: p.parallel_tool_calls,
            response_format: p.response_format.as_ref(),
            reasoning_effort: p.reasoning_effort.as_deref(),
            user: p.user.as_deref(),
            stream,
            stream_options: stream.then_some(StreamOptions {
                include_usage: true,
            }),
            extra: p.extra.as_ref(),
        };
        serde_json::to_vec(&body)
            .map_err(|e| Error::invalid_request(format!("could not encode the request: {e}")))
    }

    async fn send_request(
        &self,
        model: &str,
        req: &Request,
        stream: bool,
    ) -> Result<reqwest::Response> {
        let body = self.body(model, req, stream)?;
        match self.post(body, model).await? {
            Ok(resp) => Ok(resp),
            Err(failed) => Err(http_error(&self.scope, &failed, model, read_error)),
        }
    }

    /// Posts a body; a non-2xx answer comes back read in full, for the caller to classify.
    pub(crate) async fn post(
        &self,
        body: Vec<u8>,
        model: &str,
    ) -> Result<std::result::Result<reqwest::Response, HttpFailure>> {
        post_json(
            &self.http,
            &self.url,
            &self.headers,
            body,
            &self.scope,
            model,
        )
        .await
    }
}

/// Reads an OpenAI-shaped error body `{"error": {"message", "type", "param", "code"}}`: status
/// first, then the body's `type` / `code`.
pub(crate) fn read_error(body: &[u8], by_status: ErrorKind) -> Option<ErrorReading> {
    let detail = serde_json::from_slice::<ErrorBody>(body).ok()?.error?;
    let code = detail.code_str();
    let message = detail.message_str();
    let kind = classify(by_status, code.as_deref(), detail.kind.as_deref(), &message);
    Some(ErrorReading {
        kind,
        message,
        code: code.or(detail.kind),
        retry_after: None,
    })
}

/// An error the provider reported inside a 200 response (stream chunk or body), untagged.
fn stream_error(detail: ErrorDetail) -> Error {
    let code = detail.code_str();
    // OpenRouter puts the HTTP status in a numeric `code`, Groq in `status_code`.
    let by_status = detail
        .http_status()
        .map(kind_for_status)
        .unwrap_or(ErrorKind::Server);
    let kind = classify(
        by_status,
        code.as_deref(),
        detail.kind.as_deref(),
        &detail.message_str(),
    );
    Error::new(kind, detail.message_str()).with_provider_code(code.or(detail.kind))
}

/// Refines a status-derived kind with OpenAI's error codes.
pub(crate) fn classify(
    by_status: ErrorKind,
    code: Option<&str>,
    kind: Option<&str>,
    message: &str,
) -> ErrorKind {
    let is = |s: &str| code == Some(s) || kind == Some(s);
    if is("insufficient_quota") || is("billing_hard_limit_reached") {
        ErrorKind::Quota
    } else if is("context_length_exceeded") || message.contains("maximum context length") {
        ErrorKind::ContextWindowExceeded
    } else if is("content_filter") || is("content_policy_violation") {
        ErrorKind::ContentFiltered
    } else if is("invalid_api_key") || is("authentication_error") {
        ErrorKind::Authentication
    } else if is("rate_limit_exceeded") && by_status != ErrorKind::Quota {
        ErrorKind::RateLimited
    } else if by_status == ErrorKind::Server && (is("overloaded") || is("overloaded_error")) {
        ErrorKind::Overloaded
    } else {
        refine_by_message(by_status, message)
    }
}

impl HttpWire for OpenAiProvider {
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
        self.parse_completion(bytes, model, include_raw)
    }

    fn decoder(&self) -> Box<dyn Decoder> {
        self.stream_decoder()
    }
}

impl OpenAiProvider {
    pub(crate) fn parse_completion(
        &self,
        bytes: &[u8],
        model: &str,
        include_raw: bool,
    ) -> Result<Completion> {
        let invalid = |e: serde_json::Error| {
            self.scope.tag(
                Error::new(
                    ErrorKind::InvalidResponse,
                    format!("could not parse the provider's response: {e}"),
                ),
                model,
            )
        };
        let resp: ChatResponse = serde_json::from_slice(bytes).map_err(invalid)?;
        if let Some(detail) = resp.error {
            return Err(self.scope.tag(stream_error(detail), model));
        }
        let choice = resp.choices.into_iter().next().ok_or_else(|| {
            self.scope.tag(
                Error::new(
                    ErrorKind::InvalidResponse,
                    "the provider's response has no choices",
                ),
                model,
            )
        })?;
        let wire = choice.message;
        let tool_calls = wire.tool_calls.unwrap_or_default();
        let (content, mut reasoning) = match wire.content {
            Some(c) => {
                let (text, thinking) = c.split();
                (Some(text), thinking)
            }
            None => (None, String::new()),
        };
        for r in [wire.reasoning_content, wire.reasoning]
            .into_iter()
            .flatten()
        {
            reasoning.push_str(&r);
        }
        // A refusal is the answer's text when there is no content (null or empty).
        let content = match content {
            Some(c) if !c.is_empty() => Some(c),
            empty => wire
                .refusal
                .clone()
                .filter(|r| !r.is_empty() && tool_calls.is_empty())
                .or(empty),
        };
        let message = Message {
            role: Role::Assistant,
            content: content.map(Content::Text),
            name: None,
            tool_calls,
            tool_call_id: None,
            refusal: wire.refusal,
        };
        let finish_reason = choice
            .finish_reason
            .as_deref()
            .map(FinishReason::from_openai)
            .unwrap_or(FinishReason::Stop);
        let raw = include_raw.then(|| super::http::raw_body(bytes));
        Ok(Completion {
            provider_response_id: resp.id,
            message,
            finish_reason,
            usage: resp
                .usage
                .map(|u| u.normalize(self.reasoning_outside_completion))
                .unwrap_or_default(),
            provider_model: resp.model,
            raw,
            reasoning: (!reasoning.is_empty()).then_some(reasoning),
        })
    }

    /// The stream decoder of this endpoint.
    pub(crate) fn stream_decoder(&self) -> Box<dyn Decoder> {
        Box::new(OpenAiDecoder {
            acc: Accumulator::default(),
            reasoning_outside_completion: self.reasoning_outside_completion,
            chunks: 0,
        })
    }

    /// Parses an SSE body given as chunks, exactly as if it had arrived over the wire (replay,
    /// tests: e.g. one byte per chunk).
    pub fn replay_sse(&self, model: &str, chunks: Vec<bytes::Bytes>) -> ProviderStream {
        super::replay(self, model, chunks)
    }
}

/// The OpenAI chat-completions stream: `data:` chunks with `choices[].delta`, tool-call deltas by
/// index, usage in a last chunk (with `stream_options.include_usage`), `[DONE]` at the end.
pub(crate) struct OpenAiDecoder {
    acc: Accumulator,
    reasoning_outside_completion: bool,
    chunks: usize,
}

impl Decoder for OpenAiDecoder {
    fn event(&mut self, ev: SseEvent, out: &mut Vec<ProviderEvent>) -> Result<Option<Completion>> {
        let acc = &mut self.acc;
        if ev.event == "error" {
            let detail = serde_json::from_str::<ErrorBody>(&ev.data)
                .ok()
                .and_then(|b| b.error)
                .unwrap_or(ErrorDetail {
                    message: Some(Value::String(ev.data.clone())),
                    kind: None,
                    code: None,
                    status_code: None,
                });
            return Err(stream_error(detail));
        }
        let data = ev.data.trim();
        if data == "[DONE]" {
            if acc.finish_reason.is_some() || !acc.text.is_empty() || !acc.tool_calls.is_empty() {
                return Ok(Some(std::mem::take(acc).finish()));
            }
            return Err(Error::new(
                ErrorKind::InvalidResponse,
                "the stream ended with [DONE] before any output",
            ));
        }
        if data.is_empty() {
            return Ok(None);
        }
        self.chunks += 1;
        let chunk: ChatChunk = serde_json::from_str(data).map_err(|e| {
            let snippet: String = data.chars().take(80).collect();
            Error::new(
                ErrorKind::InvalidResponse,
                format!("malformed stream chunk #{} ({e}): {snippet}", self.chunks),
            )
        })?;
        if let Some(detail) = chunk.error {
            return Err(stream_error(detail));
        }
        if acc.response_id.is_none() {
            acc.response_id = chunk.id.filter(|s| !s.is_empty()).map(|s| s.into_owned());
        }
        if acc.provider_model.is_none() {
            acc.provider_model = chunk
                .model
                .filter(|s| !s.is_empty())
                .map(|s| s.into_owned());
        }
        let usage_seen = chunk.usage.is_some();
        if let Some(u) = chunk.usage {
            acc.usage = Some(u.normalize(self.reasoning_outside_completion));
        }
        for choice in chunk.choices {
            if choice.index != 0 {
                continue; // n > 1 is not modelled: first choice only
            }
            let delta = choice.delta;
            // Magistral sends content as typed parts: thinking parts are reasoning.
            let (content, thinking) = match delta.content {
                Some(c) => c.split(),
                None => (String::new(), String::new()),
            };
            if !thinking.is_empty() {
                acc.reasoning.push_str(&thinking);
                out.push(ProviderEvent::ReasoningDelta(thinking));
            }
            if !content.is_empty() {
                acc.text.push_str(&content);
                out.push(ProviderEvent::TextDelta(content));
            }
            if let Some(text) = delta.refusal.filter(|t| !t.is_empty()) {
                // A refusal is the answer's text (and the message's `refusal`).
                acc.text.push_str(&text);
                acc.refusal.push_str(&text);
                out.push(ProviderEvent::TextDelta(text));
            }
            for text in [delta.reasoning_content, delta.reasoning]
                .into_iter()
                .flatten()
            {
                if !text.is_empty() {
                    acc.reasoning.push_str(&text);
                    out.push(ProviderEvent::ReasoningDelta(text));
                }
            }
            for (pos, tc) in delta.tool_calls.into_iter().enumerate() {
                let index = tc.index.unwrap_or(pos as u32);
                let (name, arguments) = match tc.function {
                    Some(f) => (f.name, f.arguments.unwrap_or_default()),
                    None => (None, String::new()),
                };
                out.push(acc.tool_call_delta(index, tc.id, name, arguments));
            }
            if let Some(fr) = choice.finish_reason {
                acc.finish_reason = Some(FinishReason::from_openai(&fr));
            }
        }
        // With include_usage the usage chunk is the last one before [DONE]: finish now rather
        // than wait for a [DONE] that a server may never send.
        if usage_seen && acc.finish_reason.is_some() {
            return Ok(Some(std::mem::take(acc).finish()));
        }
        Ok(None)
    }

    fn end(&mut self) -> Option<Completion> {
        // End of body without [DONE]: complete if the provider said why it finished.
        self.acc
            .finish_reason
            .is_some()
            .then(|| std::mem::take(&mut self.acc).finish())
    }

    fn usage(&self) -> Option<Usage> {
        self.acc.usage.clone()
    }

    fn end_marker(&self) -> &'static str {
        "a finish reason or [DONE]"
    }
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

#[derive(Serialize)]
struct ChatRequest<'a> {
    model: &'a str,
    messages: &'a [Message],
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop: Option<&'a Stop>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<&'a Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_effort: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    extra: Option<&'a Map<String, Value>>,
}

#[derive(Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(default)]
    pub error: Option<ErrorDetail>,
}

#[derive(Deserialize)]
pub(crate) struct ErrorDetail {
    #[serde(default)]
    message: Option<Value>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    code: Option<Value>,
    /// Groq, in mid-stream errors.
    #[serde(default)]
    status_code: Option<u16>,
}

impl ErrorDetail {
    /// An HTTP status carried inside the error object (mid-stream errors have HTTP 200).
    fn http_status(&self) -> Option<u16> {
        let from_code = self
            .code
            .as_ref()
            .and_then(Value::as_u64)
            .filter(|c| (400..600).contains(c))
            .map(|c| c as u16);
        self.status_code.or(from_code)
    }

    pub(crate) fn message_str(&self) -> String {
        match &self.message {
            Some(Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None => "the provider reported an error without a message".to_string(),
        }
    }
    pub(crate) fn code_str(&self) -> Option<String> {
        match &self.code {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
struct ChatResponse {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<ErrorDetail>,
}

#[derive(Deserialize)]
struct Choice {
    message: WireMessage,
    #[serde(default)]
    finish_reason: Option<String>,
}

/// An assistant message as providers send it: unknown fields (annotations, audio, ...) ignored.
#[derive(Deserialize)]
struct WireMessage {
    #[serde(default)]
    content: Option<WireContent>,
    #[serde(default)]
    refusal: Option<String>,
    /// `null` on Mistral and others when there are none.
    #[serde(default)]
    tool_calls: Option<Vec<ToolCall>>,
    /// DeepSeek, xAI.
    #[serde(default)]
    reasoning_content: Option<String>,
    /// OpenRouter.
    #[serde(default)]
    reasoning: Option<String>,
}

/// Message content as sent back: a string, or (Mistral Magistral) a list of typed parts:
/// `{type:"text", text}` and `{type:"thinking", thinking:[{type:"text", text}]}`.
#[derive(Deserialize)]
#[serde(untagged)]
enum WireContent {
    Text(String),
    Parts(Vec<Value>),
}

impl WireContent {
    /// (answer text, reasoning text).
    fn split(self) -> (String, String) {
        match self {
            WireContent::Text(t) => (t, String::new()),
            WireContent::Parts(parts) => {
                let (mut text, mut thinking) = (String::new(), String::new());
                for part in &parts {
                    match part.get("type").and_then(Value::as_str) {
                        Some("thinking") => match part.get("thinking") {
                            Some(Value::String(s)) => thinking.push_str(s),
                            Some(Value::Array(items)) => {
                                for item in items {
                                    if let Some(t) = item.get("text").and_then(Value::as_str) {
                                        thinking.push_str(t);
                                    }
                                }
                            }
                            _ => {}
                        },
                        Some("text") | None => {
                            if let Some(t) = part.get("text").and_then(Value::as_str) {
                                text.push_str(t);
                            }
                        }
                        _ => {}
                    }
                }
                (text, thinking)
            }
        }
    }
}

#[derive(Deserialize)]
struct ChatChunk<'a> {
    /// Borrowed from the event (every chunk repeats them; only the first is kept).
    #[serde(default, borrow)]
    id: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    model: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    choices: Vec<ChunkChoice>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<ErrorDetail>,
}

#[derive(Deserialize)]
struct ChunkChoice {
    #[serde(default)]
    index: u32,
    #[serde(default)]
    delta: Delta,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize, Default)]
struct Delta {
    #[serde(default)]
    content: Option<WireContent>,
    #[serde(default)]
    refusal: Option<String>,
    #[serde(default)]
    reasoning_content: Option<String>,
    #[serde(default)]
    reasoning: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    tool_calls: Vec<ToolCallDelta>,
}

fn null_as_empty<'de, D, T>(d: D) -> std::result::Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

#[derive(Deserialize)]
struct ToolCallDelta {
    #[serde(default)]
    index: Option<u32>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<FunctionDelta>,
}

#[derive(Deserialize)]
struct FunctionDelta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

#[derive(Deserialize, Default)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
    #[serde(default)]
    prompt_tokens_details: Option<PromptDetails>,
    #[serde(default)]
    completion_tokens_details: Option<CompletionDetails>,
    /// OpenRouter: the billed amount in USD (a number); Perplexity: `{total_cost, ...}`.
    #[serde(default)]
    cost: Option<Value>,
    /// DeepSeek: cached prompt tokens (a subset of `prompt_tokens`).
    #[serde(default)]
    prompt_cache_hit_tokens: Option<u64>,
    /// xAI: the billed amount in units of 1e-10 USD.
    #[serde(default)]
    cost_in_usd_ticks: Option<u64>,
}

#[derive(Deserialize, Default)]
struct PromptDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
    #[serde(default)]
    cache_write_tokens: Option<u64>,
}

#[derive(Deserialize, Default)]
struct CompletionDetails {
    #[serde(default)]
    reasoning_tokens: Option<u64>,
}

impl WireUsage {
    /// OpenAI's convention already matches ours: cached is a subset of prompt, reasoning of completion.
    /// `reasoning_outside_completion` (xAI): completion_tokens excludes reasoning, so add it.
    fn normalize(self, reasoning_outside_completion: bool) -> Usage {
        let p = self.prompt_tokens_details.unwrap_or_default();
        let c = self.completion_tokens_details.unwrap_or_default();
        let reasoning = c.reasoning_tokens.unwrap_or(0);
        let cost_usd = match &self.cost {
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::Object(o)) => o.get("total_cost").and_then(Value::as_f64),
            _ => self.cost_in_usd_ticks.map(|t| t as f64 / 1e10),
        };
        Usage {
            input_tokens: self.prompt_tokens,
            output_tokens: self
                .completion_tokens
                .saturating_add(if reasoning_outside_completion {
                    reasoning
                } else {
                    0
                }),
            cached_input_tokens: p
                .cached_tokens
                .or(self.prompt_cache_hit_tokens)
                .unwrap_or(0),
            cache_write_tokens: p.cache_write_tokens.unwrap_or(0),
            cache_write_1h_tokens: 0,
            reasoning_tokens: reasoning,
            cost_usd,
            source: UsageSource::Reported,
        }
    }
}
