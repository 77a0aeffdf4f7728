//! The response model: what one logical call returns (text, message, finish reason, usage, the
//! model and provider that answered, timings and every attempt made).
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::types::error::ErrorKind;
use crate::types::message::Message;
use crate::usage::Usage;

/// Why generation stopped, normalized across providers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    Stop,
    Length,
    ToolCalls,
    ContentFilter,
    /// A provider value with no normalized meaning, kept as sent.
    #[serde(untagged)]
    Other(String),
}

impl FinishReason {
    /// Maps OpenAI-style finish reasons (also used by Mistral, OpenRouter and compatibles).
    pub fn from_openai(s: &str) -> FinishReason {
        match s {
            "stop" | "end_turn" | "stop_sequence" => FinishReason::Stop,
            "length" | "max_tokens" => FinishReason::Length,
            "tool_calls" | "function_call" | "tool_use" => FinishReason::ToolCalls,
            "content_filter" => FinishReason::ContentFilter,
            other => FinishReason::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::ToolCalls => "tool_calls",
            FinishReason::ContentFilter => "content_filter",
            FinishReason::Other(s) => s,
        }
    }
}

/// How an attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    Error,
    Cancelled,
}

/// One try at one target.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// `provider/model` as requested.
    pub model: String,
    pub provider: String,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<ErrorKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    pub latency_ms: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<f64>,
    /// Tokens the attempt consumed: what the provider reported (for a failed or cancelled
    /// stream, what it had reported so far), with `usage.source` saying how certain that is.
    pub usage: Usage,
    /// 1-based number of the attempt within its call.
    #[serde(default)]
    pub number: u32,
    /// Started as a hedge's backup request.
    #[serde(default)]
    pub hedge: bool,
    /// Made on a target other than the call's first (a fallback).
    #[serde(default)]
    pub fallback: bool,
}

/// The result of a successful call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// polyfuse's id for this call (also in usage events).
    pub id: String,
    /// The provider's response id (`chatcmpl-...`, `msg_...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_response_id: Option<String>,
    /// The answer's text (empty when the model only called tools).
    pub text: String,
    /// The assistant message, OpenAI shape, ready to append to the conversation.
    pub message: Message,
    pub finish_reason: FinishReason,
    pub usage: Usage,
    /// `provider/model` that answered.
    pub model: String,
    pub provider: String,
    /// The model name the provider reported (e.g. `gpt-4o-2024-08-06`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    pub latency_ms: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<f64>,
    pub attempts: Vec<Attempt>,
    /// The model's reasoning / thinking text, when the provider exposes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<String>,
    /// The provider's raw body (non-streaming calls with `include_raw`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<Value>,
    /// The whole fusion result, when the model was `fusion/<name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fusion: Option<Box<crate::fusion::FusionResult>>,
}

impl Response {
    /// The response as an OpenAI `chat.completion` object, for code written against the OpenAI SDK
    /// (see [`crate::types::openai::chat_completion`]).
    pub fn to_openai(&self) -> Value {
        crate::types::openai::chat_completion(self)
    }
}
