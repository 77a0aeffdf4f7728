//! Fusion for Node: `client.fuse({ pool, judge, mode, messages | prompt, signal, ...options })`
//! (a Promise of a `FusionResult`) and `client.fuseStream({...})` (an async-iterable stream of
//! `FusionEvent`s). The options object goes to the core's `FuseRequest::from_values`, which takes
//! the camelCase names, validates and names a bad option; the core's `FusionResult` and
//! `FusionEvent` become plain JS objects here. An `AbortSignal` (or `break`) drops the core
//! future, which cancels every member and judge call still running.
use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use napi::bindgen_prelude::*;
use napi_derive::napi;
use serde::Serialize;
use serde_json::{Map, Value};

use polyfuse_core as core;
use polyfuse_core::fusion as cf;

use crate::client::Client;
use crate::convert::{self, attempt_to_js, usage_to_js, Attempt, Signal, Usage};
use crate::error;
use crate::options::describe;
use crate::signal::wait_cancelled;
use crate::stream::ChatStream;

/// One member's answer (in a debate, its latest).
#[napi(object)]
pub struct FusionCandidate {
    /// Its seat in the pool (0-based).
    pub index: u32,
    /// The label the judge saw (usable candidates only).
    pub label: Option<String>,
    /// The member as configured (a model or route).
    pub model: String,
    /// `provider/model` that answered (a route's target).
    pub answered_by: Option<String>,
    pub text: String,
    #[napi(ts_type = "'ok' | 'truncated' | 'failed' | 'cancelled'")]
    pub status: String,
    #[napi(ts_type = "ErrorKind")]
    pub error_kind: Option<String>,
    pub error: Option<String>,
    pub usage: Usage,
    pub latency_ms: f64,
    /// The id of its (latest) call, as in its usage events.
    pub request_id: Option<String>,
    /// The judge's score (best-of).
    pub score: Option<f64>,
    /// The final answer read out of its text (vote, a debate's vote).
    pub answer: Option<String>,
    /// The debate round of this answer (0: the first answers).
    pub round: u32,
}

/// One answer's share of a vote.
#[napi(object)]
pub struct VoteCount {
    /// The answer, normalized.
    pub answer: String,
    pub votes: u32,
    /// Votes over usable candidates.
    pub share: f64,
    pub labels: Vec<String>,
}

/// A vote: the answers counted (most votes first), the winner's share as confidence.
#[napi(object)]
pub struct VoteTally {
    pub answer: Option<String>,
    pub counts: Vec<VoteCount>,
    pub confidence: f64,
    pub tie: bool,
    pub abstained: Vec<String>,
}

/// Best-of's order-swapped second pass, under the first pass's labels.
#[napi(object)]
pub struct SwapCheck {
    pub winner: Option<String>,
    #[napi(ts_type = "Record<string, number>")]
    pub scores: Value,
    pub consistent: bool,
    #[napi(ts_type = "ParsePath")]
    pub parse_path: Option<String>,
}

/// One judge call: its raw output, or why it failed.
#[napi(object)]
pub struct JudgeCall {
    #[napi(
        ts_type = "'verdict' | 'swap' | 'repair' | 'analysis' | 'synthesis' | 'merge' | 'tie_break'"
    )]
    pub purpose: String,
    pub model: String,
    pub text: String,
    pub ok: bool,
    #[napi(ts_type = "ErrorKind")]
    pub error_kind: Option<String>,
    pub error: Option<String>,
    pub usage: Usage,
    pub latency_ms: f64,
}

/// One round of a debate.
#[napi(object)]
pub struct DebateRound {
    pub round: u32,
    pub candidates: Vec<FusionCandidate>,
}

