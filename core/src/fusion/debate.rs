//! Debate (up to N(R+1) member calls, plus the judged end): round 0 is an ordinary panel; in
//! each of rounds 1..R (default 1, at most 3) every member still in sees the others' latest
//! answers (anonymized, shuffled per member, as untrusted data) and revises, changing only for a
//! concrete reason. It stops early when the answers agree or nothing changed. Failed members are
//! dropped while two or more remain. The end: the agreement short-cut, else (`finalize`) a vote
//! for short answers, best-of or merge with the judge for free text.
use super::extract::normalize;
use super::labels::{self, Lineup};
use super::panel::Seat;
use super::prompts;
use super::result::{Candidate, DebateRound, FusionResult};
use super::run::{FusionRun, Triage};
use super::spec::{Finalize, MAX_ROUNDS};
use super::{best_of, merge, tally, vote};
use crate::types::error::Result;

pub(crate) async fn run(mut run: FusionRun) -> Result<FusionResult> {
    let rounds = run.spec.rounds.unwrap_or(1).min(MAX_ROUNDS);
    let seats = run.seats();
    let mut cands = run.panel(seats, 0).await;
    run.rounds.push(DebateRound {
        round: 0,
        candidates: cands.clone(),
    });
    for round in 1..=rounds {
        let active: Vec<usize> = (0..cands.len())
            .filter(|&i| cands[i].status.usable())
            .collect();
        if active.len() < 2 {
            run.stopped_early = Some("too_few".to_string());
            break;
        }
        let refs: Vec<&Candidate> = active.iter().map(|&i| &cands[i]).collect();
        if run.spec.agreement_shortcut && tally::agree(&refs, run.spec.extractor.as_ref()) {
            run.stopped_early = Some("agreement".to_string());
            break;
        }
        let next = run
            .panel(revisions(&run, &cands, &active, round), round)
            .await;
        let answered = next.iter().filter(|c| c.status.usable()).count();
        let mut changed = false;
        for mut c in next {
            let Some(i) = cands.iter().position(|p| p.index == c.index) else {
                continue;
            };
            let mut usage = cands[i].usage.clone();
            usage.add(&c.usage);
            c.usage = usage;
            if c.status.usable() {
                changed |= normalize(&c.text) != normalize(&cands[i].text);
                cands[i] = c;
            } else if answered >= 2 {
                // Dropped: two or more others carry on.
                changed = true;
                cands[i] = c;
            } else {
                run.warnings.push(format!(
                    "member {} `{}` failed in round {round}: its answer of round {} is kept (too few members would remain)",
                    c.index, c.model, cands[i].round
                ));
                cands[i].usage = c.usage;
            }
        }
        run.rounds.push(DebateRound {
            round,
            candidates: cands.clone(),
        });
        if !changed {
            if round < rounds {
                run.stopped_early = Some("no_change".to_string());
            }
            break;
        }
    }
    let lineup = match run.triage(&mut cands) {
        Ok(Triage::Judge(l)) => l,
        Ok(Triage::Decided(d)) => return Ok(run.finish(cands, None, *d)),
        Err(e) => return Err(run.fail(e)),
    };
    let extractor = run.spec.extractor.clone().unwrap_or_default();
    let finalize = match run.spec.finalize.unwrap_or_default() {
        Finalize::Auto => {
            let short = cands
                .iter()
                .filter(|c| c.status.usable())
                .all(|c| extractor.short_answer(&c.text));
            match (short, run.spec.judge.is_some()) {
                (false, true) => Finalize::BestOf,
                _ => Finalize::Vote,
            }
        }
        f => f,
    };
    let decision = match finalize {
        Finalize::BestOf => best_of::decide(&mut run, &cands, &lineup).await,
        Finalize::Merge => merge::decide(&mut run, &cands, &lineup).await,
        Finalize::Vote | Finalize::Auto => vote::decide(&mut run, &mut cands, &lineup).await,
    };
    Ok(run.finish(cands, Some(&lineup), decision))
}

/// The round's calls: each active member's conversation with its own latest answer and the
/// others' (a lineup of its own, shuffled from the seed).
fn revisions(run: &FusionRun, cands: &[Candidate], active: &[usize], round: u32) -> Vec<Seat> {
    let refs: Vec<&Candidate> = cands.iter().collect();
    let mut seats = run.seats();
    seats.retain(|s| active.iter().any(|&i| cands[i].index as usize == s.index));
    for seat in &mut seats {
        let Some(me) = active
            .iter()
            .copied()
            .find(|&i| cands[i].index as usize == seat.index)
        else {
            continue;
        };
        let others: Vec<usize> = active.iter().copied().filter(|&i| i != me).collect();
        let stream = 1 + u64::from(round) * 64 + seat.index as u64;
        let lineup = Lineup::shuffled(&others, &mut labels::rng(run.seed, stream));
        seat.req.messages = prompts::revise(&run.messages, &cands[me].text, &lineup, &refs);
    }
    seats
}
