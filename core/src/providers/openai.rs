//! The OpenAI Chat Completions wire format: request body, response and stream parsing, error
//! classification. Also serves OpenRouter, Groq, Together, DeepSeek, xAI, Ollama /v1, vLLM, Azure.
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Accumulator, CallOptions, Completion, Provider, ProviderEvent, ProviderStream};
use crate::config::ProviderConfig;
use crate::error::{Error, ErrorKind, Result};
use crate::http::{kind_for_status, request_id, retry_after, should_retry, transport_error};
use crate::message::{Content, Message, Role, ToolCall};
use crate::redact::redact;
use crate::request::{Request, Stop};
use crate::response::FinishReason;
use crate::sse::sse_events;
use crate::usage::Usage;

/// An OpenAI-format endpoint.
pub struct OpenAiProvider {
    scope: Arc<Scope>,
    url: String,
    headers: HeaderMap,
    max_tokens_field: &'static str,
    http: reqwest::Client,
}

impl OpenAiProvider {
    pub fn new(name: &str, pc: &ProviderConfig, http: reqwest::Client) -> Result<Self> {
        let base = pc
            .base_url
            .as_deref()
            .ok_or_else(|| Error::config(format!("config key `providers.{name}.base_url`: required")))?;
        let mut url = format!("{}/chat/completions", base.trim_end_matches('/'));
        if !pc.query.is_empty() {
            let q: Vec<String> = pc.query.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect();
            url.push('?');
            url.push_str(&q.join("&"));
        }
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        for (k, v) in &pc.headers {
            let hn = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| Error::config(format!("config key `providers.{name}.headers.{k}`: not a valid header name")))?;
            let hv = HeaderValue::from_str(v)
                .map_err(|_| Error::config(format!("config key `providers.{name}.headers.{k}`: not a valid header value")))?;
            headers.insert(hn, hv);
        }
        let api_key = pc.api_key.as_ref().map(|k| k.expose().to_string());
        if let Some(key) = &api_key {
            let header = pc.auth_header.as_deref().unwrap_or("authorization").to_ascii_lowercase();
            let (hn, value) = if header == "authorization" {
                (AUTHORIZATION, format!("Bearer {key}"))
            } else {
                let hn = HeaderName::from_bytes(header.as_bytes())
                    .map_err(|_| Error::config(format!("config key `providers.{name}.auth_header`: not a valid header name")))?;
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
        Ok(OpenAiProvider { scope: Arc::new(Scope { name: name.to_string(), api_key }), url, headers, max_tokens_field, http })
    }

    fn body(&self, model: &str, req: &Request, stream: bool) -> Result<Vec<u8>> {
        let p = &req.params;
        let body = ChatRequest {
            model,
            messages: &req.messages,
            temperature: p.temperature,
            top_p: p.top_p,
            max_completion_tokens: p.max_tokens.filter(|_| self.max_tokens_field == "max_completion_tokens"),
            max_tokens: p.max_tokens.filter(|_| self.max_tokens_field == "max_tokens"),
            stop: p.stop.as_ref(),
            seed: p.seed,
            tools: p.tools.as_ref(),
            tool_choice: p.tool_choice.as_ref(),
            parallel_tool_calls: p.parallel_tool_calls,
            response_format: p.response_format.as_ref(),
            reasoning_effort: p.reasoning_effort.as_deref(),
            user: p.user.as_deref(),
            stream,
            stream_options: stream.then_some(StreamOptions { include_usage: true }),
            extra: p.extra.as_ref(),
        };
        serde_json::to_vec(&body).map_err(|e| Error::invalid_request(format!("could not encode the request: {e}")))
    }

    async fn send(&self, model: &str, req: &Request, stream: bool) -> Result<reqwest::Response> {
        let body = self.body(model, req, stream)?;
        let resp = self
            .http
            .post(&self.url)
            .headers(self.headers.clone())
            .body(body)
            .send()
            .await
            .map_err(|e| self.scope.tag(transport_error(&e), model))?;
        let status = resp.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(resp);
        }
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.unwrap_or_default();
        Err(self.http_error(status, &headers, &bytes, model))
    }

    /// Classifies an HTTP error response: status first, then the body's `type` / `code`.
    fn http_error(&self, status: u16, headers: &HeaderMap, body: &[u8], model: &str) -> Error {
        let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
        let (mut kind, message, code) = match parsed.and_then(|b| b.error) {
            Some(detail) => {
                let code = detail.code_str();
                let kind = classify(kind_for_status(status), code.as_deref(), detail.kind.as_deref(), &detail.message_str());
                (kind, detail.message_str(), code.or(detail.kind))
            }
            None => {
                let text = String::from_utf8_lossy(body);
                let snippet: String = text.chars().take(300).collect();
                (kind_for_status(status), format!("HTTP {status} from provider: {snippet}"), None)
            }
        };
        if should_retry(headers) == Some(false) && kind.is_retryable() {
            kind = ErrorKind::InvalidRequest;
        }
        self.scope.tag(Error::new(kind, message), model)
            .with_status(status)
            .with_retry_after(retry_after(headers))
            .with_request_id(request_id(headers))
            .with_provider_code(code)
    }

}