/// The result of a fusion (`client.fuse()`, or `response.fusion` of a `fusion/<name>` call).
#[napi(object)]
pub struct FusionResult {
    /// The fusion's id: the `parentId` of its members' and judge's usage events.
    pub id: String,
    /// The config's name (`fusion/<name>`).
    pub name: Option<String>,
    #[napi(ts_type = "FusionMode")]
    pub mode: String,
    pub answer: String,
    #[napi(ts_type = "FinishReason")]
    pub finish_reason: String,
    /// The label of the candidate returned (best-of, vote, a fallback, agreement).
    pub winner: Option<String>,
    /// Scores by label (best-of).
    #[napi(ts_type = "Record<string, number>")]
    pub scores: Value,
    /// The judge's confidence (`high`, `medium`, `low`; best-of).
    pub confidence: Option<String>,
    pub rationale: Option<String>,
    /// A merge's analysis: the judge's JSON, or its text when it was not JSON.
    #[napi(ts_type = "unknown")]
    pub analysis: Option<Value>,
    /// Every member, in pool order.
    pub candidates: Vec<FusionCandidate>,
    /// A debate's rounds (round 0: the first answers).
    pub rounds: Vec<DebateRound>,
    /// Why a debate stopped before its last round (`agreement`, `no_change`, `too_few`).
    pub stopped_early: Option<String>,
    pub vote: Option<VoteTally>,
    pub swap: Option<SwapCheck>,
    pub judge_model: Option<String>,
    /// Every judge call, in order.
    pub judge: Vec<JudgeCall>,
    /// How the answer was reached.
    #[napi(ts_type = "ParsePath")]
    pub parse_path: String,
    /// The seed of the candidates' order: the same seed gives the same order.
    pub seed: f64,
    /// The seats (pool indices) in label order: `order[0]` was shown as A.
    pub order: Vec<u32>,
    /// Not a judged answer of a full panel: one usable answer, or a fallback for a failed judge.
    pub degraded: bool,
    pub warnings: Vec<String>,
    /// Every member's and judge's usage summed (`costUsd` absent when a part is unknown).
    pub usage: Usage,
    /// Model calls made (members, every round, and judges).
    pub calls: u32,
    pub latency_ms: f64,
    pub ttft_ms: Option<f64>,
    /// The fusion's calls as attempts (members then judges, in the order they ended).
    pub call_log: Vec<Attempt>,
}

/// One event of a streamed fusion. A successful one always ends with exactly one `final` event.
#[napi(discriminant = "type", discriminant_case = "snake_case")]
#[allow(clippy::large_enum_variant)] // short-lived; napi converts it by value
pub enum FusionEvent {
    /// The fusion started: its id, mode, members (one per seat) and the seed of the order.
    Started {
        id: String,
        #[napi(ts_type = "FusionMode")]
        mode: String,
        members: Vec<String>,
        seed: f64,
    },
    /// A member came back (answered, failed, or cancelled as a straggler).
    Member { candidate: FusionCandidate },
    /// A judge call starts.
    Judging { purpose: String, model: String },
    /// A piece of the final answer's text.
    TextDelta { text: String },
    /// The answer's text shown so far is void: discard it; the answer follows again.
    Restart { reason: String },
    /// The complete result.
    Final { result: FusionResult },
}

/// A core enum's wire name (`best-of`, `fenced_json`, `cancelled`): its serde string.
fn name_of(value: &impl Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(s)) => s,
        _ => String::new(),
    }
}

fn scores_to_js(scores: &std::collections::BTreeMap<String, f64>) -> Value {
    Value::Object(
        scores
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(*v)))
            .collect(),
    )
}

fn candidate_to_js(c: &cf::Candidate) -> FusionCandidate {
    FusionCandidate {
        index: c.index,
        label: c.label.clone(),
        model: c.model.clone(),
        answered_by: c.answered_by.clone(),
        text: c.text.clone(),
        status: name_of(&c.status),
        error_kind: c.error_kind.map(|k| k.as_str().to_string()),
        error: c.error.clone(),
        usage: usage_to_js(&c.usage),
        latency_ms: c.latency_ms,
        request_id: c.request_id.clone(),
        score: c.score,
        answer: c.answer.clone(),
        round: c.round,
    }
}

