//! One fusion in progress ([`FusionRun`]): the panel (members as ordinary calls under the quorum,
//! grace and deadline rules, their usage events parented to the fusion), the steps every mode
//! shares (no usable answer → an error naming each member's failure; one → returned degraded;
//! agreement → no judge; labels for the rest), the judge's calls (temperature 0, under the judge
//! phase's deadline, streamed when the fusion is), the non-LLM fallback, and the result.
use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;
use tokio::time::Instant;

use super::labels::{self, Lineup};
use super::panel::{self, Outcome as SeatOutcome, Returned, Rules, Seat};
use super::parse::MarkerScanner;
use super::record::{ms, Ended, FusionRecord};
use super::result::{
    Candidate, CandidateStatus, DebateRound, FusionResult, JudgeCall, JudgePurpose, ParsePath,
    SwapCheck, VoteTally,
};
use super::spec::{resolve_models, FuseRequest, FusionSpec, Mode, Pool, MAX_SEED};
use super::stream::{Emitter, FusionEvent};
use super::{best_of, debate, merge, tally, vote};
use crate::call::{CallContext, Client};
use crate::types::error::{Error, ErrorKind, Result};
use crate::types::message::Message;
use crate::types::request::{Params, Request};
use crate::types::response::{FinishReason, Outcome, Response};
use crate::types::stream::StreamEvent;

/// How the fusion reached its answer.
#[derive(Clone, Debug)]
pub(crate) struct Decision {
    pub answer: String,
    pub finish_reason: FinishReason,
    /// The candidate returned (an index into the candidates), if one was.
    pub winner: Option<usize>,
    pub path: ParsePath,
    pub scores: BTreeMap<String, f64>,
    pub confidence: Option<String>,
    pub rationale: Option<String>,
    pub analysis: Option<Value>,
    pub vote: Option<VoteTally>,
    pub swap: Option<SwapCheck>,
    pub degraded: bool,
}

impl Decision {
    fn new(answer: String, finish_reason: FinishReason, path: ParsePath) -> Decision {
        Decision {
            answer,
            finish_reason,
            winner: None,
            path,
            scores: BTreeMap::new(),
            confidence: None,
            rationale: None,
            analysis: None,
            vote: None,
            swap: None,
            degraded: false,
        }
    }

    /// Candidate `i` returned verbatim.
    pub fn pick(cands: &[Candidate], i: usize, path: ParsePath) -> Decision {
        let c = &cands[i];
        let fr = c.finish_reason.clone().unwrap_or(FinishReason::Stop);
        Decision {
            winner: Some(i),
            ..Decision::new(c.text.clone(), fr, path)
        }
    }

    /// A text the judge wrote.
    pub fn written(answer: String, finish_reason: FinishReason, path: ParsePath) -> Decision {
        Decision::new(answer, finish_reason, path)
    }
}

/// What the shared steps leave to the mode.
pub(crate) enum Triage {
    /// Decided without a judge (one usable answer, or agreement).
    Decided(Box<Decision>),
    /// The usable candidates, labelled, for the judge.
    Judge(Lineup),
}

/// One fusion in progress.
pub(crate) struct FusionRun {
    pub client: Client,
    pub spec: FusionSpec,
    pub messages: Vec<Message>,
    pub params: Params,
    name: Option<String>,
    pub out: Emitter,
    record: FusionRecord,
    /// The context of the fusion's own calls (their parent is the fusion).
    ctx: CallContext,
    pub seed: u64,
    pub warnings: Vec<String>,
    judge_calls: Vec<JudgeCall>,
    judge_by: Option<Instant>,
    /// Answer text was shown (streamed) and not withdrawn.
    shown: bool,
    pub rounds: Vec<DebateRound>,
    pub stopped_early: Option<String>,
}

