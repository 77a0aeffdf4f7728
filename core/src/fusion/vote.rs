//! Vote / self-consistency (N calls; the judge only on a tie): each usable candidate's final
//! answer is extracted and normalized, the plurality wins with its vote share as confidence, and
//! the candidate that first gave it is returned. A tie goes to the judge (Universal
//! Self-Consistency: the response most consistent with the rest, among the tied), else to the
//! non-LLM choice among the tied.
use super::labels::Lineup;
use super::parse::{json_verdict, pattern_label};
use super::prompts;
use super::result::{Candidate, JudgePurpose, ParsePath};
use super::run::{Decision, FusionRun};
use super::tally;

pub(crate) async fn decide(
    run: &mut FusionRun,
    cands: &mut [Candidate],
    lineup: &Lineup,
) -> Decision {
    let extractor = run.spec.extractor.clone().unwrap_or_default();
    let usable: Vec<usize> = (0..cands.len())
        .filter(|&i| cands[i].status.usable())
        .collect();
    for &i in &usable {
        cands[i].answer = extractor.extract(&cands[i].text);
    }
    let cands: &[Candidate] = cands;
    let refs: Vec<&Candidate> = usable.iter().map(|&i| &cands[i]).collect();
    let (winner, tally) = tally::count(&refs, &extractor);
    if let Some(w) = winner {
        let mut d = Decision::pick(cands, usable[w], ParsePath::Vote);
        d.vote = Some(tally);
        return d;
    }
    let tied: Vec<usize> = tally::tied(&refs, &tally)
        .into_iter()
        .map(|k| usable[k])
        .collect();
    let tied_labels: Vec<String> = tied
        .iter()
        .filter_map(|&i| cands[i].label.clone())
        .collect();
    let mut d = match &run.spec.judge {
        None => {
            run.warnings
                .push("a tie, and no judge to break it: chosen without a judge".to_string());
            run.choose_among(cands, &tied)
        }
        Some(_) => tie_break(run, cands, lineup, &tied, &tied_labels).await,
    };
    d.vote = Some(tally);
    d
}

async fn tie_break(
    run: &mut FusionRun,
    cands: &[Candidate],
    lineup: &Lineup,
    tied: &[usize],
    tied_labels: &[String],
) -> Decision {
    let all: Vec<&Candidate> = cands.iter().collect();
    let prompt = prompts::tie_break(
        &run.messages,
        lineup,
        &all,
        tied_labels,
        run.spec.judge_prompt.as_deref(),
    );
    let text = match run.judge(JudgePurpose::TieBreak, prompt).await {
        Ok(t) => t,
        Err(e) => {
            let mut d = run.choose_among(cands, tied);
            d.degraded = true;
            run.warnings.push(format!(
                "the judge failed to break the tie ({}: {}): chosen without a judge",
                e.kind, e.message
            ));
            return d;
        }
    };
    let read = json_verdict(&text, tied_labels)
        .ok()
        .map(|(v, path)| (v.winner, path))
        .or_else(|| pattern_label(&text, tied_labels).map(|l| (l, ParsePath::Pattern)));
    match read.and_then(|(l, path)| lineup.candidate(&l).map(|i| (i, path))) {
        Some((i, path)) => Decision::pick(cands, i, path),
        None => {
            let mut d = run.choose_among(cands, tied);
            d.degraded = true;
            run.warnings.push(
                "the judge's tie-break named none of the tied candidates: chosen without a judge"
                    .to_string(),
            );
            d
        }
    }
}
