//! One SSE read loop for every HTTP wire format: [`SseStream`] reads the body, splits it into SSE
//! events, hands each to the format's [`Decoder`] and yields [`ProviderEvent`]s. What a format
//! means by its events lives in its decoder; reading, cut bodies, truncation, activity signals and
//! usage-so-far live here once.
//!
//! Deadlines are not applied here: the attempt driver (`call::attempt`) owns them. To let it tell
//! a live stream from a stalled one, every read that brought bytes but no output yields
//! [`ProviderEvent::Alive`] (keep-alive comments and pings included), and usage is forwarded as
//! [`ProviderEvent::Usage`] whenever the provider reports new figures, so that a failed attempt
//! still accounts for what was billed.
//!
//! After the response is complete the stream keeps reading the body to its end when polled again
//! (yielding nothing), so that a caller that drains it returns the connection to the pool.
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;

use super::http::{transport_error, Scope};
use super::sse::{SseDecoder, SseEvent};
use super::{Completion, ProviderEvent};
use crate::types::error::{Error, ErrorKind, Result};
use crate::usage::Usage;

/// What a wire format makes of its SSE events.
pub(crate) trait Decoder: Send {
    /// Handles one event: pushes its output to `out`; returns the completion when this event
    /// ended the response.
    fn event(&mut self, ev: SseEvent, out: &mut Vec<ProviderEvent>) -> Result<Option<Completion>>;
    /// The body ended without an end-of-response event: the completion when the provider had
    /// already said why it stopped, else `None` (the stream was truncated).
    fn end(&mut self) -> Option<Completion>;
    /// The usage the provider has reported so far, normalized.
    fn usage(&self) -> Option<Usage>;
    /// What a truncated stream lacked, for the error message (e.g. "message_stop").
    fn end_marker(&self) -> &'static str;
}

type Bytestream = Pin<Box<dyn Stream<Item = std::result::Result<Bytes, reqwest::Error>> + Send>>;

/// A provider's SSE body as a stream of provider events.
pub(crate) struct SseStream {
    body: Bytestream,
    sse: SseDecoder,
    decoder: Box<dyn Decoder>,
    scope: Arc<Scope>,
    model: String,
    /// Decoded but not yet yielded.
    pending: VecDeque<Result<ProviderEvent>>,
    events: Vec<SseEvent>,
    out: Vec<ProviderEvent>,
    seen: usize,
    /// Bytes read so far (bounded by `policy.limits.max_response_bytes`).
    bytes: u64,
    last_usage: Option<Usage>,
    state: State,
}

#[derive(PartialEq)]
enum State {
    Reading,
    /// The response is complete (or failed): further polls read the body to its end.
    Draining,
    Ended,
}

impl SseStream {
    pub(crate) fn new<S>(body: S, decoder: Box<dyn Decoder>, scope: Arc<Scope>, model: &str) -> Self
    where
        S: Stream<Item = std::result::Result<Bytes, reqwest::Error>> + Send + 'static,
    {
        let limit = usize::try_from(scope.limits.max_event_bytes).unwrap_or(usize::MAX);
        SseStream {
            body: Box::pin(body),
            sse: SseDecoder::with_limit(limit),
            decoder,
            scope,
            model: model.to_string(),
            pending: VecDeque::new(),
            events: Vec::new(),
            out: Vec::new(),
            seen: 0,
            bytes: 0,
            last_usage: None,
            state: State::Reading,
        }
    }

    /// Runs the decoder over the events the SSE decoder produced; queues what they mean.
    fn decode(&mut self) {
        let mut produced = false;
        for ev in std::mem::take(&mut self.events) {
            if self.state != State::Reading {
                break;
            }
            self.seen += 1;
            match self.decoder.event(ev, &mut self.out) {
                Ok(done) => {
                    produced |= !self.out.is_empty();
                    self.pending.extend(self.out.drain(..).map(Ok));
                    if let Some(c) = done {
                        self.push_usage();
                        self.pending.push_back(Ok(ProviderEvent::Done(Box::new(c))));
                        self.state = State::Draining;
                        return;
                    }
                }
                Err(e) => self.fail(e),
            }
        }
        if self.state == State::Reading {
            produced |= self.push_usage();
            if !produced {
                self.pending.push_back(Ok(ProviderEvent::Alive));
            }
        }
    }