/// Runs a fusion: checks it, then carries out its mode. `ctx` is the caller's (a fusion called
/// as `fusion/<name>` inside another operation); `out` receives the events of a streamed fusion.
pub(crate) async fn fuse(
    client: Client,
    req: FuseRequest,
    ctx: CallContext,
    out: Emitter,
) -> Result<FusionResult> {
    let key = |k: &str| format!("option `{k}`");
    req.spec.check(&key)?;
    resolve_models(&req.spec, &|m| client.check_model(m), &key)?;
    let mut run = FusionRun::new(client, req, ctx, out);
    run.out.emit(FusionEvent::Started {
        id: run.record.id.clone(),
        mode: run.spec.mode,
        members: run.spec.pool.seats(),
        seed: run.seed,
    });
    if run.spec.mode == Mode::Debate {
        return debate::run(run).await;
    }
    let seats = run.seats();
    let mut cands = run.panel(seats, 0).await;
    let lineup = match run.triage(&mut cands) {
        Ok(Triage::Judge(l)) => l,
        Ok(Triage::Decided(d)) => return Ok(run.finish(cands, None, *d)),
        Err(e) => return Err(run.fail(e)),
    };
    let decision = match run.spec.mode {
        Mode::BestOf => best_of::decide(&mut run, &cands, &lineup).await,
        Mode::Merge => merge::decide(&mut run, &cands, &lineup).await,
        Mode::Vote | Mode::Debate => vote::decide(&mut run, &mut cands, &lineup).await,
    };
    Ok(run.finish(cands, Some(&lineup), decision))
}

impl FusionRun {
    fn new(client: Client, req: FuseRequest, ctx: CallContext, out: Emitter) -> FusionRun {
        let record = FusionRecord::new(
            &client,
            req.name.as_deref(),
            ctx.parent_id.clone(),
            &req.params,
            out.streaming(),
        );
        let seed = req.spec.seed.unwrap_or_else(|| fastrand::u64(..=MAX_SEED));
        let mut warnings = Vec::new();
        if let Some(j) = &req.spec.judge {
            if req.spec.pool.seats().iter().any(|m| m == j) {
                warnings.push(format!(
                    "the judge `{j}` is also a member of the pool: judges tend to prefer their own answers"
                ));
            }
        }
        FusionRun {
            ctx: CallContext {
                parent_id: Some(record.id.clone()),
            },
            client,
            spec: req.spec,
            messages: req.messages,
            params: req.params,
            name: req.name,
            out,
            record,
            seed,
            warnings,
            judge_calls: Vec::new(),
            judge_by: None,
            shown: false,
            rounds: Vec::new(),
            stopped_early: None,
        }
    }

    /// One seat per member (a self-fusion's samples at its temperature), each with the
    /// conversation and the caller's parameters.
    pub fn seats(&self) -> Vec<Seat> {
        let mut params = self.params.clone();
        if let Pool::Samples { temperature, .. } = self.spec.pool {
            params.temperature = Some(temperature);
        }
        self.spec
            .pool
            .seats()
            .into_iter()
            .enumerate()
            .map(|(index, model)| Seat {
                index,
                req: Request {
                    model: model.clone(),
                    messages: self.messages.clone(),
                    params: params.clone(),
                },
                model,
            })
            .collect()
    }

    /// Runs a panel of `seats` (round `round` of a debate, else 0) and returns a candidate per
    /// seat, in seat order.
    pub async fn panel(&mut self, seats: Vec<Seat>, round: u32) -> Vec<Candidate> {
        let n = seats.len();
        let rules = Rules {
            quorum: self.spec.quorum.map_or(n, |q| q as usize).min(n),
            grace: self.spec.grace_ms.map(Duration::from_millis),
            deadline: self
                .spec
                .deadline_ms
                .and_then(|d| d.panel)
                .map(|ms| Instant::now() + Duration::from_millis(ms)),
        };
        let (record, out) = (&mut self.record, &self.out);
        let mut cands: Vec<Candidate> = Vec::with_capacity(n);
        let mut on_return = |r: &Returned| {
            record.call(&r.model, &ended(&r.outcome), r.latency);
            let c = candidate(r, round);
            out.emit(FusionEvent::Member {
                candidate: Box::new(c.clone()),
            });
            cands.push(c);
        };
        panel::convene(&self.client, seats, &self.ctx, rules, &mut on_return).await;
        cands.sort_by_key(|c| c.index);
        cands
    }