/// The provider's name and key: what every error it produces is tagged and scrubbed with.
struct Scope {
    name: String,
    api_key: Option<String>,
}

impl Scope {
    /// Scrubs the key out of the message and names the provider and model.
    fn tag(&self, mut e: Error, model: &str) -> Error {
        if let Some(k) = &self.api_key {
            e.message = redact(&e.message, k);
        }
        e.with_provider(&self.name).with_model(format!("{}/{}", self.name, model))
    }

    /// An error the provider reported inside a 200 response (stream chunk or body).
    fn stream_error(&self, detail: ErrorDetail, model: &str) -> Error {
        let code = detail.code_str();
        let kind = classify(ErrorKind::Server, code.as_deref(), detail.kind.as_deref(), &detail.message_str());
        self.tag(Error::new(kind, detail.message_str()), model).with_provider_code(code.or(detail.kind))
    }
}

/// Refines a status-derived kind with OpenAI's error codes.
fn classify(by_status: ErrorKind, code: Option<&str>, kind: Option<&str>, message: &str) -> ErrorKind {
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
        by_status
    }
}

impl Provider for OpenAiProvider {
    fn name(&self) -> &str {
        &self.scope.name
    }

    fn complete<'a>(&'a self, model: &'a str, req: &'a Request, _opts: &'a CallOptions) -> BoxFuture<'a, Result<Completion>> {
        Box::pin(async move {
            let resp = self.send(model, req, false).await?;
            let bytes = resp.bytes().await.map_err(|e| self.scope.tag(transport_error(&e), model))?;
            self.parse_completion(&bytes, model, req.params.include_raw.unwrap_or(false))
        })
    }

    fn stream<'a>(&'a self, model: &'a str, req: &'a Request, opts: &'a CallOptions) -> BoxFuture<'a, Result<ProviderStream>> {
        Box::pin(async move {
            let resp = self.send(model, req, true).await?;
            Ok(self.event_stream(resp, model.to_string(), opts.stream_idle_timeout))
        })
    }
}

impl OpenAiProvider {
    fn parse_completion(&self, bytes: &[u8], model: &str, include_raw: bool) -> Result<Completion> {
        let invalid = |e: serde_json::Error| {
            self.scope.tag(Error::new(ErrorKind::InvalidResponse, format!("could not parse the provider's response: {e}")), model)
        };
        let resp: ChatResponse = serde_json::from_slice(bytes).map_err(invalid)?;
        if let Some(detail) = resp.error {
            return Err(self.scope.stream_error(detail, model));
        }
        let choice = resp.choices.into_iter().next().ok_or_else(|| {
            self.scope.tag(Error::new(ErrorKind::InvalidResponse, "the provider's response has no choices"), model)
        })?;
        let wire = choice.message;
        // A refusal is the answer's text when there is no content.
        let content = wire.content.or_else(|| wire.refusal.clone().filter(|_| wire.tool_calls.is_empty()));
        let message = Message {
            role: Role::Assistant,
            content: content.map(Content::Text),
            name: None,
            tool_calls: wire.tool_calls,
            tool_call_id: None,
            refusal: wire.refusal,
        };
        let finish_reason = choice.finish_reason.as_deref().map(FinishReason::from_openai).unwrap_or(FinishReason::Stop);
        let raw = if include_raw { serde_json::from_slice(bytes).ok() } else { None };
        Ok(Completion {
            provider_response_id: resp.id,
            message,
            finish_reason,
            usage: resp.usage.map(WireUsage::normalize).unwrap_or_default(),
            provider_model: resp.model,
            raw,
        })
    }

