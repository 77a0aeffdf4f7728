//! Stream events: what `Client::stream` yields. A stream ends with exactly one `Final` event
//! carrying the complete Response, or with an error; never with a silent truncation.
use std::pin::Pin;

use futures_util::Stream;
use serde::{Deserialize, Serialize};

use crate::types::error::Error;
use crate::types::response::Response;

/// One event of a streamed call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamEvent {
    /// A piece of the answer's text.
    TextDelta { text: String },
    /// A piece of reasoning text (models that expose it).
    ReasoningDelta { text: String },
    /// A piece of a tool call; `id` and `name` come with the first piece of each index.
    ToolCallDelta {
        index: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        arguments: String,
    },
    /// Another target took over mid-stream: discard what was shown so far.
    Restart {
        model: String,
        provider: String,
        reason: String,
    },
    /// The complete response, with usage. Always the last event of a successful stream.
    Final { response: Box<Response> },
}

/// A stream of events; an `Err` item ends it.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<StreamEvent, Error>> + Send>>;
