//! Merge (Mixture-of-Agents aggregate-and-synthesize). Two steps by default (N+2 calls): the judge
//! analyses the labelled candidates as JSON (consensus, contradictions, partial coverage, unique
//! insights, blind spots, errors), then writes one answer from them and the analysis, resolving
//! contradictions and keeping the user's format; the answer streams as it is written. With
//! `single_call` (N+1 calls) the judge writes a short analysis, then `FINAL ANSWER:` and the
//! answer, and only what follows the marker is streamed and returned.
use serde_json::Value;

use super::labels::Lineup;
use super::parse::{after_marker, find_ci, json_objects, FINAL_ANSWER};
use super::prompts;
use super::result::{Candidate, JudgePurpose, ParsePath};
use super::run::{Decision, FusionRun};

pub(crate) async fn decide(run: &mut FusionRun, cands: &[Candidate], lineup: &Lineup) -> Decision {
    if run.spec.single_call {
        one_call(run, cands, lineup).await
    } else {
        two_step(run, cands, lineup).await
    }
}

async fn two_step(run: &mut FusionRun, cands: &[Candidate], lineup: &Lineup) -> Decision {
    let refs: Vec<&Candidate> = cands.iter().collect();
    let prompt = prompts::analysis(
        &run.messages,
        lineup,
        &refs,
        run.spec.judge_prompt.as_deref(),
    );
    let text = match run.judge(JudgePurpose::Analysis, prompt).await {
        Ok(t) => t,
        Err(e) => {
            return run.fall_back(
                cands,
                &format!("the judge's analysis failed ({}: {})", e.kind, e.message),
            )
        }
    };
    // The analysis is input to the synthesis: JSON when it is, else its text as written.
    let (analysis, path) = match json_objects(&text).into_iter().next() {
        Some((v, path)) => (v, path),
        None => (Value::String(text.trim().to_string()), ParsePath::Raw),
    };
    let shown = match &analysis {
        Value::String(s) => s.clone(),
        v => serde_json::to_string_pretty(v).unwrap_or_default(),
    };
    let prompt = prompts::synthesis(&run.messages, lineup, &refs, &shown);
    match run
        .judge_answer(JudgePurpose::Synthesis, prompt, false)
        .await
    {
        Ok((answer, fr)) if !answer.trim().is_empty() => {
            let mut d = Decision::written(answer, fr, path);
            d.analysis = Some(analysis);
            d
        }
        Ok(_) => run.fall_back(cands, "the judge's synthesis was empty"),
        Err(e) => run.fall_back(
            cands,
            &format!("the judge's synthesis failed ({}: {})", e.kind, e.message),
        ),
    }
}

async fn one_call(run: &mut FusionRun, cands: &[Candidate], lineup: &Lineup) -> Decision {
    let refs: Vec<&Candidate> = cands.iter().collect();
    let prompt = prompts::merge_one_call(
        &run.messages,
        lineup,
        &refs,
        run.spec.judge_prompt.as_deref(),
    );
    let (text, fr) = match run.judge_answer(JudgePurpose::Merge, prompt, true).await {
        Ok(r) => r,
        Err(e) => {
            return run.fall_back(
                cands,
                &format!("the judge failed ({}: {})", e.kind, e.message),
            )
        }
    };
    let (answer, analysis, path) = match after_marker(&text) {
        Some(answer) => {
            let before = find_ci(&text, FINAL_ANSWER).map_or("", |at| &text[..at]);
            let before = before.trim().trim_end_matches('*').trim_end();
            (
                answer.trim_end().to_string(),
                before.to_string(),
                ParsePath::Marker,
            )
        }
        None => (text.trim().to_string(), String::new(), ParsePath::NoMarker),
    };
    if answer.is_empty() {
        return run.fall_back(cands, "the judge wrote no answer after its analysis");
    }
    let mut d = Decision::written(answer, fr, path);
    if !analysis.is_empty() {
        d.analysis = Some(Value::String(analysis));
    }
    d
}
