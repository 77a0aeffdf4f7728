//! The provider abstraction: a configured endpoint that turns a [`Request`] into a
//! [`Completion`] or a stream of [`ProviderEvent`]s. One file per wire format lives beside this one.
use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::Stream;
use serde_json::Value;

use crate::config::{Config, ProviderConfig, Secret, WireFormat, BUILTIN_NATIVE, BUILTIN_OPENAI};
use crate::error::{Error, Result};
use crate::message::{Content, FunctionCall, Message, Role, ToolCall};
use crate::request::Request;
use crate::response::FinishReason;
use crate::usage::Usage;

pub mod anthropic;
pub mod gemini;
pub mod mistral;
pub mod mock;
pub mod openai;

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
    fn scope(&self) -> &openai::Scope;
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
            let bytes = resp
                .bytes()
                .await
                .map_err(|e| self.scope().tag(crate::http::transport_error(&e), model))?;
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

/// Builds every provider the config names, plus the built-ins whose keys are set.
pub(crate) fn build_providers(
    config: &Config,
    http: &reqwest::Client,
) -> Result<BTreeMap<String, Arc<dyn Provider>>> {
    let mut out: BTreeMap<String, Arc<dyn Provider>> = BTreeMap::new();
    out.insert(
        "mock".into(),
        Arc::new(mock::MockProvider::new("mock", config.mock.models.clone())),
    );
    if config.env_providers {
        for (name, base, var) in BUILTIN_OPENAI {
            if config.providers.contains_key(*name) {
                continue;
            }
            let key = std::env::var(var).ok().filter(|k| !k.is_empty());
            let base_env = format!("{}_BASE_URL", name.to_uppercase());
            let base_url = std::env::var(&base_env).ok().filter(|b| !b.is_empty());
            if key.is_none() && !(*name == "ollama" && base_url.is_some()) {
                continue;
            }
            let pc = ProviderConfig {
                format: WireFormat::Openai,
                base_url: Some(base_url.unwrap_or_else(|| base.to_string())),
                api_key: key.map(Secret::new),
                api_key_env: None,
                auth_header: None,
                headers: Default::default(),
                query: Default::default(),
                max_tokens_field: None,
            };
            out.insert(
                name.to_string(),
                Arc::new(openai::OpenAiProvider::new(name, &pc, http.clone())?),
            );
        }
    }
    if config.env_providers {
        for (name, format, base, vars) in BUILTIN_NATIVE {
            if config.providers.contains_key(*name) {
                continue;
            }
            let Some(key) = vars
                .iter()
                .find_map(|v| std::env::var(v).ok().filter(|k| !k.is_empty()))
            else {
                continue;
            };
            let base_env = format!("{}_BASE_URL", name.to_uppercase());
            let base_url = std::env::var(&base_env)
                .ok()
                .filter(|b| !b.is_empty())
                .unwrap_or_else(|| base.to_string());
            let pc = ProviderConfig {
                format: *format,
                base_url: Some(base_url),
                api_key: Some(Secret::new(key)),
                api_key_env: None,
                auth_header: None,
                headers: Default::default(),
                query: Default::default(),
                max_tokens_field: None,
            };
            out.insert(name.to_string(), native_provider(name, &pc, http)?);
        }
    }
    for (name, pc) in &config.providers {
        let provider: Arc<dyn Provider> = match pc.format {
            WireFormat::Anthropic | WireFormat::Gemini | WireFormat::Mistral => {
                let mut pc = pc.clone();
                let builtin = BUILTIN_NATIVE.iter().find(|(_, f, _, _)| *f == pc.format);
                if pc.base_url.is_none() {
                    pc.base_url = builtin.map(|(_, _, b, _)| b.to_string());
                }
                if pc.api_key.is_none() {
                    let vars: Vec<String> = match &pc.api_key_env {
                        Some(v) => vec![v.clone()],
                        None => BUILTIN_NATIVE
                            .iter()
                            .find(|(n, _, _, _)| n == name)
                            .map(|(_, _, _, vars)| vars.iter().map(|v| v.to_string()).collect())
                            .unwrap_or_default(),
                    };
                    pc.api_key = vars
                        .iter()
                        .find_map(|v| std::env::var(v).ok().filter(|k| !k.is_empty()))
                        .map(Secret::new);
                }
                native_provider(name, &pc, http)?
            }
            WireFormat::Openai => {
                let mut pc = pc.clone();
                if pc.base_url.is_none() {
                    pc.base_url = BUILTIN_OPENAI
                        .iter()
                        .find(|(n, _, _)| n == name)
                        .map(|(_, b, _)| b.to_string());
                }
                if pc.api_key.is_none() {
                    let var = pc.api_key_env.clone().or_else(|| {
                        BUILTIN_OPENAI
                            .iter()
                            .find(|(n, _, _)| n == name)
                            .map(|(_, _, v)| v.to_string())
                    });
                    pc.api_key = var
                        .and_then(|v| std::env::var(v).ok())
                        .filter(|k| !k.is_empty())
                        .map(Secret::new);
                }
                Arc::new(openai::OpenAiProvider::new(name, &pc, http.clone())?)
            }
            WireFormat::Mock => Arc::new(mock::MockProvider::new(name, config.mock.models.clone())),
        };
        out.insert(name.clone(), provider);
    }
    Ok(out)
}