    /// Queues the usage reported so far when it changed; whether it did.
    fn push_usage(&mut self) -> bool {
        let now = self.decoder.usage();
        if now.is_some() && now != self.last_usage {
            self.last_usage = now.clone();
            self.pending
                .push_back(Ok(ProviderEvent::Usage(now.unwrap_or_default())));
            return true;
        }
        false
    }

    fn fail(&mut self, e: Error) {
        self.push_usage();
        self.pending.push_back(Err(self.scope.tag(e, &self.model)));
        self.state = State::Draining;
    }

    fn body_ended(&mut self) {
        self.sse.finish(&mut self.events);
        self.decode();
        if self.state == State::Reading {
            match self.decoder.end() {
                Some(c) => {
                    self.push_usage();
                    self.pending.push_back(Ok(ProviderEvent::Done(Box::new(c))));
                }
                None => {
                    let msg = format!(
                        "the stream ended after {} events without {}",
                        self.seen,
                        self.decoder.end_marker()
                    );
                    self.fail(Error::new(ErrorKind::Connection, msg));
                }
            }
        }
        self.state = State::Ended;
    }
}

impl Stream for SseStream {
    type Item = Result<ProviderEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(item) = this.pending.pop_front() {
                return Poll::Ready(Some(item));
            }
            if this.state == State::Ended {
                return Poll::Ready(None);
            }
            match this.body.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(chunk))) => {
                    if this.state == State::Reading {
                        this.bytes = this.bytes.saturating_add(chunk.len() as u64);
                        let limits = this.scope.limits;
                        if this.bytes > limits.max_response_bytes {
                            this.fail(too_large(
                                "max_response_bytes",
                                limits.max_response_bytes,
                                "the event stream",
                            ));
                            this.state = State::Ended;
                            continue;
                        }
                        this.sse.feed(&chunk, &mut this.events);
                        if this.sse.overflowed() {
                            this.fail(too_large(
                                "max_event_bytes",
                                limits.max_event_bytes,
                                "one line or event of the stream",
                            ));
                            this.state = State::Ended;
                            continue;
                        }
                        this.decode();
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    if this.state == State::Reading {
                        let mut err = transport_error(&e);
                        err.kind = ErrorKind::Connection;
                        err.message = format!(
                            "the stream was cut after {} events: {}",
                            this.seen, err.message
                        );
                        this.fail(err);
                    }
                    this.state = State::Ended;
                }
                Poll::Ready(None) => {
                    if this.state == State::Reading {
                        this.body_ended();
                    }
                    this.state = State::Ended;
                }
            }
        }
    }
}

/// The error for a limit the provider's answer went over.
pub(crate) fn too_large(limit: &str, value: u64, what: &str) -> Error {
    Error::new(
        ErrorKind::ResponseTooLarge,
        format!("{what} is larger than policy.limits.{limit} ({value} bytes)"),
    )
}

/// The events a whole completion stands for, as if it had been streamed: reasoning, text, each
/// tool call, usage, then `Done` (for a server that answered a stream request with one JSON body).
pub(crate) fn completion_events(c: Completion) -> Vec<Result<ProviderEvent>> {
    let mut out = Vec::new();
    if let Some(r) = c.reasoning.clone().filter(|r| !r.is_empty()) {
        out.push(Ok(ProviderEvent::ReasoningDelta(r)));
    }
    let text = c.message.text();
    if !text.is_empty() {
        out.push(Ok(ProviderEvent::TextDelta(text)));
    }
    for (i, tc) in c.message.tool_calls.iter().enumerate() {
        out.push(Ok(ProviderEvent::ToolCallDelta {
            index: i as u32,
            id: Some(tc.id.clone()),
            name: Some(tc.function.name.clone()),
            arguments: tc.function.arguments.clone(),
        }));
    }
    out.push(Ok(ProviderEvent::Usage(c.usage.clone())));
    out.push(Ok(ProviderEvent::Done(Box::new(c))));
    out
}