pub(crate) fn result_to_js(r: &core::FusionResult) -> FusionResult {
    FusionResult {
        id: r.id.clone(),
        name: r.name.clone(),
        mode: r.mode.as_str().to_string(),
        answer: r.answer.clone(),
        finish_reason: r.finish_reason.as_str().to_string(),
        winner: r.winner.clone(),
        scores: scores_to_js(&r.scores),
        confidence: r.confidence.clone(),
        rationale: r.rationale.clone(),
        analysis: r.analysis.clone(),
        candidates: r.candidates.iter().map(candidate_to_js).collect(),
        rounds: r
            .rounds
            .iter()
            .map(|d| DebateRound {
                round: d.round,
                candidates: d.candidates.iter().map(candidate_to_js).collect(),
            })
            .collect(),
        stopped_early: r.stopped_early.clone(),
        vote: r.vote.as_ref().map(|v| VoteTally {
            answer: v.answer.clone(),
            counts: v
                .counts
                .iter()
                .map(|c| VoteCount {
                    answer: c.answer.clone(),
                    votes: c.votes,
                    share: c.share,
                    labels: c.labels.clone(),
                })
                .collect(),
            confidence: v.confidence,
            tie: v.tie,
            abstained: v.abstained.clone(),
        }),
        swap: r.swap.as_ref().map(|s| SwapCheck {
            winner: s.winner.clone(),
            scores: scores_to_js(&s.scores),
            consistent: s.consistent,
            parse_path: s.parse_path.as_ref().map(name_of),
        }),
        judge_model: r.judge_model.clone(),
        judge: r
            .judge
            .iter()
            .map(|j| JudgeCall {
                purpose: name_of(&j.purpose),
                model: j.model.clone(),
                text: j.text.clone(),
                ok: j.ok,
                error_kind: j.error_kind.map(|k| k.as_str().to_string()),
                error: j.error.clone(),
                usage: usage_to_js(&j.usage),
                latency_ms: j.latency_ms,
            })
            .collect(),
        parse_path: name_of(&r.parse_path),
        // Seeds are at most 2^53 - 1 (the core's MAX_SEED): exact as a JS number.
        seed: r.seed as f64,
        order: r.order.clone(),
        degraded: r.degraded,
        warnings: r.warnings.clone(),
        usage: usage_to_js(&r.usage),
        calls: r.calls,
        latency_ms: r.latency_ms,
        ttft_ms: r.ttft_ms,
        call_log: r.call_log.iter().map(attempt_to_js).collect(),
    }
}

pub(crate) fn event_to_js(e: core::FusionEvent) -> FusionEvent {
    match e {
        core::FusionEvent::Started {
            id,
            mode,
            members,
            seed,
        } => FusionEvent::Started {
            id,
            mode: mode.as_str().to_string(),
            members,
            seed: seed as f64,
        },
        core::FusionEvent::Member { candidate } => FusionEvent::Member {
            candidate: candidate_to_js(&candidate),
        },
        core::FusionEvent::Judging { purpose, model } => FusionEvent::Judging {
            purpose: name_of(&purpose),
            model,
        },
        core::FusionEvent::TextDelta { text } => FusionEvent::TextDelta { text },
        core::FusionEvent::Restart { reason } => FusionEvent::Restart { reason },
        core::FusionEvent::Final { result } => FusionEvent::Final {
            result: result_to_js(&result),
        },
    }
}

fn invalid(message: String) -> core::Error {
    core::Error::invalid_request(message)
}

