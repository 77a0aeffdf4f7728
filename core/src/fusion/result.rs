//! What a fusion returns ([`FusionResult`]): the answer, the mode, the winner and scores where
//! the mode has them, the judge's rationale, analysis and raw outputs with the parse path taken,
//! every candidate (label, model, text, status, usage, latency), the shuffle seed, the degraded
//! flag, total usage, cost and latency; and the same as a [`Response`] for `fusion/<name>`.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::spec::Mode;
use crate::types::error::ErrorKind;
use crate::types::message::{Message, Role};
use crate::types::response::{Attempt, FinishReason, Response};
use crate::usage::Usage;

/// How a member's call ended, as the fusion sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CandidateStatus {
    /// A usable answer.
    Ok,
    /// A usable answer cut at the token limit (`finish_reason` = length).
    Truncated,
    /// The call failed (after its own retries and fallbacks), or answered with no text.
    Failed,
    /// Cancelled by the fusion: a straggler after quorum and grace, or at the phase deadline.
    Cancelled,
}

impl CandidateStatus {
    pub fn usable(self) -> bool {
        matches!(self, CandidateStatus::Ok | CandidateStatus::Truncated)
    }
}

/// How the fusion reached its answer: which judge output was read and how, or why no judge
/// was needed, or which fallback stood in for a judge that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParsePath {
    /// The judge's last balanced JSON object.
    Json,
    /// A fenced block of the judge's output.
    FencedJson,
    /// The JSON of the one repair call (the first output could not be read).
    Repair,
    /// A textual pattern (`[[B]]`, "Response B", "winner: B").
    Pattern,
    /// A one-call merge: what follows `FINAL ANSWER:`.
    Marker,
    /// A one-call merge without the marker: the whole output.
    NoMarker,
    /// A two-step merge whose analysis was not JSON: the synthesis read it as text.
    Raw,
    /// The usable answers agreed: no judge.
    Agreement,
    /// One usable answer: returned as is (degraded), no judge.
    Single,
    /// A plurality of extracted answers: no judge.
    Vote,
    /// The judge failed: a plurality of extracted answers stood in.
    FallbackVote,
    /// The judge failed: the candidate most similar to the others.
    FallbackSimilarity,
    /// The judge failed: the first usable member of the pool.
    FallbackPrimary,
}

/// One member's answer (in a debate, its latest).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// Its seat in the pool (0-based).
    pub index: u32,
    /// The label the judge saw (usable candidates only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The member as configured (a model or route).
    pub model: String,
    /// `provider/model` that answered (a route's target).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_by: Option<String>,
    pub text: String,
    pub status: CandidateStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<ErrorKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Its calls' usage and cost (every debate round summed); unknown for a cancelled call.
    pub usage: Usage,
    pub latency_ms: f64,
    /// The id of its (latest) call, as in its usage events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The judge's score (best-of).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// The final answer read out of its text (vote, a debate's vote).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    /// The debate round of this answer (0: the first answers).
    #[serde(default)]
    pub round: u32,
    #[serde(skip)]
    pub(crate) finish_reason: Option<FinishReason>,
}

/// One answer's share of a vote.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VoteCount {
    /// The answer, normalized.
    pub answer: String,
    pub votes: u32,
    /// Votes over usable candidates.
    pub share: f64,
    pub labels: Vec<String>,
}

/// A vote: the answers counted, the winner's share as confidence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VoteTally {
    /// The winning answer as its first candidate wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    /// Most votes first.
    pub counts: Vec<VoteCount>,
    /// The winner's share of the usable candidates (0 when nothing won).
    pub confidence: f64,
    /// No single answer had the most votes (the judge or a fallback decided).
    pub tie: bool,
    /// Candidates with no answer to count.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub abstained: Vec<String>,
}

/// Best-of's order-swapped second pass.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SwapCheck {
    /// Its winner, under the first pass's labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub winner: Option<String>,
    /// Its scores, under the first pass's labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub scores: BTreeMap<String, f64>,
    /// Both passes chose the same candidate.
    pub consistent: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parse_path: Option<ParsePath>,
}