/// A provider of one of the native (non-OpenAI) wire formats.
fn native_provider(
    name: &str,
    pc: &ProviderConfig,
    http: &reqwest::Client,
) -> Result<Arc<dyn Provider>> {
    Ok(match pc.format {
        WireFormat::Anthropic => {
            Arc::new(anthropic::AnthropicProvider::new(name, pc, http.clone())?)
        }
        WireFormat::Gemini => Arc::new(gemini::GeminiProvider::new(name, pc, http.clone())?),
        WireFormat::Mistral => Arc::new(mistral::MistralProvider::new(name, pc, http.clone())?),
        other => {
            return Err(Error::config(format!(
                "config key `providers.{name}.format`: `{other:?}` is not a native format"
            )))
        }
    })
}

/// Assembles a complete assistant message from stream deltas; shared by every wire format.
#[derive(Debug, Default)]
pub(crate) struct Accumulator {
    pub text: String,
    pub reasoning: String,
    /// Tool calls by stream index (indexes need not start at 0).
    pub tool_calls: BTreeMap<u32, ToolCall>,
    pub finish_reason: Option<FinishReason>,
    pub usage: Option<Usage>,
    pub response_id: Option<String>,
    pub provider_model: Option<String>,
}

impl Accumulator {
    /// Records a delta; returns the event to forward.
    pub fn tool_call_delta(
        &mut self,
        index: u32,
        id: Option<String>,
        name: Option<String>,
        arguments: String,
    ) -> ProviderEvent {
        let entry = self.tool_calls.entry(index).or_insert_with(|| ToolCall {
            id: String::new(),
            kind: "function".into(),
            function: FunctionCall {
                name: String::new(),
                arguments: String::new(),
            },
        });
        if let Some(id) = &id {
            entry.id = id.clone();
        }
        if let Some(name) = &name {
            entry.function.name.push_str(name);
        }
        entry.function.arguments.push_str(&arguments);
        ProviderEvent::ToolCallDelta {
            index,
            id,
            name,
            arguments,
        }
    }

    pub fn finish(self) -> Completion {
        let tool_calls: Vec<ToolCall> = self.tool_calls.into_values().collect();
        let finish_reason = self.finish_reason.unwrap_or(if tool_calls.is_empty() {
            FinishReason::Stop
        } else {
            FinishReason::ToolCalls
        });
        let content = if self.text.is_empty() && !tool_calls.is_empty() {
            None
        } else {
            Some(Content::Text(self.text))
        };
        Completion {
            provider_response_id: self.response_id,
            message: Message {
                role: Role::Assistant,
                content,
                name: None,
                tool_calls,
                tool_call_id: None,
                refusal: None,
            },
            finish_reason,
            usage: self.usage.unwrap_or_default(),
            provider_model: self.provider_model,
            raw: None,
            reasoning: (!self.reasoning.is_empty()).then_some(self.reasoning),
        }
    }
}
