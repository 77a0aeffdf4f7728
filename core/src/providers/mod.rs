//! The provider abstraction: a configured endpoint that turns a [`Request`] into a
//! [`Completion`] or a stream of [`ProviderEvent`]s. One file per wire format lives beside this one.
use std::pin::Pin;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::Stream;
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
    Done(Box<Completion>),
}

pub type ProviderStream = Pin<Box<dyn Stream<Item = Result<ProviderEvent>> + Send>>;

/// Per-exchange settings the Client hands a provider.
#[derive(Clone, Debug)]
pub struct CallOptions {
    /// The stream fails as stalled after this long without data.
    pub stream_idle_timeout: Duration,
}

/// A configured endpoint speaking one wire format.
pub trait Provider: Send + Sync {
    /// The name models are addressed by (`openai` in `openai/gpt-4o-mini`).
    fn name(&self) -> &str;
    /// One non-streaming exchange for `model` (the part after `provider/`).
    fn complete<'a>(
        &'a self,
        model: &'a str,
        req: &'a Request,
        opts: &'a CallOptions,
    ) -> BoxFuture<'a, Result<Completion>>;
    /// Whether the provider continues a trailing assistant message (prefill) instead of starting
    /// a new one: what mid-stream continuation needs.
    fn supports_prefill(&self) -> bool {
        false
    }
    /// Opens a stream; resolves once the provider accepted the request (headers received).
    fn stream<'a>(
        &'a self,
        model: &'a str,
        req: &'a Request,
        opts: &'a CallOptions,
    ) -> BoxFuture<'a, Result<ProviderStream>>;
}

/// What differs between the HTTP wire formats. [`Provider`] is implemented once for all of them:
/// send the request (errors already classified), then parse the body or the event stream.
pub(crate) trait HttpWire: Send + Sync {
    /// The provider's name and key, for tagging and scrubbing errors.
    fn scope(&self) -> &http::Scope;
    /// Sends one request; a non-2xx answer comes back as a classified error.
    fn send<'a>(
        &'a self,
        model: &'a str,
        req: &'a Request,
        stream: bool,
    ) -> BoxFuture<'a, Result<reqwest::Response>>;
    /// Parses a non-streaming body.
    fn parse(&self, bytes: &[u8], model: &str, include_raw: bool) -> Result<Completion>;
    /// Turns a streaming response into provider events.
    fn events(&self, resp: reqwest::Response, model: String, idle: Duration) -> ProviderStream;
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
        _opts: &'a CallOptions,
    ) -> BoxFuture<'a, Result<Completion>> {
        Box::pin(async move {
            let resp = self.send(model, req, false).await?;
            let bytes = resp.bytes().await.map_err(|e| {
                self.scope()
                    .tag(crate::providers::http::transport_error(&e), model)
            })?;
            self.parse(&bytes, model, req.params.include_raw.unwrap_or(false))
        })
    }

    fn stream<'a>(
        &'a self,
        model: &'a str,
        req: &'a Request,
        opts: &'a CallOptions,
    ) -> BoxFuture<'a, Result<ProviderStream>> {
        Box::pin(async move {
            let resp = self.send(model, req, true).await?;
            Ok(self.events(resp, model.to_string(), opts.stream_idle_timeout))
        })
    }
}
