//! The panel: every seat's call started at once as an ordinary call of the engine (its own
//! retries, fallbacks and deadlines; its usage events carry the fusion's id), collected until all
//! are back, or until a quorum of usable answers is in and the grace timer ran out, or until the
//! phase's hard deadline. Then the stragglers are cancelled: their futures are dropped, which
//! closes their connections and records their calls as cancelled.
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::time::Instant;

use crate::call::{CallContext, Client};
use crate::types::error::Result;
use crate::types::request::Request;
use crate::types::response::{FinishReason, Response};

/// The longest grace when none is configured (the grace is then as long as the quorum took).
pub const DEFAULT_GRACE_CAP: Duration = Duration::from_secs(5);

/// When the panel stops waiting.
#[derive(Clone, Copy, Debug)]
pub struct Rules {
    /// Usable answers after which the grace timer starts.
    pub quorum: usize,
    /// Fixed grace, or `None`: as long as the quorum took, at most [`DEFAULT_GRACE_CAP`].
    pub grace: Option<Duration>,
    /// The phase's hard deadline.
    pub deadline: Option<Instant>,
}

/// One seat's call.
pub struct Seat {
    /// Its position in the pool.
    pub index: usize,
    pub model: String,
    pub req: Request,
}

/// How a seat's call ended.
pub enum Outcome {
    Answered(Box<Response>),
    Failed(crate::types::error::Error),
    /// Still running when the panel stopped waiting: cancelled.
    Cancelled,
}

/// A seat back from the panel.
pub struct Returned {
    pub index: usize,
    pub model: String,
    pub outcome: Outcome,
    pub latency: Duration,
}

/// A usable answer: non-empty text (a truncated one included).
pub fn usable(r: &Response) -> bool {
    !r.text.trim().is_empty()
}

/// Whether an answer was cut at the token limit.
pub fn truncated(r: &Response) -> bool {
    r.finish_reason == FinishReason::Length
}

type Call = BoxFuture<'static, (usize, Result<Response>, Duration)>;

/// Runs the seats' calls under `rules`; `on_return` sees each seat as it comes back (the
/// cancelled ones last). Returns every seat, in the order they came back.
pub async fn convene(
    client: &Client,
    seats: Vec<Seat>,
    ctx: &CallContext,
    rules: Rules,
    on_return: &mut (dyn FnMut(&Returned) + Send),
) -> Vec<Returned> {
    let started = Instant::now();
    let mut models: Vec<Option<String>> = Vec::new();
    let mut running: FuturesUnordered<Call> = FuturesUnordered::new();
    for seat in seats {
        if models.len() <= seat.index {
            models.resize(seat.index + 1, None);
        }
        models[seat.index] = Some(seat.model);
        let (client, ctx, index) = (client.clone(), ctx.clone(), seat.index);
        let req = seat.req;
        running.push(Box::pin(async move {
            let t = Instant::now();
            let r = client.complete_call(req, ctx).await;
            (index, r, t.elapsed())
        }));
    }
    let mut back: Vec<Returned> = Vec::with_capacity(running.len());
    let mut usable_count = 0usize;
    let mut grace_until: Option<Instant> = None;
    let far = started + Duration::from_secs(365 * 24 * 3600);
    while !running.is_empty() {
        let grace_at = grace_until.unwrap_or(far);
        let deadline_at = rules.deadline.unwrap_or(far);
        tokio::select! {
            Some((index, result, latency)) = running.next() => {
                let model = models.get_mut(index).and_then(Option::take).unwrap_or_default();
                let outcome = match result {
                    Ok(r) => {
                        if usable(&r) {
                            usable_count += 1;
                        }
                        Outcome::Answered(Box::new(r))
                    }
                    Err(e) => Outcome::Failed(e),
                };
                let returned = Returned { index, model, outcome, latency };
                on_return(&returned);
                back.push(returned);
                if grace_until.is_none() && usable_count >= rules.quorum && !running.is_empty() {
                    let waited = started.elapsed();
                    let grace = rules.grace.unwrap_or_else(|| waited.min(DEFAULT_GRACE_CAP));
                    grace_until = Some(Instant::now() + grace);
                }
            }
            _ = tokio::time::sleep_until(grace_at), if grace_until.is_some() => break,
            _ = tokio::time::sleep_until(deadline_at), if rules.deadline.is_some() => break,
        }
    }
    // The stragglers: dropping their futures cancels their calls and closes their connections.
    drop(running);
    let waited = started.elapsed();
    for (index, model) in models.into_iter().enumerate() {
        if let Some(model) = model {
            let returned = Returned {
                index,
                model,
                outcome: Outcome::Cancelled,
                latency: waited,
            };
            on_return(&returned);
            back.push(returned);
        }
    }
    back
}
