//! Stream events: what `Client::stream` yields. A stream ends with exactly one `Final` event
//! carrying the complete Response, or with an error; never with a silent truncation.
use std::pin::Pin;

use futures_util::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;

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

/// A stream of JSON values: a stream of events in another SDK's shapes (`types::openai`,
/// `types::ai_sdk`); an `Err` item ends it.
pub type ValueStream = Pin<Box<dyn Stream<Item = Result<Value, Error>> + Send>>;

/// `events` with each event turned into zero or more values by `view` (which may keep state);
/// the error that ends `events` ends the result.
pub fn map_stream<F>(events: EventStream, mut view: F) -> ValueStream
where
    F: FnMut(StreamEvent) -> Vec<Value> + Send + 'static,
{
    Box::pin(events.flat_map(move |item| {
        let values: Vec<Result<Value, Error>> = match item {
            Ok(event) => view(event).into_iter().map(Ok).collect(),
            Err(e) => vec![Err(e)],
        };
        futures_util::stream::iter(values)
    }))
}

/// Waits for `stream`'s first item: an error there is returned (as the official SDKs' `create()`
/// fails when the request does, before any chunk); otherwise the stream, that item first.
pub async fn started(mut stream: ValueStream) -> Result<ValueStream, Error> {
    match stream.next().await {
        Some(Ok(first)) => Ok(Box::pin(
            futures_util::stream::once(async move { Ok(first) }).chain(stream),
        )),
        Some(Err(e)) => Err(e),
        None => Ok(stream),
    }
}
