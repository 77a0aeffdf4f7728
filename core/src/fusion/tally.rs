//! Deciding without a judge: counting extracted answers (the plurality, vote shares as
//! confidence), agreement between the usable answers (the short-cut that skips the judge), and
//! the non-LLM fallback for a judge that failed: a vote, else the candidate most similar to the
//! others, else the first usable member of the pool.
use std::collections::BTreeSet;

use super::extract::{normalize, Extractor};
use super::result::{Candidate, ParsePath, VoteCount, VoteTally};

/// A vote over `cands` (usable candidates, labelled): the plurality winner's position in `cands`
/// (`None` on a tie or when nothing was extracted), and the tally.
pub fn count(cands: &[&Candidate], extractor: &Extractor) -> (Option<usize>, VoteTally) {
    let mut counts: Vec<(String, Vec<usize>)> = Vec::new();
    let mut abstained = Vec::new();
    for (i, c) in cands.iter().enumerate() {
        match extractor.extract(&c.text) {
            Some(a) => {
                let key = normalize(&a);
                match counts.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, v)) => v.push(i),
                    None => counts.push((key, vec![i])),
                }
            }
            None => abstained.push(c.label.clone().unwrap_or_default()),
        }
    }
    // Most votes first; equal counts keep the order of their first voter.
    counts.sort_by_key(|c| std::cmp::Reverse(c.1.len()));
    let total = cands.len().max(1) as f64;
    let top = counts.first().map_or(0, |(_, v)| v.len());
    let tie = counts.iter().filter(|(_, v)| v.len() == top).count() != 1;
    let winner = (!tie).then(|| counts[0].1[0]);
    let tally = VoteTally {
        answer: winner.and_then(|w| extractor.extract(&cands[w].text)),
        counts: counts
            .iter()
            .map(|(answer, voters)| VoteCount {
                answer: answer.clone(),
                votes: voters.len() as u32,
                share: voters.len() as f64 / total,
                labels: voters
                    .iter()
                    .map(|&i| cands[i].label.clone().unwrap_or_default())
                    .collect(),
            })
            .collect(),
        confidence: if tie { 0.0 } else { top as f64 / total },
        tie,
        abstained,
    };
    (winner, tally)
}

/// The positions in `cands` of the candidates tied for the most votes (all of them when nothing
/// was extracted).
pub fn tied(cands: &[&Candidate], tally: &VoteTally) -> Vec<usize> {
    let top = tally.counts.first().map_or(0, |c| c.votes);
    if top == 0 {
        return (0..cands.len()).collect();
    }
    let labels: BTreeSet<&str> = tally
        .counts
        .iter()
        .filter(|c| c.votes == top)
        .flat_map(|c| c.labels.iter().map(String::as_str))
        .collect();
    (0..cands.len())
        .filter(|&i| {
            cands[i]
                .label
                .as_deref()
                .is_some_and(|l| labels.contains(l))
        })
        .collect()
}

/// Whether the usable answers agree: the same text once normalized, or, with an extractor
/// configured, the same extracted answer.
pub fn agree(cands: &[&Candidate], extractor: Option<&Extractor>) -> bool {
    if cands.len() < 2 {
        return false;
    }
    let key = |c: &Candidate| match extractor {
        Some(e) => e.extract(&c.text).map(|a| normalize(&a)),
        None => Some(normalize(&c.text)),
    };
    let first = key(cands[0]);
    first.is_some() && cands[1..].iter().all(|c| key(c) == first)
}

