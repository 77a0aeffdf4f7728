//! The provider abstraction: a configured endpoint that turns a [`Request`] into a
//! [`Completion`] or a stream of [`ProviderEvent`]s. One file per wire format lives beside this one.
use std::pin::Pin;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use futures_util::{Stream, StreamExt};
use serde_json::Value;

use crate::types::error::Result;
use crate::types::message::Message;
use crate::types::request::Request;
use crate::types::response::FinishReason;
use crate::usage::Usage;

pub(crate) mod accumulator;
pub mod anthropic;
pub mod gemini;
pub(crate) mod http;
pub mod mistral;
pub mod mock;
pub mod openai;
pub mod sse;
pub(crate) mod stream;

pub(crate) use accumulator::Accumulator;

/// What a provider returns for one successful exchange (the Client adds ids, timings, attempts).
#[derive(Clone, Debug, PartialEq)]
pub struct Completion {
    pub provider_response_id: Option<String>,
    pub message: Message,
    pub finish_reason: FinishReason,
    pub usage: Usage,
    pub provider_model: Option<String>,
    pub raw: Option<Value>,
    /// The model's reasoning / thinking text, when the provider exposes it (Anthropic thinking,
    /// Gemini thought parts, DeepSeek/xAI `reasoning_content`, OpenRouter `reasoning`, Magistral).
    pub reasoning: Option<String>,
}

/// One event of a provider stream. A clean stream ends with `Done`; anything else is an error.
#[derive(Clone, Debug, PartialEq)]
pub enum ProviderEvent {
    TextDelta(String),
    ReasoningDelta(String),
    ToolCallDelta {
        index: u32,
        id: Option<String>,
        name: Option<String>,
        arguments: String,
    },
    /// The usage the provider has reported so far (e.g. Anthropic's input tokens at
    /// `message_start`), so that an attempt that fails later still accounts for it.
    Usage(Usage),
    /// Bytes arrived but carried no output (a keep-alive, a ping, a role-only chunk): the stream
    /// is alive. Not forwarded to callers.
    Alive,
    Done(Box<Completion>),
}

pub type ProviderStream = Pin<Box<dyn Stream<Item = Result<ProviderEvent>> + Send>>;

/// A configured endpoint speaking one wire format.
pub trait Provider: Send + Sync {
    /// The name models are addressed by (`openai` in `openai/gpt-4o-mini`).
    fn name(&self) -> &str;
    /// One non-streaming exchange for `model` (the part after `provider/`).
    fn complete<'a>(
        &'a self,
        model: &'a str,
        req: &'a Request,
    ) -> BoxFuture<'a, Result<Completion>>;
    /// Whether the provider continues a trailing assistant message (prefill) instead of starting
    /// a new one: what mid-stream continuation needs.
    fn supports_prefill(&self) -> bool {
        false
    }
    /// Whether its answers cost nothing (the in-process mock): unpriced models of it cost 0.
    fn is_free(&self) -> bool {
        false
    }
    /// Opens a stream; resolves once the provider accepted the request (headers received). The
    /// stream applies no deadline of its own: the caller's attempt driver does.
    fn stream<'a>(
        &'a self,
        model: &'a str,
        req: &'a Request,
    ) -> BoxFuture<'a, Result<ProviderStream>>;
}

/// What differs between the HTTP wire formats. [`Provider`] is implemented once for all of them:
/// send the request (errors already classified), then parse the body or read the event stream
/// through the format's [`stream::Decoder`].
pub(crate) trait HttpWire: Send + Sync {
    /// The provider's name and key, for tagging and scrubbing errors.
    fn scope(&self) -> &Arc<http::Scope>;
    /// Sends one request; a non-2xx answer comes back as a classified error.
    fn send<'a>(
        &'a self,
        model: &'a str,
        req: &'a Request,
        stream: bool,
    ) -> BoxFuture<'a, Result<reqwest::Response>>;
    /// Parses a non-streaming body.
    fn parse(&self, bytes: &[u8], model: &str, include_raw: bool) -> Result<Completion>;
    /// A fresh decoder for one streamed response.
    fn decoder(&self) -> Box<dyn stream::Decoder>;
    /// See [`Provider::supports_prefill`].
    fn supports_prefill(&self) -> bool {
        false
    }
}

impl<W: HttpWire> Provider for W {
    fn name(&self) -> &str {
        &self.scope().name
    }

    fn supports_prefill(&self) -> bool {
        HttpWire::supports_prefill(self)
    }

    fn complete<'a>(
        &'a self,
        model: &'a str,
        req: &'a Request,
    ) -> BoxFuture<'a, Result<Completion>> {
        Box::pin(async move {
            let resp = self.send(model, req, false).await?;
            let bytes = read_body(self, resp, model).await?;
            self.parse(&bytes, model, req.params.include_raw.unwrap_or(false))
        })
    }

    fn stream<'a>(
        &'a self,
        model: &'a str,
        req: &'a Request,
    ) -> BoxFuture<'a, Result<ProviderStream>> {
        Box::pin(async move {
            let resp = self.send(model, req, true).await?;
            if is_json(&resp) {
                // The server ignored `stream: true` and sent the whole answer as one JSON body
                // (some OpenAI-compatible servers and proxies do): it is the complete answer.
                let bytes = read_body(self, resp, model).await?;
                let completion = self.parse(&bytes, model, false)?;
                let events = stream::completion_events(completion);
                return Ok(Box::pin(futures_util::stream::iter(events)) as ProviderStream);
            }
            let body = resp.bytes_stream();
            Ok(Box::pin(stream::SseStream::new(
                body,
                self.decoder(),
                self.scope().clone(),
                model,
            )) as ProviderStream)
        })
    }
}

/// Whether a response's Content-Type says JSON (not an event stream).
fn is_json(resp: &reqwest::Response) -> bool {
    resp.headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|ct| {
            let ct = ct.trim().to_ascii_lowercase();
            ct.starts_with("application/json")
                || (ct.starts_with("application/") && ct.contains("+json"))
        })
        .unwrap_or(false)
}

/// Reads a successful JSON body, at most `policy.limits.max_response_bytes` of it (a
/// `Content-Length` over the limit is refused before reading).
async fn read_body<W: HttpWire + ?Sized>(
    wire: &W,
    resp: reqwest::Response,
    model: &str,
) -> Result<bytes::Bytes> {
    let scope = wire.scope();
    let limit = scope.limits.max_response_bytes;
    let over = || {
        scope.tag(
            stream::too_large("max_response_bytes", limit, "the response body"),
            model,
        )
    };
    if resp.content_length().is_some_and(|n| n > limit) {
        return Err(over());
    }
    let mut body = Vec::new();
    let mut chunks = resp.bytes_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| scope.tag(http::transport_error(&e), model))?;
        if body.len() as u64 + chunk.len() as u64 > limit {
            return Err(over());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(bytes::Bytes::from(body))
}

/// Reads an SSE body given as chunks exactly as if it had arrived over the wire (replays and
/// tests: e.g. one byte per chunk).
pub(crate) fn replay<W: HttpWire>(
    wire: &W,
    model: &str,
    chunks: Vec<bytes::Bytes>,
) -> ProviderStream {
    let body = futures_util::stream::iter(chunks.into_iter().map(Ok));
    Box::pin(stream::SseStream::new(
        body,
        wire.decoder(),
        wire.scope().clone(),
        model,
    ))
}