    /// The steps every mode shares once the panel is back.
    pub fn triage(&mut self, cands: &mut [Candidate]) -> Result<Triage> {
        let usable: Vec<usize> = (0..cands.len())
            .filter(|&i| cands[i].status.usable())
            .collect();
        match usable.as_slice() {
            [] => return Err(self.no_answer(cands)),
            [only] => {
                cands[*only].label = Some(labels::label(0));
                self.warnings.push(format!(
                    "only one member gave a usable answer ({}): it is returned without a judge",
                    cands[*only].model
                ));
                let mut d = Decision::pick(cands, *only, ParsePath::Single);
                d.degraded = true;
                return Ok(Triage::Decided(Box::new(d)));
            }
            _ => {}
        }
        let lineup = Lineup::shuffled(&usable, &mut labels::rng(self.seed, 0));
        for (label, &i) in lineup.labels.iter().zip(&lineup.order) {
            cands[i].label = Some(label.clone());
        }
        if self.spec.agreement_shortcut {
            let refs: Vec<&Candidate> = usable.iter().map(|&i| &cands[i]).collect();
            if tally::agree(&refs, self.spec.extractor.as_ref()) {
                return Ok(Triage::Decided(Box::new(Decision::pick(
                    cands,
                    usable[0],
                    ParsePath::Agreement,
                ))));
            }
        }
        Ok(Triage::Judge(lineup))
    }

    /// The error of a fusion without a usable answer: each member's failure.
    fn no_answer(&self, cands: &[Candidate]) -> Error {
        let why: Vec<String> = cands
            .iter()
            .map(|c| {
                let reason = match c.status {
                    CandidateStatus::Cancelled => {
                        "cancelled (still running when the panel stopped waiting)".to_string()
                    }
                    _ => format!(
                        "{}: {}",
                        c.error_kind.map_or("failed", |k| k.as_str()),
                        c.error.as_deref().unwrap_or("no answer")
                    ),
                };
                format!("member {} `{}`: {reason}", c.index, c.model)
            })
            .collect();
        let mut e = Error::new(
            ErrorKind::AllAttemptsFailed,
            format!(
                "{}: no usable answer from the {} member(s): {}",
                self.label(),
                cands.len(),
                why.join("; ")
            ),
        );
        e.attempts = self.record.calls.clone();
        e.model = Some(self.label());
        e
    }

    fn label(&self) -> String {
        match &self.name {
            Some(n) => format!("fusion/{n}"),
            None => "fusion".to_string(),
        }
    }

    /// The judge, or the error of a mode that needs one and has none.
    fn judge_model(&self) -> Result<String> {
        self.spec.judge.clone().ok_or_else(|| {
            Error::invalid_request(format!("{}: no judge is configured", self.label()))
        })
    }