/// What a judge call was for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JudgePurpose {
    /// Best-of's scored verdict.
    Verdict,
    /// Best-of's order-swapped pass.
    Swap,
    /// The one repair call after an unreadable verdict.
    Repair,
    /// A two-step merge's analysis.
    Analysis,
    /// A two-step merge's final answer.
    Synthesis,
    /// A one-call merge (analysis, then the answer after `FINAL ANSWER:`).
    Merge,
    /// A vote's tie-break.
    TieBreak,
}

/// One judge call: its raw output, or why it failed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JudgeCall {
    pub purpose: JudgePurpose,
    pub model: String,
    /// The raw output (what streamed so far, when a streamed call failed).
    pub text: String,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<ErrorKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub usage: Usage,
    pub latency_ms: f64,
}

/// One round of a debate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DebateRound {
    pub round: u32,
    pub candidates: Vec<Candidate>,
}

/// The result of a fusion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FusionResult {
    /// The fusion's id: the `parent_id` of its members' and judge's usage events.
    pub id: String,
    /// The config's name (`fusion/<name>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub mode: Mode,
    pub answer: String,
    /// Why the answer's text ended (the winner's, or the judge's for a merge).
    pub finish_reason: FinishReason,
    /// The label of the candidate returned (best-of, vote, a fallback, agreement).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub winner: Option<String>,
    /// Scores by label (best-of).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub scores: BTreeMap<String, f64>,
    /// The judge's confidence (`high`, `medium`, `low`; best-of).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rationale: Option<String>,
    /// A merge's analysis: the judge's JSON, or its text when it was not JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<Value>,
    /// Every member, in pool order.
    pub candidates: Vec<Candidate>,
    /// A debate's rounds (round 0: the first answers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rounds: Vec<DebateRound>,
    /// Why a debate stopped before its last round (`agreement`, `no_change`, `too_few`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_early: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vote: Option<VoteTally>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swap: Option<SwapCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge_model: Option<String>,
    /// Every judge call, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub judge: Vec<JudgeCall>,
    pub parse_path: ParsePath,
    /// The seed of the candidates' order: the same seed gives the same order.
    pub seed: u64,
    /// The seats (pool indices) in label order: `order[0]` was shown as A.
    pub order: Vec<u32>,
    /// Not a judged answer of a full panel: one usable answer, or a fallback for a failed judge.
    pub degraded: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Every member's and judge's usage summed; the cost is unknown (`null`) when a part is.
    pub usage: Usage,
    /// Model calls made (members, every round, and judges).
    pub calls: u32,
    pub latency_ms: f64,
    /// Time to the answer's first text (streamed fusions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<f64>,
    /// The fusion's calls as attempts (members then judges, in the order they ended).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub call_log: Vec<Attempt>,
}

impl FusionResult {
    /// The candidate returned, if one was.
    pub fn winner_candidate(&self) -> Option<&Candidate> {
        let w = self.winner.as_deref()?;
        self.candidates
            .iter()
            .find(|c| c.label.as_deref() == Some(w))
    }

    /// The fusion as the Response of a `fusion/<name>` call: the answer as an assistant message,
    /// total usage, the calls as attempts, and the whole result under `fusion`.
    pub fn into_response(self) -> Response {
        Response {
            id: self.id.clone(),
            provider_response_id: None,
            text: self.answer.clone(),
            message: Message::new(Role::Assistant, self.answer.clone()),
            finish_reason: self.finish_reason.clone(),
            usage: self.usage.clone(),
            model: match &self.name {
                Some(n) => format!("fusion/{n}"),
                None => "fusion".to_string(),
            },
            provider: "fusion".to_string(),
            provider_model: self.winner_candidate().and_then(|c| c.answered_by.clone()),
            route: None,
            latency_ms: self.latency_ms,
            ttft_ms: self.ttft_ms,
            attempts: self.call_log.clone(),
            reasoning: None,
            raw: None,
            fusion: Some(Box::new(self)),
        }
    }
}