/// `{ messages | prompt, signal, ...options }` → the core's fusion request (the core checks the
/// options) and the signal.
fn fuse_args(
    env: &Env,
    method: &str,
    options: Option<Unknown>,
) -> std::result::Result<(core::FuseRequest, Option<Signal>), core::Error> {
    let usage = format!("`{method}({{ pool, judge, mode, messages | prompt, ...options }})`");
    let Some(options) = options else {
        return Err(invalid(format!(
            "{method}(): expected an options object: {usage}"
        )));
    };
    let ty = options.get_type().map_err(|e| invalid(e.reason))?;
    if ty != ValueType::Object || options.is_array().unwrap_or(false) {
        return Err(invalid(format!(
            "{method}(): expected an options object {usage}, got {}",
            describe(&options, ty)
        )));
    }
    let object: Object = unsafe { Object::from_napi_value(env.raw(), options.raw()) }
        .map_err(|e| invalid(e.reason))?;
    let keys = Object::keys(&object).map_err(|e| invalid(format!("options: {}", e.reason)))?;
    let (mut input, mut signal, mut rest) = (None, None, Map::new());
    for key in keys {
        let value: Unknown = object
            .get_named_property(&key)
            .map_err(|e| invalid(format!("option `{key}`: {}", e.reason)))?;
        let ty = value
            .get_type()
            .map_err(|e| invalid(format!("option `{key}`: {}", e.reason)))?;
        if ty == ValueType::Undefined {
            continue;
        }
        match key.as_str() {
            "messages" | "prompt" => {
                if input.is_some() {
                    return Err(invalid(
                        "options `messages` and `prompt`: pass one of them, not both".to_string(),
                    ));
                }
                input = Some(convert::json(env, value, &key)?);
            }
            "signal" => signal = Signal::read(env, Some(value), "option `signal`")?,
            _ => {
                rest.insert(key.clone(), convert::json(env, value, &key)?);
            }
        }
    }
    let Some(input) = input else {
        return Err(invalid(format!(
            "{method}(): pass `messages` (a list of chat messages) or `prompt` (a string): {usage}"
        )));
    };
    Ok((
        core::FuseRequest::from_values(input, Value::Object(rest))?,
        signal,
    ))
}

#[napi]
impl Client {
    /// Runs one prompt through `pool` in parallel, then one answer (`mode`: `merge` by default,
    /// `best-of`, `debate` or `vote`). Rejects with a `PolyfuseError` (kind `cancelled` when
    /// `signal` aborts it, which cancels every member and judge call still running).
    #[napi(
        catch_unwind,
        ts_args_type = "options: FuseOptions",
        ts_return_type = "Promise<FusionResult>"
    )]
    pub fn fuse<'env>(
        &self,
        env: &'env Env,
        options: Option<Unknown>,
    ) -> Result<PromiseRaw<'env, FusionResult>> {
        let client = self.inner.clone();
        // The signal stays on the JS thread; the future gets the fusion and a watch receiver.
        let (req, aborted, signal) = match fuse_args(env, "fuse", options) {
            Ok((req, signal)) => {
                let aborted = signal.as_ref().is_some_and(|s| s.aborted);
                (Ok(req), aborted, signal)
            }
            Err(e) => (Err(e), false, None),
        };
        let cancelled = signal.as_ref().map(|s| s.fired.clone());
        let fut = async move {
            let req = req?;
            if aborted {
                return Err(error::cancelled("fusion"));
            }
            let run = AssertUnwindSafe(client.fuse(req)).catch_unwind();
            let result = match cancelled {
                Some(rx) => tokio::select! {
                    r = run => r,
                    _ = wait_cancelled(rx) => return Err(error::cancelled("fusion")),
                },
                None => run.await,
            };
            match result {
                Ok(r) => r.map(|r| result_to_js(&r)),
                Err(_) => Err(error::panicked("fuse")),
            }
        };
        env.spawn_future_with_callback(fut.map(Ok::<_, napi::Error>), move |env, result| {
            // Settled: the abort listener comes off the signal.
            if let Some(signal) = signal {
                signal.settle(env);
            }
            result.map_err(|e| error::to_js_error(env, e))
        })
    }

    /// A streamed fusion: `for await (const event of client.fuseStream({...}))` gives `started`,
    /// a `member` per member, `judging` per judge call, the answer's `text_delta`s, then `final`
    /// with the result. Lazy; `break` or `signal` cancels every call still running.
    #[napi(
        catch_unwind,
        ts_args_type = "options: FuseOptions",
        ts_return_type = "FusionStream"
    )]
    pub fn fuse_stream(&self, env: &Env, options: Option<Unknown>) -> ChatStream {
        match fuse_args(env, "fuseStream", options) {
            Ok((req, signal)) => {
                if signal.as_ref().is_some_and(|s| s.aborted) {
                    return ChatStream::failed(error::cancelled("fusion"));
                }
                ChatStream::fusion(self.inner.fuse_stream(req), signal)
            }
            Err(e) => ChatStream::failed(e),
        }
    }
}