    /// A judge request: temperature 0, the caller's tags and metadata, and what is left of the
    /// judge phase's deadline (and of the caller's `timeout_ms`).
    fn judge_request(&mut self, messages: Vec<Message>) -> Result<Request> {
        let model = self.judge_model()?;
        let phase = self
            .spec
            .deadline_ms
            .and_then(|d| d.judge)
            .map(Duration::from_millis);
        let mut timeout = self.params.timeout_ms.map(Duration::from_millis);
        if let Some(d) = phase {
            let by = *self.judge_by.get_or_insert_with(|| Instant::now() + d);
            let left = by.saturating_duration_since(Instant::now());
            if left < Duration::from_millis(1) {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "the judge phase's deadline ({} ms) has passed",
                        d.as_millis()
                    ),
                ));
            }
            timeout = Some(timeout.map_or(left, |t| t.min(left)));
        }
        Ok(Request {
            model,
            messages,
            params: Params {
                temperature: Some(0.0),
                tags: self.params.tags.clone(),
                metadata: self.params.metadata.clone(),
                timeout_ms: timeout.map(|t| t.as_millis().max(1) as u64),
                ..Params::default()
            },
        })
    }

    fn judged(
        &mut self,
        purpose: JudgePurpose,
        model: &str,
        ended: &Ended<'_>,
        text: String,
        latency: Duration,
    ) {
        self.record.call(model, ended, latency);
        let (ok, error_kind, error) = match ended {
            Ended::Answered(_) => (true, None, None),
            Ended::Failed(e) => (false, Some(e.kind), Some(e.message.clone())),
            Ended::Cancelled => (false, Some(ErrorKind::Cancelled), None),
        };
        self.judge_calls.push(JudgeCall {
            purpose,
            model: model.to_string(),
            text,
            ok,
            error_kind,
            error,
            usage: ended.usage(),
            latency_ms: ms(latency),
        });
    }

    /// One judge call answered as a whole; its raw output.
    pub async fn judge(&mut self, purpose: JudgePurpose, messages: Vec<Message>) -> Result<String> {
        let req = self.judge_request(messages)?;
        let model = req.model.clone();
        self.out.emit(FusionEvent::Judging {
            purpose,
            model: model.clone(),
        });
        let t = Instant::now();
        let r = self.client.complete_call(req, self.ctx.clone()).await;
        let latency = t.elapsed();
        match r {
            Ok(resp) => {
                let text = resp.text.clone();
                self.judged(
                    purpose,
                    &model,
                    &Ended::Answered(&resp),
                    text.clone(),
                    latency,
                );
                Ok(text)
            }
            Err(e) => {
                self.judged(purpose, &model, &Ended::Failed(&e), String::new(), latency);
                Err(e)
            }
        }
    }

    /// A judge call that writes the answer: streamed to the caller when the fusion is (only what
    /// follows `FINAL ANSWER:` when `marker`); its whole output and finish reason.
    pub async fn judge_answer(
        &mut self,
        purpose: JudgePurpose,
        messages: Vec<Message>,
        marker: bool,
    ) -> Result<(String, FinishReason)> {
        if !self.out.streaming() {
            let req = self.judge_request(messages)?;
            let model = req.model.clone();
            let t = Instant::now();
            let r = self.client.complete_call(req, self.ctx.clone()).await;
            return match r {
                Ok(resp) => {
                    let (text, fr) = (resp.text.clone(), resp.finish_reason.clone());
                    self.judged(
                        purpose,
                        &model,
                        &Ended::Answered(&resp),
                        text.clone(),
                        t.elapsed(),
                    );
                    Ok((text, fr))
                }
                Err(e) => {
                    self.judged(
                        purpose,
                        &model,
                        &Ended::Failed(&e),
                        String::new(),
                        t.elapsed(),
                    );
                    Err(e)
                }
            };
        }
        let req = self.judge_request(messages)?;
        let model = req.model.clone();
        self.out.emit(FusionEvent::Judging {
            purpose,
            model: model.clone(),
        });
        let t = Instant::now();
        let mut events = self.client.stream_call(req, self.ctx.clone());
        let mut text = String::new();
        let mut scanner = MarkerScanner::default();
        let ended: std::result::Result<Response, Error> = loop {
            match events.next().await {
                Some(Ok(StreamEvent::TextDelta { text: piece })) => {
                    text.push_str(&piece);
                    let show = if marker { scanner.push(&piece) } else { piece };
                    self.show(show);
                }
                Some(Ok(StreamEvent::Restart { reason, .. })) => {
                    text.clear();
                    scanner = MarkerScanner::default();
                    self.withdraw(reason);
                }
                Some(Ok(StreamEvent::Final { response })) => break Ok(*response),
                Some(Ok(_)) => {}
                Some(Err(e)) => break Err(e),
                None => {
                    break Err(Error::new(
                        ErrorKind::Internal,
                        "polyfuse internal error: the judge's stream ended without a response",
                    ))
                }
            }
        };
        match ended {
            Ok(resp) => {
                let fr = resp.finish_reason.clone();
                let text = resp.text.clone();
                self.judged(
                    purpose,
                    &model,
                    &Ended::Answered(&resp),
                    text.clone(),
                    t.elapsed(),
                );
                Ok((text, fr))
            }
            Err(e) => {
                self.judged(purpose, &model, &Ended::Failed(&e), text, t.elapsed());
                self.withdraw(format!("the judge failed mid-answer: {}", e.message));
                Err(e)
            }
        }
    }

    /// Streams a piece of the answer.
    fn show(&mut self, text: String) {
        if text.is_empty() {
            return;
        }
        if self.record.ttft.is_none() {
            self.record.ttft = Some(self.record.started.elapsed());
        }
        self.shown = true;
        self.out.emit(FusionEvent::TextDelta { text });
    }

    /// Withdraws the answer text shown so far (a `Restart` event), if any was.
    fn withdraw(&mut self, reason: String) {
        if self.shown {
            self.shown = false;
            self.out.emit(FusionEvent::Restart { reason });
        }
    }

    /// The non-LLM stand-in for a judge that failed (`why`): a vote, else the candidate most
    /// similar to the others, else the first usable member; flagged as degraded.
    pub fn fall_back(&mut self, cands: &[Candidate], why: &str) -> Decision {
        let usable: Vec<usize> = (0..cands.len())
            .filter(|&i| cands[i].status.usable())
            .collect();
        let mut d = self.choose_among(cands, &usable);
        self.warnings.push(format!(
            "{why}: the answer was chosen without the judge ({})",
            match d.path {
                ParsePath::FallbackVote => "by a vote",
                ParsePath::FallbackSimilarity => "the candidate most similar to the others",
                _ => "the first usable member",
            }
        ));
        d.degraded = true;
        d
    }

    /// The non-LLM choice among candidates `among` (indices, pool order).
    pub fn choose_among(&self, cands: &[Candidate], among: &[usize]) -> Decision {
        let refs: Vec<&Candidate> = among.iter().map(|&i| &cands[i]).collect();
        let extractor = self.spec.extractor.clone().unwrap_or_default();
        let (k, path, tally) = tally::fallback(&refs, &extractor);
        let mut d = Decision::pick(cands, among[k], path);
        if path == ParsePath::FallbackVote {
            d.vote = Some(tally);
        }
        d
    }

    /// The result: the answer (streamed now if it was not yet), candidates with their scores,
    /// and the fusion's usage event.
    pub fn finish(
        mut self,
        mut cands: Vec<Candidate>,
        lineup: Option<&Lineup>,
        d: Decision,
    ) -> FusionResult {
        if self.out.streaming() && !self.shown {
            let answer = d.answer.clone();
            self.show(answer);
        }
        for c in &mut cands {
            if let Some(l) = &c.label {
                c.score = d.scores.get(l).copied();
            }
        }
        let order = match lineup {
            Some(l) => l.order.iter().map(|&i| cands[i].index).collect(),
            None => cands
                .iter()
                .filter(|c| c.label.is_some())
                .map(|c| c.index)
                .collect(),
        };
        self.record.finish(Outcome::Ok, None);
        FusionResult {
            id: self.record.id.clone(),
            name: self.name.take(),
            mode: self.spec.mode,
            answer: d.answer,
            finish_reason: d.finish_reason,
            winner: d.winner.and_then(|w| cands[w].label.clone()),
            scores: d.scores,
            confidence: d.confidence,
            rationale: d.rationale,
            analysis: d.analysis,
            candidates: cands,
            rounds: std::mem::take(&mut self.rounds),
            stopped_early: self.stopped_early.take(),
            vote: d.vote,
            swap: d.swap,
            judge_model: self.spec.judge.clone(),
            judge: std::mem::take(&mut self.judge_calls),
            parse_path: d.path,
            seed: self.seed,
            order,
            degraded: d.degraded,
            warnings: std::mem::take(&mut self.warnings),
            usage: self.record.usage.clone(),
            calls: self.record.calls.len() as u32,
            latency_ms: ms(self.record.started.elapsed()),
            ttft_ms: self.record.ttft.map(ms),
            call_log: std::mem::take(&mut self.record.calls),
        }
    }

    /// Ends the fusion with `e` (its usage event says so).
    pub fn fail(mut self, e: Error) -> Error {
        self.record.finish(Outcome::Error, Some(&e));
        e
    }
}

