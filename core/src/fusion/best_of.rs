//! Best-of (N+1 calls; +1 for a repair, +1 for the order swap): the judge scores every labelled
//! candidate against the rubric and names a winner, which is returned verbatim with the scores.
//! Its verdict is read as JSON, else after one repair call, else by textual patterns, else the
//! non-LLM fallback decides. The optional second pass shows the candidates in reverse order and
//! flags a verdict that changes.
use std::collections::BTreeMap;

use super::labels::Lineup;
use super::parse::{json_verdict, pattern_label, Verdict};
use super::prompts;
use super::result::{Candidate, JudgePurpose, ParsePath, SwapCheck};
use super::run::{Decision, FusionRun};
use crate::types::message::Message;

pub(crate) async fn decide(run: &mut FusionRun, cands: &[Candidate], lineup: &Lineup) -> Decision {
    let refs: Vec<&Candidate> = cands.iter().collect();
    let prompt = prompts::best_of(
        &run.messages,
        lineup,
        &refs,
        run.spec.rubric.as_deref(),
        run.spec.judge_prompt.as_deref(),
    );
    let text = match run.judge(JudgePurpose::Verdict, prompt.clone()).await {
        Ok(t) => t,
        Err(e) => {
            return run.fall_back(
                cands,
                &format!("the judge failed ({}: {})", e.kind, e.message),
            )
        }
    };
    let (verdict, path) = match read(run, &prompt, &text, lineup).await {
        Ok(v) => v,
        Err(problem) => {
            return run.fall_back(
                cands,
                &format!("the judge's verdict could not be read ({problem})"),
            )
        }
    };
    let Some(mut winner) = lineup.candidate(&verdict.winner) else {
        return run.fall_back(cands, "the judge named no candidate");
    };
    let mut scores = verdict.scores.clone();
    let swap = if run.spec.order_swap {
        let mut check = swap_pass(run, cands, lineup).await;
        check.consistent = check.winner.as_deref() == Some(verdict.winner.as_str());
        if check.winner.is_some() && !check.consistent {
            run.warnings.push(
                "the judge chose a different winner with the candidates in reverse order (an inconsistent verdict)"
                    .to_string(),
            );
            // Both passes' scores averaged decide, when both passes scored.
            if let Some(w) = averaged_winner(&scores, &check.scores, lineup) {
                winner = w;
                scores = average(&scores, &check.scores);
            }
        } else if check.winner.is_none() {
            run.warnings
                .push("the order-swapped pass could not be read".to_string());
        }
        Some(check)
    } else {
        None
    };
    let mut d = Decision::pick(cands, winner, path);
    d.scores = scores;
    d.confidence = verdict.confidence;
    d.rationale = verdict.rationale;
    d.swap = swap;
    d
}

/// The verdict in `text`: JSON, else (one repair call) the repair's JSON, else a textual
/// pattern in the repair's or the first output. `Err`: what was wrong.
async fn read(
    run: &mut FusionRun,
    prompt: &[Message],
    text: &str,
    lineup: &Lineup,
) -> Result<(Verdict, ParsePath), String> {
    let problem = match json_verdict(text, &lineup.labels) {
        Ok(v) => return Ok(v),
        Err(p) => p,
    };
    let repaired = run
        .judge(
            JudgePurpose::Repair,
            prompts::repair(prompt, text, &problem, lineup),
        )
        .await
        .ok();
    if let Some(r) = &repaired {
        if let Ok((v, _)) = json_verdict(r, &lineup.labels) {
            return Ok((v, ParsePath::Repair));
        }
    }
    for t in repaired.iter().map(String::as_str).chain([text]) {
        if let Some(winner) = pattern_label(t, &lineup.labels) {
            return Ok((
                Verdict {
                    winner,
                    ..Verdict::default()
                },
                ParsePath::Pattern,
            ));
        }
    }
    Err(problem)
}

/// The order-swapped pass (no repair call): its verdict under the first pass's labels.
async fn swap_pass(run: &mut FusionRun, cands: &[Candidate], lineup: &Lineup) -> SwapCheck {
    let reversed = lineup.reversed();
    let refs: Vec<&Candidate> = cands.iter().collect();
    let prompt = prompts::best_of(
        &run.messages,
        &reversed,
        &refs,
        run.spec.rubric.as_deref(),
        run.spec.judge_prompt.as_deref(),
    );
    let unread = SwapCheck {
        winner: None,
        scores: BTreeMap::new(),
        consistent: false,
        parse_path: None,
    };
    let Ok(text) = run.judge(JudgePurpose::Swap, prompt).await else {
        return unread;
    };
    let read = json_verdict(&text, &reversed.labels).ok().or_else(|| {
        pattern_label(&text, &reversed.labels).map(|winner| {
            (
                Verdict {
                    winner,
                    ..Verdict::default()
                },
                ParsePath::Pattern,
            )
        })
    });
    let Some((v, path)) = read else {
        return unread;
    };
    // Back to the first pass's labels.
    let relabel = |l: &str| {
        reversed
            .candidate(l)
            .and_then(|i| lineup.label_of(i))
            .map(str::to_string)
    };
    SwapCheck {
        winner: relabel(&v.winner),
        scores: v
            .scores
            .iter()
            .filter_map(|(l, s)| relabel(l).map(|l| (l, *s)))
            .collect(),
        consistent: false,
        parse_path: Some(path),
    }
}

/// Per-label mean of two passes' scores (labels scored by both).
fn average(a: &BTreeMap<String, f64>, b: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    a.iter()
        .filter_map(|(l, s)| b.get(l).map(|t| (l.clone(), (s + t) / 2.0)))
        .collect()
}

/// The candidate with the single best averaged score.
fn averaged_winner(
    a: &BTreeMap<String, f64>,
    b: &BTreeMap<String, f64>,
    lineup: &Lineup,
) -> Option<usize> {
    let avg = average(a, b);
    let best = avg.values().copied().fold(f64::MIN, f64::max);
    let top: Vec<&String> = avg
        .iter()
        .filter(|(_, s)| **s == best)
        .map(|(l, _)| l)
        .collect();
    match top.as_slice() {
        [one] => lineup.candidate(one),
        _ => None,
    }
}
