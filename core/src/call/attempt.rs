//! [`Attempt`]: one try at one target, as a small state machine: open the exchange → wait for the
//! first output under the first-token deadline → read further output under the idle deadline →
//! done. Every attempt of every call (complete, stream, both sides of a hedge, and later fusion
//! members) is driven by this one type; `CallRecord::settle` is the one place that records it.
//!
//! `next()` is cancellation-safe: the exchange being opened is kept inside the attempt, so a
//! hedge race can stop polling an attempt and resume it later without sending a second request.
//! A plain (non-streaming) exchange is the same machine with a single `Done` event; since nothing
//! arrives before the whole answer, only the attempt cap and the total budget bound it.
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::{FutureExt, StreamExt};
use tokio::time::Instant;

use super::deadlines::Deadlines;
use crate::providers::{Completion, ProviderEvent, ProviderStream};
use crate::routing::balance::{Balancer, InFlight, Measure};
use crate::routing::plan::Target;
use crate::types::error::{Error, ErrorKind, Result};
use crate::types::request::Request;
use crate::usage::{Reservation, Usage, UsageSource};

/// What one step of an attempt produced.
pub(crate) enum Step {
    /// Output: a text, reasoning or tool-call delta.
    Output(ProviderEvent),
    /// The complete answer (its usage reported, or estimated when the provider sent none).
    Done(Box<Completion>),
}

/// A failed attempt: the error, and whether it was silent (timed out without a first output),
/// which the retry decision treats apart from an error the server reported.
pub(crate) struct Failure {
    pub error: Error,
    pub silent: bool,
}

impl Failure {
    fn new(error: Error) -> Failure {
        Failure {
            error,
            silent: false,
        }
    }
}

/// How an attempt exchanges with its provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exchange {
    /// A streamed request (what `stream` does, and `complete` by default).
    Stream,
    /// One non-streaming request (`include_raw`, or `policy.complete_via_stream = false`).
    Plain,
}

/// One attempt at one target.
pub(crate) struct Attempt {
    pub target: Arc<Target>,
    /// The request this attempt sends (the call's, or a continuation of it by prefill).
    pub req: Arc<Request>,
    /// 1-based number of this attempt within its call.
    pub number: u32,
    /// Whether it was started as a hedge's backup.
    pub hedge: bool,
    /// What it reserved in the budgets (settled when it is recorded).
    pub budget: Option<Reservation>,
    exchange: Exchange,
    deadlines: Deadlines,
    /// When the attempt started (latency is measured from here).
    pub started: Instant,
    first_token_by: Instant,
    /// The attempt cap or the call's deadline, whichever comes first.
    end_by: Instant,
    call_deadline: Instant,
    state: State,
    last_activity: Instant,
    /// Time to the first output, once it arrived.
    pub ttft: Option<Duration>,
    /// The usage reported so far.
    usage: Option<Usage>,
    /// Whether the exchange certainly consumed nothing (rejected before generation).
    consumed_nothing: bool,
    events: usize,
    balancer: Arc<Balancer>,
    _in_flight: InFlight,
}

enum State {
    /// Not sent yet.
    Idle,
    Opening(BoxFuture<'static, Result<ProviderStream>>),
    Open(ProviderStream),
    /// Done or failed.
    Over,
}

impl Attempt {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        target: Arc<Target>,
        req: Arc<Request>,
        number: u32,
        exchange: Exchange,
        deadlines: Deadlines,
        call_deadline: Instant,
        balancer: &Arc<Balancer>,
    ) -> Attempt {
        let now = Instant::now();
        let end_by = match deadlines.attempt {
            Some(cap) => (now + cap).min(call_deadline),
            None => call_deadline,
        };
        let first_token_by = match exchange {
            Exchange::Stream => (now + deadlines.first_token).min(end_by),
            Exchange::Plain => end_by,
        };
        let in_flight = balancer.start(&target.model);
        Attempt {
            target,
            req,
            number,
            hedge: false,
            budget: None,
            exchange,
            deadlines,
            started: now,
            first_token_by,
            end_by,
            call_deadline,
            state: State::Idle,
            last_activity: now,
            ttft: None,
            usage: None,
            consumed_nothing: false,
            events: 0,
            balancer: balancer.clone(),
            _in_flight: in_flight,
        }
    }

    /// What the attempt consumed as far as is known: the provider's report (for a failed
    /// attempt, what it reported before failing), "none" when it was rejected before
    /// generation, else unknown.
    pub(crate) fn usage(&self) -> Usage {
        match &self.usage {
            Some(u) => u.clone(),
            None if self.consumed_nothing || matches!(self.state, State::Idle) => Usage::none(),
            None => Usage::default(),
        }
    }