fn ended(o: &SeatOutcome) -> Ended<'_> {
    match o {
        SeatOutcome::Answered(r) => Ended::Answered(r),
        SeatOutcome::Failed(e) => Ended::Failed(e),
        SeatOutcome::Cancelled => Ended::Cancelled,
    }
}

/// A seat back from the panel as a candidate.
fn candidate(r: &Returned, round: u32) -> Candidate {
    let mut c = Candidate {
        index: r.index as u32,
        label: None,
        model: r.model.clone(),
        answered_by: None,
        text: String::new(),
        status: CandidateStatus::Failed,
        error_kind: None,
        error: None,
        usage: ended(&r.outcome).usage(),
        latency_ms: ms(r.latency),
        request_id: None,
        score: None,
        answer: None,
        round,
        finish_reason: None,
    };
    match &r.outcome {
        SeatOutcome::Answered(resp) => {
            c.answered_by = Some(resp.model.clone());
            c.request_id = Some(resp.id.clone());
            c.text = resp.text.clone();
            c.finish_reason = Some(resp.finish_reason.clone());
            if panel::usable(resp) {
                c.status = if panel::truncated(resp) {
                    CandidateStatus::Truncated
                } else {
                    CandidateStatus::Ok
                };
            } else {
                c.error_kind = Some(ErrorKind::InvalidResponse);
                c.error = Some("the member answered with no text".to_string());
            }
        }
        SeatOutcome::Failed(e) => {
            c.error_kind = Some(e.kind);
            c.error = Some(e.message.clone());
        }
        SeatOutcome::Cancelled => {
            c.status = CandidateStatus::Cancelled;
            c.error_kind = Some(ErrorKind::Cancelled);
        }
    }
    c
}