    fn event_stream(&self, resp: reqwest::Response, model: String, idle: Duration) -> ProviderStream {
        let provider = self.scope.clone();
        let bytes = resp.bytes_stream();
        Box::pin(async_stream::stream! {
            let mut events = Box::pin(sse_events(bytes));
            let mut acc = Accumulator::default();
            let mut chunks = 0usize;
            loop {
                let next = match tokio::time::timeout(idle, events.next()).await {
                    Ok(n) => n,
                    Err(_) => {
                        yield Err(provider.tag(Error::new(ErrorKind::Timeout, format!(
                            "the stream stalled: no data for {:.1}s after {chunks} chunks", idle.as_secs_f64())), &model));
                        return;
                    }
                };
                let ev = match next {
                    Some(Ok(ev)) => ev,
                    Some(Err(e)) => {
                        let mut err = provider.tag(transport_error(&e), &model);
                        err.kind = ErrorKind::Connection;
                        err.message = format!("the stream was cut after {chunks} chunks: {}", err.message);
                        yield Err(err);
                        return;
                    }
                    None => {
                        // End of body without [DONE]: complete if the provider said why it finished.
                        if acc.finish_reason.is_some() {
                            yield Ok(ProviderEvent::Done(Box::new(acc.finish())));
                        } else {
                            yield Err(provider.tag(Error::new(ErrorKind::Connection, format!(
                                "the stream ended after {chunks} chunks without a finish reason or [DONE]")), &model));
                        }
                        return;
                    }
                };
                if ev.event == "error" {
                    let detail = serde_json::from_str::<ErrorBody>(&ev.data).ok().and_then(|b| b.error)
                        .unwrap_or(ErrorDetail { message: Some(Value::String(ev.data.clone())), kind: None, code: None });
                    yield Err(provider.stream_error(detail, &model));
                    return;
                }
                let data = ev.data.trim();
                if data == "[DONE]" {
                    if acc.finish_reason.is_some() || !acc.text.is_empty() || !acc.tool_calls.is_empty() {
                        yield Ok(ProviderEvent::Done(Box::new(acc.finish())));
                    } else {
                        yield Err(provider.tag(Error::new(ErrorKind::InvalidResponse,
                            "the stream ended with [DONE] before any output"), &model));
                    }
                    return;
                }
                if data.is_empty() {
                    continue;
                }
                chunks += 1;
                let chunk: ChatChunk = match serde_json::from_str(data) {
                    Ok(c) => c,
                    Err(e) => {
                        let snippet: String = data.chars().take(80).collect();
                        yield Err(provider.tag(Error::new(ErrorKind::InvalidResponse, format!(
                            "malformed stream chunk #{chunks} ({e}): {snippet}")), &model));
                        return;
                    }
                };
                if let Some(detail) = chunk.error {
                    yield Err(provider.stream_error(detail, &model));
                    return;
                }
                if acc.response_id.is_none() { acc.response_id = chunk.id.filter(|s| !s.is_empty()); }
                if acc.provider_model.is_none() { acc.provider_model = chunk.model.filter(|s| !s.is_empty()); }
                let usage_seen = chunk.usage.is_some();
                if let Some(u) = chunk.usage { acc.usage = Some(u.normalize()); }
                for choice in chunk.choices {
                    if choice.index != 0 { continue; } // n > 1 is not modelled: first choice only
                    let delta = choice.delta;
                    if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
                        acc.text.push_str(&text);
                        yield Ok(ProviderEvent::TextDelta(text));
                    }
                    if let Some(text) = delta.refusal.filter(|t| !t.is_empty()) {
                        acc.text.push_str(&text);
                        yield Ok(ProviderEvent::TextDelta(text));
                    }
                    for text in [delta.reasoning_content, delta.reasoning].into_iter().flatten() {
                        if !text.is_empty() {
                            acc.reasoning.push_str(&text);
                            yield Ok(ProviderEvent::ReasoningDelta(text));
                        }
                    }
                    for (pos, tc) in delta.tool_calls.into_iter().enumerate() {
                        let index = tc.index.unwrap_or(pos as u32);
                        let (name, arguments) = match tc.function {
                            Some(f) => (f.name, f.arguments.unwrap_or_default()),
                            None => (None, String::new()),
                        };
                        yield Ok(acc.tool_call_delta(index, tc.id, name, arguments));
                    }
                    if let Some(fr) = choice.finish_reason {
                        acc.finish_reason = Some(FinishReason::from_openai(&fr));
                    }
                }
                // With include_usage the usage chunk is the last one before [DONE]: finish now
                // rather than wait for a [DONE] that a server may never send.
                if usage_seen && acc.finish_reason.is_some() {
                    yield Ok(ProviderEvent::Done(Box::new(acc.finish())));
                    return;
                }
            }
        })
    }

}


fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
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
struct ErrorBody {
    #[serde(default)]
    error: Option<ErrorDetail>,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    message: Option<Value>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    code: Option<Value>,
}

impl ErrorDetail {
    fn message_str(&self) -> String {
        match &self.message {
            Some(Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None => "the provider reported an error without a message".to_string(),
        }
    }
    fn code_str(&self) -> Option<String> {
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
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
    #[serde(default)]
    tool_calls: Vec<ToolCall>,
}

#[derive(Deserialize)]
struct ChatChunk {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    model: Option<String>,
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
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
    #[serde(default)]
    reasoning_content: Option<String>,
    #[serde(default)]
    reasoning: Option<String>,
    #[serde(default)]
    tool_calls: Vec<ToolCallDelta>,
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
    /// OpenRouter: the billed amount in USD.
    #[serde(default)]
    cost: Option<f64>,
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
    fn normalize(self) -> Usage {
        let p = self.prompt_tokens_details.unwrap_or_default();
        let c = self.completion_tokens_details.unwrap_or_default();
        Usage {
            input_tokens: self.prompt_tokens,
            output_tokens: self.completion_tokens,
            cached_input_tokens: p.cached_tokens.unwrap_or(0),
            cache_write_tokens: p.cache_write_tokens.unwrap_or(0),
            reasoning_tokens: c.reasoning_tokens.unwrap_or(0),
            cost_usd: self.cost,
        }
    }
}