    /// The next step, under the deadlines. After `Done` or a failure the attempt is over.
    pub(crate) async fn next(&mut self) -> Result<Step, Failure> {
        loop {
            let by = self.deadline();
            match &mut self.state {
                State::Idle => self.state = State::Opening(self.open()),
                State::Opening(opening) => {
                    match tokio::time::timeout_at(by, opening).await {
                        Ok(Ok(stream)) => self.state = State::Open(stream),
                        Ok(Err(e)) => {
                            // The provider rejected the request before generating anything.
                            self.consumed_nothing = true;
                            self.state = State::Over;
                            return Err(Failure::new(e));
                        }
                        Err(_) => return Err(self.deadline_passed()),
                    }
                }
                State::Open(stream) => {
                    let item = match tokio::time::timeout_at(by, stream.next()).await {
                        Ok(item) => item,
                        Err(_) => return Err(self.deadline_passed()),
                    };
                    match item {
                        Some(Ok(ProviderEvent::Alive)) => {
                            if self.ttft.is_some() {
                                self.last_activity = Instant::now();
                            }
                        }
                        Some(Ok(ProviderEvent::Usage(u))) => {
                            self.usage = Some(u);
                            if self.ttft.is_some() {
                                self.last_activity = Instant::now();
                            }
                        }
                        Some(Ok(ProviderEvent::Done(c))) => return Ok(self.done(c)),
                        Some(Ok(output)) => {
                            self.first_output();
                            self.events += 1;
                            return Ok(Step::Output(output));
                        }
                        Some(Err(e)) => {
                            self.state = State::Over;
                            return Err(Failure::new(e));
                        }
                        None => {
                            self.state = State::Over;
                            return Err(Failure::new(self.tag(Error::new(
                                ErrorKind::Connection,
                                "the provider stream ended before the response was complete",
                            ))));
                        }
                    }
                }
                State::Over => {
                    return Err(Failure::new(self.tag(Error::new(
                        ErrorKind::Internal,
                        "polyfuse internal error: an attempt was stepped after it ended",
                    ))))
                }
            }
        }
    }

    /// The exchange, as a future that owns what it needs (so it can be kept across polls).
    fn open(&self) -> BoxFuture<'static, Result<ProviderStream>> {
        let target = self.target.clone();
        let req = self.req.clone();
        match self.exchange {
            Exchange::Stream => {
                async move { target.provider.stream(&target.name, &req).await }.boxed()
            }
            Exchange::Plain => async move {
                let c = target.provider.complete(&target.name, &req).await?;
                let one = futures_util::stream::iter([Ok(ProviderEvent::Done(Box::new(c)))]);
                Ok(Box::pin(one) as ProviderStream)
            }
            .boxed(),
        }
    }

    /// The deadline of the current wait.
    fn deadline(&self) -> Instant {
        match self.ttft {
            None => self.first_token_by,
            Some(_) => (self.last_activity + self.deadlines.idle).min(self.end_by),
        }
    }

    fn first_output(&mut self) {
        let now = Instant::now();
        self.last_activity = now;
        if self.ttft.is_none() {
            let ttft = now.saturating_duration_since(self.started);
            self.ttft = Some(ttft);
            self.balancer
                .observe(&self.target.model, Measure::FirstToken, ttft);
        }
    }

    fn done(&mut self, mut c: Box<Completion>) -> Step {
        self.first_output();
        if c.usage.source == UsageSource::Unknown {
            c.usage = Usage::estimate(&self.req.messages, &c);
        }
        self.usage = Some(c.usage.clone());
        self.balancer
            .observe(&self.target.model, Measure::Total, self.started.elapsed());
        if let State::Open(stream) = std::mem::replace(&mut self.state, State::Over) {
            drain(stream, self.deadlines.idle);
        }
        Step::Done(c)
    }

    /// The failure for the deadline that just passed. Without a first output it is silent (the
    /// provider said nothing in time), whichever deadline it was.
    fn deadline_passed(&mut self) -> Failure {
        let wait = self.deadline();
        self.state = State::Over;
        let secs = |d: Duration| d.as_secs_f64();
        let silent = self.ttft.is_none();
        let message = if wait >= self.call_deadline {
            "the call's total budget ran out during the attempt".to_string()
        } else if silent {
            format!(
                "no first token within {:.1}s (a silent provider)",
                secs(wait.saturating_duration_since(self.started))
            )
        } else if wait < self.end_by {
            format!(
                "the stream stalled: no data for {:.1}s after {} events",
                secs(self.deadlines.idle),
                self.events
            )
        } else {
            format!(
                "the attempt did not complete within {:.1}s",
                secs(self.end_by.saturating_duration_since(self.started))
            )
        };
        Failure {
            error: self.tag(Error::new(ErrorKind::Timeout, message)),
            silent,
        }
    }

    fn tag(&self, e: Error) -> Error {
        e.with_provider(self.target.provider.name())
            .with_model(&self.target.model)
    }
}

/// Reads the rest of a finished stream's body (bounded in time) so that its connection goes
/// back to the pool instead of being closed. Done inline when the end is already there.
fn drain(mut stream: ProviderStream, bound: Duration) {
    if let Some(None) = stream.next().now_or_never() {
        return;
    }
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let bound = bound.min(Duration::from_secs(5));
    handle.spawn(async move {
        let _ = tokio::time::timeout(bound, async { while stream.next().await.is_some() {} }).await;
    });
}
