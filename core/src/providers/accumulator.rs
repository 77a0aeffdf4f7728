//! The [`Accumulator`]: assembles a complete assistant message from stream deltas; shared by every
//! wire format.
use std::collections::BTreeMap;

use super::{Completion, ProviderEvent};
use crate::types::message::{Content, FunctionCall, Message, Role, ToolCall};
use crate::types::response::FinishReason;
use crate::usage::Usage;

/// Assembles a complete assistant message from stream deltas; shared by every wire format.
#[derive(Debug, Default)]
pub(crate) struct Accumulator {
    pub text: String,
    /// A refusal the model streamed (OpenAI `delta.refusal`); it is also part of `text`.
    pub refusal: String,
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
                refusal: (!self.refusal.is_empty()).then_some(self.refusal),
            },
            finish_reason,
            usage: self.usage.unwrap_or_default(),
            provider_model: self.provider_model,
            raw: None,
            reasoning: (!self.reasoning.is_empty()).then_some(self.reasoning),
        }
    }
}
