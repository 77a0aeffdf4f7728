//! Fusion: one prompt through a pool of models in parallel, then one answer. Each member and each
//! judge call is an ordinary call of the engine (its own retries, fallbacks, deadlines and usage
//! events, parented to the fusion); the fusion adds the quorum and deadline rules, the judge's
//! hygiene and parsing, the non-LLM fallback, its own total usage event, and honest reporting of
//! how the answer was reached.
//!
//! Entry points: [`Client::fuse`] and [`Client::fuse_stream`], and the model string
//! `fusion/<name>` (a `fusions.<name>` entry of the config) in `complete` and `stream`.
//!
//! One concept per file:
//! - `spec`: the fusion's options (also the config's `fusions.<name>`), the request, validation;
//! - `panel`: members in parallel under quorum, grace and the phase deadline; stragglers cancelled;
//! - `labels`: anonymization (A, B, C) in an order shuffled from the recorded seed;
//! - `prompts`: the judge's and the debaters' prompts (candidates wrapped as untrusted data);
//! - `parse`: reading the judge (tolerant JSON, label validation, textual patterns, the marker);
//! - `extract`: final answers out of a candidate's text, and their normalization;
//! - `tally`: votes, agreement, and the non-LLM fallback;
//! - `best_of`, `merge`, `debate`, `vote`: the modes;
//! - `run`: one fusion in progress (the shared steps, the judge's calls, the result);
//! - `record`: the fusion's id, its calls, its usage event;
//! - `result`: what a fusion returns;
//! - `stream`: streamed fusions (events, and the stream that drives a fusion).
use crate::call::{CallContext, Client};
use crate::types::error::{Error, Result};
use crate::types::request::Request;
use crate::types::response::Response;
use crate::types::stream::EventStream;

mod best_of;
mod debate;
mod extract;
mod labels;
mod merge;
mod panel;
mod parse;
mod prompts;
mod record;
mod result;
mod run;
mod spec;
mod stream;
mod tally;
mod vote;

pub use extract::Extractor;
pub use result::{
    Candidate, CandidateStatus, DebateRound, FusionResult, JudgeCall, JudgePurpose, ParsePath,
    SwapCheck, VoteCount, VoteTally,
};
pub(crate) use spec::check_named;
pub use spec::{
    Finalize, FuseRequest, FusionSpec, Fusions, Mode, PhaseDeadlines, Pool, MAX_MEMBERS,
    MAX_ROUNDS, MAX_SEED, OPTION_KEYS, SELF_FUSION_TEMPERATURE,
};
pub use stream::{FusionEvent, FusionStream};

/// The name in a `fusion/<name>` model string.
pub fn named(model: &str) -> Option<&str> {
    model.strip_prefix("fusion/")
}

impl Client {
    /// Runs a fusion: the pool's members in parallel, then the mode's way to one answer. Each
    /// member and judge call is an ordinary call (its usage events carry the fusion's id as
    /// `parent_id`); the fusion then emits its own usage event (level `fusion`) with the total.
    /// Dropping the future cancels every call still running (their connections are closed).
    pub async fn fuse(&self, req: FuseRequest) -> Result<FusionResult> {
        run::fuse(
            self.clone(),
            req,
            CallContext::default(),
            stream::Emitter::default(),
        )
        .await
    }

    /// A streamed fusion: the start, each member as it comes back, each judge call, the final
    /// answer's text as it is produced, then `Final` with the result. Lazy: nothing is sent until
    /// the stream is polled; dropping it cancels every call still running.
    pub fn fuse_stream(&self, req: FuseRequest) -> FusionStream {
        let client = self.clone();
        stream::driven(move |out| run::fuse(client, req, CallContext::default(), out))
    }
}

/// The fusion `req.model` (`fusion/<name>`) names, with the call's messages and parameters (its
/// `seed` is the candidates' order, not sent to the members).
fn named_request(client: &Client, req: Request) -> Result<FuseRequest> {
    let name = named(&req.model).unwrap_or_default().to_string();
    let Some(spec) = client.fusions().get(&name) else {
        let known = client.fusions().names();
        return Err(Error::config(format!(
            "model `{}`: no fusion named `{name}` in the config ({})",
            req.model,
            if known.is_empty() {
                "add one under `fusions`".to_string()
            } else {
                format!("configured: {}", known.join(", "))
            }
        )));
    };
    let mut spec = spec.clone();
    let mut params = req.params;
    if let Some(seed) = params.seed.take() {
        spec.seed = Some(u64::try_from(seed).map_err(|_| {
            Error::invalid_request(format!(
                "parameter `seed` of `{}`: the candidates' order seed must be 0 or more, got {seed}",
                req.model
            ))
        })?);
        spec.check(&|k| format!("parameter `{k}`"))?;
    }
    Ok(FuseRequest {
        messages: req.messages,
        spec,
        params,
        name: Some(name),
    })
}

/// `complete("fusion/<name>")`: the fusion's Response (the whole result under `fusion`).
pub(crate) async fn complete_named(
    client: &Client,
    req: Request,
    ctx: CallContext,
) -> Result<Response> {
    let req = named_request(client, req)?;
    run::fuse(client.clone(), req, ctx, stream::Emitter::default())
        .await
        .map(FusionResult::into_response)
}

/// `stream("fusion/<name>")`: the answer's text as it is produced, then `Final` with the
/// fusion's Response.
pub(crate) fn stream_named(client: &Client, req: Request, ctx: CallContext) -> EventStream {
    let req = match named_request(client, req) {
        Ok(r) => r,
        Err(e) => return Box::pin(futures_util::stream::once(async move { Err(e) })),
    };
    let client = client.clone();
    stream::as_call_stream(stream::driven(move |out| run::fuse(client, req, ctx, out)))
}
