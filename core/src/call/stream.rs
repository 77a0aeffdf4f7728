//! `Client::stream`: one streamed call with mid-stream failover (restart or continue), and the
//! hedge race that opens a stream.
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use super::record::CallRecord;
use super::{deadline_error, Client};
use crate::config::Midstream;
use crate::providers::{CallOptions, ProviderEvent, ProviderStream};
use crate::routing::balance::Measure;
use crate::routing::plan::Target;
use crate::routing::run::RouteRun;
use crate::types::error::{Error, ErrorKind, Result};
use crate::types::message::{Content, Message, Role};
use crate::types::request::Request;
use crate::types::response::Outcome;
use crate::types::stream::{EventStream, StreamEvent};
use crate::usage::Usage;

impl Client {
    /// One streaming call. Lazy: nothing is sent until the stream is polled. A target that fails
    /// (before or after its first token) hands over to the next attempt; when the consumer had
    /// already seen output, a `Restart` event comes first. Dropping the stream cancels the request
    /// (the connection is closed) and records the call as cancelled.
    pub fn stream(&self, req: Request) -> EventStream {
        let client = self.clone();
        Box::pin(async_stream::stream! {
            let mut call = CallRecord::new(&client.inner, &req, true);
            let plan = match client.plan(&req.model, Measure::FirstToken) {
                Ok(p) => p,
                Err(e) => { yield Err(call.fail(e)); return; }
            };
            call.route = plan.route.clone();
            let policy = &client.inner.policy;
            let opts = client.options();
            let ttft_limit = Duration::from_millis(policy.first_token_timeout_ms);
            let attempt_limit = Duration::from_millis(policy.attempt_timeout_ms);
            let mut run = RouteRun::new(&plan, policy, &client.inner.breakers, client.total_budget(&req));
            // What the consumer was shown since the last restart. When an attempt fails after
            // output, the next one either continues it by prefill or restarts (a Restart event
            // comes before its first output).
            let mut shown = String::new();
            let mut shown_tools = false;
            let mut last_failure = String::new();
            let mut prefill_rejected = false;
            let mut first = true;
            while let Some(target) = run.next_target().await {
                let prefill = (policy.midstream == Midstream::Continue
                    && !prefill_rejected
                    && !shown_tools
                    && !shown.trim().is_empty()
                    && target.provider.supports_prefill())
                    .then(|| shown.trim_end().to_string());
                let mut restart_pending = (!shown.is_empty() || shown_tools) && prefill.is_none();
                let continued_req = prefill.as_ref().map(|p| {
                    let mut r = req.clone();
                    r.messages.push(Message::new(Role::Assistant, p.clone()));
                    r
                });
                let attempt_req = continued_req.as_ref().unwrap_or(&req);
                let started = Instant::now();
                let first_token_by = tokio::time::Instant::now() + run.remaining().min(ttft_limit);
                let attempt_by = tokio::time::Instant::now() + run.remaining().min(attempt_limit);
                let hedge = match (first, plan.hedge_delay, run.peek_fallback()) {
                    (true, Some(delay), Some(backup)) => Some((delay, backup)),
                    _ => None,
                };
                first = false;
                // Open the stream; a hedged first attempt races a backup for the first event.
                let (target, opened) = match hedge {
                    None => {
                        let opened = match tokio::time::timeout_at(first_token_by, target.provider.stream(&target.name, attempt_req, &opts)).await {
                            Ok(Ok(s)) => Ok((s, None)),
                            Ok(Err(e)) => Err(e),
                            Err(_) => Err(deadline_error(ttft_limit.min(run.remaining()), target, "the first token")),
                        };
                        (target, opened)
                    }
                    Some((delay, backup)) => client.open_hedged(target, backup, delay, &req, &opts, first_token_by, &mut call).await,
                };
                let mut ttft: Option<Duration> = None;
                let in_flight = client.inner.balancer.start(&target.model);
                let failure: Error = 'attempt: {
                    let (mut events, mut pending) = match opened {
                        Ok(o) => o,
                        Err(e) => break 'attempt e,
                    };
                    loop {
                        let by = if ttft.is_none() { first_token_by } else { attempt_by };
                        let next = match pending.take() {
                            Some(first_item) => first_item,
                            None => match tokio::time::timeout_at(by, events.next()).await {
                                Ok(n) => n,
                                Err(_) if ttft.is_none() => break 'attempt deadline_error(ttft_limit.min(run.remaining()), target, "the first token"),
                                Err(_) => break 'attempt deadline_error(attempt_limit.min(run.remaining()), target, "the attempt"),
                            },
                        };
                        let event = match next {
                            Some(Ok(ProviderEvent::Done(mut completion))) => {
                                run.succeeded(target);
                                call.ttft = ttft;
                                call.attempt(target, Outcome::Ok, None, started, ttft, completion.usage.clone());
                                if let Some(p) = &prefill {
                                    // The answer continues the prefill: the response holds both.
                                    let rest = completion.message.text();
                                    completion.message.content = Some(Content::Text(format!("{p}{rest}")));
                                }
                                if restart_pending {
                                    yield Ok(restart_event(target, &last_failure));
                                }
                                let response = call.succeed(*completion, &req, target);
                                yield Ok(StreamEvent::Final { response: Box::new(response) });
                                return;
                            }
                            Some(Ok(ProviderEvent::TextDelta(text))) => StreamEvent::TextDelta { text },
                            Some(Ok(ProviderEvent::ReasoningDelta(text))) => StreamEvent::ReasoningDelta { text },
                            Some(Ok(ProviderEvent::ToolCallDelta { index, id, name, arguments })) => {
                                StreamEvent::ToolCallDelta { index, id, name, arguments }
                            }
                            Some(Err(e)) => break 'attempt e,
                            None => break 'attempt Error::new(ErrorKind::Connection, "the provider stream ended before the response was complete")
                                .with_provider(target.provider.name()).with_model(&target.model),
                        };
                        if ttft.is_none() {
                            ttft = Some(started.elapsed());
                            client.inner.balancer.observe(&target.model, Measure::FirstToken, started.elapsed());
                            if call.ttft.is_none() { call.ttft = ttft; }
                        }
                        if restart_pending {
                            restart_pending = false;
                            shown.clear();
                            shown_tools = false;
                            yield Ok(restart_event(target, &last_failure));
                        }
                        match &event {
                            StreamEvent::TextDelta { text } => shown.push_str(text),
                            StreamEvent::ToolCallDelta { .. } => shown_tools = true,
                            _ => {}
                        }
                        yield Ok(event);
                    }
                };
                drop(in_flight);
                call.attempt(target, Outcome::Error, Some(&failure), started, ttft, Usage::default());
                if ttft.is_some() {
                    last_failure = format!("{} failed mid-stream: {}", target.model, failure.message);
                }
                if prefill.is_some() && ttft.is_none() && failure.kind == ErrorKind::InvalidRequest {
                    // The target rejected the continuation: restart elsewhere, and never let this
                    // rejection stand for the original failure.
                    prefill_rejected = true;
                    run.skip(failure);
                    continue;
                }
                run.failed(target, failure, ttft.is_none()).await;
            }
            yield Err(call.fail(run.into_error()));
        })
    }
}