fn words(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Jaccard similarity of two texts' word sets.
fn similarity(a: &BTreeSet<String>, b: &BTreeSet<String>) -> f64 {
    let union = a.union(b).count();
    if union == 0 {
        return 1.0;
    }
    a.intersection(b).count() as f64 / union as f64
}

/// The position of the candidate most similar to the others (mean word-set similarity), or
/// `None` when no single one is.
pub fn most_similar(cands: &[&Candidate]) -> Option<usize> {
    if cands.len() < 3 {
        return None;
    }
    let sets: Vec<BTreeSet<String>> = cands.iter().map(|c| words(&c.text)).collect();
    let mean: Vec<f64> = (0..sets.len())
        .map(|i| {
            let others = (0..sets.len()).filter(|&j| j != i);
            others.map(|j| similarity(&sets[i], &sets[j])).sum::<f64>() / (sets.len() - 1) as f64
        })
        .collect();
    let best = mean.iter().copied().fold(f64::MIN, f64::max);
    let top: Vec<usize> = (0..mean.len())
        .filter(|&i| (mean[i] - best).abs() < 1e-12)
        .collect();
    match top.as_slice() {
        [one] => Some(*one),
        _ => None,
    }
}

/// The non-LLM choice among `cands` (usable, in pool order): a vote winner (with at least two
/// votes), else the most similar, else the first.
pub fn fallback(cands: &[&Candidate], extractor: &Extractor) -> (usize, ParsePath, VoteTally) {
    let (winner, tally) = count(cands, extractor);
    if let Some(w) = winner.filter(|_| tally.counts.first().is_some_and(|c| c.votes >= 2)) {
        return (w, ParsePath::FallbackVote, tally);
    }
    match most_similar(cands) {
        Some(i) => (i, ParsePath::FallbackSimilarity, tally),
        None => (0, ParsePath::FallbackPrimary, tally),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fusion::result::CandidateStatus;
    use crate::usage::Usage;

    fn cand(label: &str, text: &str) -> Candidate {
        Candidate {
            index: 0,
            label: Some(label.into()),
            model: "mock/x".into(),
            answered_by: None,
            text: text.into(),
            status: CandidateStatus::Ok,
            error_kind: None,
            error: None,
            usage: Usage::none(),
            latency_ms: 0.0,
            request_id: None,
            score: None,
            answer: None,
            round: 0,
            finish_reason: None,
        }
    }

    #[test]
    fn plurality_with_shares_and_ties() {
        let c = [
            cand("A", "Final answer: 4"),
            cand("B", "\\boxed{4.0}"),
            cand("C", "Final answer: 5"),
        ];
        let refs: Vec<&Candidate> = c.iter().collect();
        let (w, t) = count(&refs, &Extractor::Auto);
        assert_eq!(w, Some(0));
        assert_eq!(t.answer.as_deref(), Some("4"));
        assert_eq!(
            (t.counts[0].votes, t.counts[0].labels.clone()),
            (2, vec!["A".to_string(), "B".into()])
        );
        assert!((t.confidence - 2.0 / 3.0).abs() < 1e-9);
        assert!(!t.tie);
        let (w, t) = count(
            &refs[..1]
                .iter()
                .chain(&refs[2..])
                .copied()
                .collect::<Vec<_>>(),
            &Extractor::Auto,
        );
        assert_eq!((w, t.tie, t.confidence), (None, true, 0.0));
        let (w, t) = count(&refs, &Extractor::Letter);
        assert_eq!((w, t.abstained.len()), (None, 3));
    }

    #[test]
    fn agreement_and_fallbacks() {
        let c = [
            cand("A", "Paris."),
            cand("B", " paris"),
            cand("C", "**Paris**"),
        ];
        let refs: Vec<&Candidate> = c.iter().collect();
        assert!(agree(&refs, None));
        let d = [
            cand("A", "It is 4. Final answer: 4"),
            cand("B", "Final answer: 4"),
        ];
        let refs: Vec<&Candidate> = d.iter().collect();
        assert!(!agree(&refs, None));
        assert!(agree(&refs, Some(&Extractor::FinalAnswer)));
        let e = [
            cand("A", "the quick brown fox jumps"),
            cand("B", "a quick brown fox jumps high"),
            cand("C", "a fox elsewhere entirely"),
        ];
        let refs: Vec<&Candidate> = e.iter().collect();
        let (i, path, _) = fallback(&refs, &Extractor::Auto);
        assert_eq!((i, path), (1, ParsePath::FallbackSimilarity));
        let two = [cand("A", "x y"), cand("B", "z w")];
        let refs: Vec<&Candidate> = two.iter().collect();
        assert_eq!(
            fallback(&refs, &Extractor::Auto).1,
            ParsePath::FallbackPrimary
        );
        let votes = [cand("A", "7"), cand("B", "8"), cand("C", "7")];
        let refs: Vec<&Candidate> = votes.iter().collect();
        assert_eq!(fallback(&refs, &Extractor::Auto).0, 0);
        assert_eq!(fallback(&refs, &Extractor::Auto).1, ParsePath::FallbackVote);
    }
}
