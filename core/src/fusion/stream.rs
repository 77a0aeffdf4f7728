//! Streaming a fusion: its events ([`FusionEvent`]: the start, each member as it comes back, each
//! judge phase, then the final answer's text as it is produced, and the result last), the
//! [`Emitter`] the fusion writes them to, and [`FusionStream`], which drives the fusion's future
//! as it is polled, so that nothing runs unless the stream is polled and dropping it cancels
//! every member and judge call.
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures_util::future::BoxFuture;
use futures_util::Stream;
use serde::{Deserialize, Serialize};

use super::result::{Candidate, FusionResult, JudgePurpose};
use super::spec::Mode;
use crate::types::error::{Error, Result};
use crate::types::stream::{EventStream, StreamEvent};

/// One event of a streamed fusion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FusionEvent {
    /// The fusion started: its id, mode, members (one per seat) and the seed of the order.
    Started {
        id: String,
        mode: Mode,
        members: Vec<String>,
        seed: u64,
    },
    /// A member came back (answered, failed, or cancelled as a straggler); in a debate, once
    /// per round.
    Member { candidate: Box<Candidate> },
    /// A judge call starts.
    Judging {
        purpose: JudgePurpose,
        model: String,
    },
    /// A piece of the final answer's text.
    TextDelta { text: String },
    /// The answer's text shown so far is void (the judge failed mid-answer): discard it; the
    /// answer follows again.
    Restart { reason: String },
    /// The complete result. Always the last event of a successful fusion.
    Final { result: Box<FusionResult> },
}

/// Where a fusion writes its events: nowhere for `fuse`, a queue for `fuse_stream`.
#[derive(Clone, Default)]
pub(crate) struct Emitter {
    queue: Option<Arc<Mutex<VecDeque<FusionEvent>>>>,
}

impl Emitter {
    pub(crate) fn streaming(&self) -> bool {
        self.queue.is_some()
    }

    pub(crate) fn emit(&self, event: FusionEvent) {
        if let Some(q) = &self.queue {
            q.lock().unwrap_or_else(|p| p.into_inner()).push_back(event);
        }
    }

    fn pop(&self) -> Option<FusionEvent> {
        self.queue
            .as_ref()?
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front()
    }
}

/// The events of one fusion; an `Err` item ends it.
pub type FusionStream = Pin<Box<dyn Stream<Item = Result<FusionEvent>> + Send>>;

/// Drives a fusion future and hands out what it emitted, then its result as `Final`.
struct Driven {
    fusion: Option<BoxFuture<'static, Result<FusionResult>>>,
    out: Emitter,
    error: Option<Error>,
}

impl Stream for Driven {
    type Item = Result<FusionEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(ev) = self.out.pop() {
            return Poll::Ready(Some(Ok(ev)));
        }
        let Some(fusion) = self.fusion.as_mut() else {
            return Poll::Ready(self.error.take().map(Err));
        };
        match fusion.as_mut().poll(cx) {
            Poll::Ready(r) => {
                self.fusion = None;
                match r {
                    Ok(result) => self.out.emit(FusionEvent::Final {
                        result: Box::new(result),
                    }),
                    Err(e) => self.error = Some(e),
                }
                match self.out.pop() {
                    Some(ev) => Poll::Ready(Some(Ok(ev))),
                    None => Poll::Ready(self.error.take().map(Err)),
                }
            }
            Poll::Pending => match self.out.pop() {
                Some(ev) => Poll::Ready(Some(Ok(ev))),
                None => Poll::Pending,
            },
        }
    }
}

/// A stream of the fusion `run` builds, given the emitter to write to.
pub(crate) fn driven<F>(run: impl FnOnce(Emitter) -> F) -> FusionStream
where
    F: Future<Output = Result<FusionResult>> + Send + 'static,
{
    let out = Emitter {
        queue: Some(Arc::default()),
    };
    Box::pin(Driven {
        fusion: Some(Box::pin(run(out.clone()))),
        out,
        error: None,
    })
}

/// A fusion's events as the events of one streamed call (`stream("fusion/<name>")`): the answer's
/// text, restarts, and the result as a `Final` Response (with the fusion on it); member and
/// judge progress is left out.
pub(crate) fn as_call_stream(events: FusionStream) -> EventStream {
    use futures_util::StreamExt;
    Box::pin(events.filter_map(|item| async move {
        match item {
            Ok(FusionEvent::TextDelta { text }) => Some(Ok(StreamEvent::TextDelta { text })),
            Ok(FusionEvent::Restart { reason }) => Some(Ok(StreamEvent::Restart {
                model: "fusion".to_string(),
                provider: "fusion".to_string(),
                reason,
            })),
            Ok(FusionEvent::Final { result }) => Some(Ok(StreamEvent::Final {
                response: Box::new(result.into_response()),
            })),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        }
    }))
}