/// A stream opened, with its first item already read when a hedge race read it.
type Opened = Result<(ProviderStream, Option<Option<Result<ProviderEvent>>>)>;

impl Client {
    /// Opens `primary`'s stream; when no first event arrived after `delay`, opens `backup` too.
    /// The first to deliver an event wins; the other is dropped (connection closed) and recorded
    /// as cancelled. A failed opener leaves the race to the other.
    #[allow(clippy::too_many_arguments)]
    async fn open_hedged<'t>(
        &self,
        primary: &'t Target,
        backup: &'t Target,
        delay: Duration,
        req: &Request,
        opts: &CallOptions,
        by: tokio::time::Instant,
        call: &mut CallRecord,
    ) -> (&'t Target, Opened) {
        let ttft_limit = by.saturating_duration_since(tokio::time::Instant::now());
        let open = |t: &'t Target| async move {
            let started = Instant::now();
            let r = match tokio::time::timeout_at(by, async {
                let mut s = t.provider.stream(&t.name, req, opts).await?;
                let first = s.next().await;
                Ok::<_, Error>((s, Some(first)))
            })
            .await
            {
                Ok(r) => r,
                Err(_) => Err(deadline_error(ttft_limit, t, "the first token")),
            };
            (r, started)
        };
        let mut a = Box::pin(open(primary));
        tokio::select! {
            (r, _) = &mut a => return (primary, r),
            _ = tokio::time::sleep(delay) => {}
        }
        let mut b = Box::pin(open(backup));
        let (winner, loser, r, st) = tokio::select! {
            (r, st) = &mut a => (primary, backup, r, st),
            (r, st) = &mut b => (backup, primary, r, st),
        };
        if r.is_ok() {
            drop(a);
            drop(b);
            call.attempt(
                loser,
                Outcome::Cancelled,
                Some(&Error::cancelled()),
                st,
                None,
                Usage::default(),
            );
            return (winner, r);
        }
        let failed = r.err().unwrap_or_else(Error::cancelled);
        call.attempt(
            winner,
            Outcome::Error,
            Some(&failed),
            st,
            None,
            Usage::default(),
        );
        let (r2, _) = if std::ptr::eq(winner, primary) {
            b.await
        } else {
            a.await
        };
        (loser, r2)
    }
}

fn restart_event(target: &Target, reason: &str) -> StreamEvent {
    StreamEvent::Restart {
        model: target.model.clone(),
        provider: target.provider.name().to_string(),
        reason: reason.to_string(),
    }
}
