//! Fusion's modes on the in-process mock provider, with scripted members and a scripted judge:
//! best-of (a valid verdict, a fenced one, malformed JSON, an unissued label, prose like
//! "[[B]]", a repair that works, a judge that fails, the order swap), merge (two steps, one call
//! with and without the marker), vote (plurality, ties with and without a judge, extractors),
//! debate (no change, agreement, a dropped member, a judged end), the agreement short-cut,
//! self-fusion, member failures, and the usage accounting: every member and judge call is an
//! ordinary call parented to the fusion, and the fusion's own event carries the total.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod fusion_support;

use fusion_support::*;
use polyfuse_core::fusion::{CandidateStatus, JudgePurpose, ParsePath};
use polyfuse_core::{ErrorKind, Level, Outcome};
use serde_json::json;

fn three(judge: &str) -> serde_json::Value {
    json!({
        "a": {"text": "The answer is 4."},
        "b": {"text": "2+2 = 4, because two plus two is four."},
        "c": {"text": "It is 5."},
        "judge": {"text": judge},
    })
}

fn best_of(extra: serde_json::Value) -> serde_json::Value {
    let mut o = json!({"pool": ["mock/a", "mock/b", "mock/c"], "judge": "mock/judge", "mode": "best-of", "seed": 7});
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        o[k] = v;
    }
    o
}

#[tokio::test]
async fn best_of_returns_the_winner_verbatim_with_scores_and_a_parented_usage_trail() {
    let (c, ev) = mock_client(
        three(&verdict("B", &[("A", 6), ("B", 9), ("C", 2)])),
        json!({}),
    );
    let r = fuse(&c, best_of(json!({}))).await;
    assert_eq!(r.winner.as_deref(), Some("B"));
    assert_eq!(r.answer, text_of(&r, "B"));
    assert_eq!(r.parse_path, ParsePath::Json);
    assert_eq!(r.scores.get("B"), Some(&9.0));
    assert_eq!(r.winner_candidate().unwrap().score, Some(9.0));
    assert_eq!(r.confidence.as_deref(), Some("high"));
    assert_eq!(r.rationale.as_deref(), Some("it is right"));
    assert_eq!(r.seed, 7);
    assert!(!r.degraded);
    assert_eq!(r.calls, 4);
    // The order is recorded: label k is the seat order[k].
    let mut seats = r.order.clone();
    seats.sort_unstable();
    assert_eq!(seats, vec![0, 1, 2]);
    for (k, seat) in r.order.iter().enumerate() {
        let cand = &r.candidates[*seat as usize];
        assert_eq!(cand.label.as_deref(), Some(["A", "B", "C"][k]));
        assert_eq!(cand.status, CandidateStatus::Ok);
    }
    assert_eq!(r.judge.len(), 1);
    assert_eq!(
        (r.judge[0].purpose, r.judge[0].ok),
        (JudgePurpose::Verdict, true)
    );
    assert!(r.judge[0].text.contains("\"winner\":\"B\""));

    // Every member and the judge is an ordinary call whose event names the fusion as parent;
    // the fusion's event carries the total: events = attempts + calls + fusions.
    let all = ev.all(&c);
    let calls: Vec<_> = all.iter().filter(|e| e.level == Level::Call).collect();
    let attempts: Vec<_> = all.iter().filter(|e| e.level == Level::Attempt).collect();
    let fusions: Vec<_> = all.iter().filter(|e| e.level == Level::Fusion).collect();
    assert_eq!(
        (calls.len(), attempts.len(), fusions.len(), all.len()),
        (4, 4, 1, 9)
    );
    assert!(calls
        .iter()
        .all(|e| e.parent_id.as_deref() == Some(r.id.as_str())));
    let f = fusions[0];
    assert_eq!(f.request_id, r.id);
    assert_eq!(
        (f.model.as_str(), f.provider.as_str(), f.outcome),
        ("fusion", "fusion", Outcome::Ok)
    );
    assert_eq!(f.attempts.len(), 4);
    let summed: u64 = calls
        .iter()
        .map(|e| e.usage.input_tokens + e.usage.output_tokens)
        .sum();
    assert_eq!(f.usage.total_tokens(), summed);
    assert_eq!(r.usage, f.usage);
    assert_eq!(
        r.usage.cost_usd,
        Some(0.0),
        "the in-process mock is free, and every part is known"
    );
    let members: u64 = r.candidates.iter().map(|c| c.usage.input_tokens).sum();
    assert_eq!(
        r.usage.input_tokens,
        members + r.judge[0].usage.input_tokens
    );
}

#[tokio::test]
async fn the_same_seed_gives_the_same_order_and_a_random_seed_is_recorded() {
    let (c, _) = mock_client(three(&verdict("A", &[])), json!({}));
    let a = fuse(&c, best_of(json!({"seed": 11}))).await;
    let b = fuse(&c, best_of(json!({"seed": 11}))).await;
    assert_eq!(a.order, b.order);
    assert_eq!(a.answer, b.answer);
    let orders: std::collections::BTreeSet<Vec<u32>> =
        futures_util::future::join_all((0..12).map(|s| fuse(&c, best_of(json!({"seed": s})))))
            .await
            .into_iter()
            .map(|r| r.order)
            .collect();
    assert!(
        orders.len() >= 3,
        "different seeds, different orders: {orders:?}"
    );
    let mut opts = best_of(json!({}));
    opts.as_object_mut().unwrap().remove("seed");
    let random = fuse(&c, opts).await;
    let again = fuse(&c, best_of(json!({"seed": random.seed}))).await;
    assert_eq!(
        random.order, again.order,
        "the recorded seed reproduces the order"
    );
}

#[tokio::test]
async fn a_fenced_verdict_is_read_as_fenced_json() {
    let judge = "Notes.\n```json\n{\"scores\": {\"A\": 2, \"B\": 3, \"C\": 8,}, \"winner\": \"Response C\"}\n```\nDone.";
    let (c, _) = mock_client(three(judge), json!({}));
    let r = fuse(&c, best_of(json!({}))).await;
    assert_eq!(
        (r.winner.as_deref(), r.parse_path),
        (Some("C"), ParsePath::FencedJson)
    );
    assert_eq!(r.answer, text_of(&r, "C"));
    assert_eq!(r.calls, 4, "no repair call");
}

#[tokio::test]
async fn malformed_json_gets_one_repair_call_then_a_textual_pattern() {
    let (c, _) = mock_client(
        three("{\"winner\": \"B\", \"scores\": {\"A\": 3, "),
        json!({}),
    );
    let r = fuse(&c, best_of(json!({}))).await;
    assert_eq!(
        (r.winner.as_deref(), r.parse_path),
        (Some("B"), ParsePath::Pattern)
    );
    assert_eq!(r.answer, text_of(&r, "B"));
    let purposes: Vec<_> = r.judge.iter().map(|j| j.purpose).collect();
    assert_eq!(purposes, vec![JudgePurpose::Verdict, JudgePurpose::Repair]);
    assert_eq!(r.calls, 5);
}

#[tokio::test]
async fn prose_like_double_brackets_is_read_by_pattern() {
    let (c, _) = mock_client(
        three("After careful thought, the best is [[B]]."),
        json!({}),
    );
    let r = fuse(&c, best_of(json!({}))).await;
    assert_eq!(
        (r.winner.as_deref(), r.parse_path),
        (Some("B"), ParsePath::Pattern)
    );
    assert_eq!(r.answer, text_of(&r, "B"));
    assert!(!r.degraded);
}

#[tokio::test]
async fn an_unissued_label_is_repaired_then_falls_back_without_an_llm() {
    // Two members say 4: with the judge unreadable, the vote stands in.
    let models = json!({
        "a": {"text": "Final answer: 4"},
        "b": {"text": "It is 5. Final answer: 5"},
        "c": {"text": "Surely 4. Final answer: 4"},
        "judge": {"text": "{\"winner\": \"E\", \"scores\": {\"A\": 1}}"},
    });
    let (c, _) = mock_client(models, json!({}));
    let r = fuse(&c, best_of(json!({}))).await;
    assert_eq!(r.parse_path, ParsePath::FallbackVote);
    assert!(r.degraded);
    assert_eq!(
        r.answer, "Final answer: 4",
        "the first of the two votes for 4 in pool order"
    );
    assert_eq!(r.vote.as_ref().unwrap().counts[0].votes, 2);
    assert_eq!(r.judge.len(), 2, "the verdict and its one repair");
    assert!(
        r.warnings.iter().any(|w| w.contains("`E`")),
        "{:?}",
        r.warnings
    );
}

#[tokio::test]
async fn a_repair_that_works_is_recorded_as_the_repair_path() {
    // The judge is a route: its first call fails over to a judge that writes prose, the repair
    // call reaches the first judge, which answers with a valid verdict.
    let models = json!({
        "a": {"text": "one"}, "b": {"text": "two"}, "c": {"text": "three"},
        "jgood": {"text": verdict("C", &[("A", 1), ("B", 2), ("C", 9)]), "fail": {"kind": "server", "times": 1}},
        "jbad": {"text": "I would pick the third one."},
    });
    let (c, _) = mock_client(
        models,
        json!({"routes": {"jr": {"targets": ["mock/jgood", "mock/jbad"]}}}),
    );
    let r = fuse(&c, best_of(json!({"judge": "jr"}))).await;
    assert_eq!(
        (r.winner.as_deref(), r.parse_path),
        (Some("C"), ParsePath::Repair)
    );
    assert_eq!(r.judge[0].text, "I would pick the third one.");
    assert_eq!(r.scores.get("C"), Some(&9.0));
}

#[tokio::test]
async fn a_judge_that_fails_falls_back_to_the_most_similar_candidate_flagged() {
    let models = json!({
        "a": {"text": "the quick brown fox jumps"},
        "b": {"text": "a quick brown fox jumps high"},
        "c": {"text": "a fox elsewhere entirely"},
        "judge": {"fail": {"kind": "server", "status": 500}},
    });
    let (c, ev) = mock_client(models, json!({}));
    let r = fuse(&c, best_of(json!({}))).await;
    assert_eq!(r.parse_path, ParsePath::FallbackSimilarity);
    assert_eq!(r.answer, "a quick brown fox jumps high");
    assert!(r.degraded);
    assert!(!r.judge[0].ok);
    assert_eq!(r.judge[0].error_kind, Some(ErrorKind::Server));
    assert!(
        r.warnings.iter().any(|w| w.contains("judge failed")),
        "{:?}",
        r.warnings
    );
    let f = ev.level(&c, Level::Fusion);
    assert_eq!(f[0].outcome, Outcome::Ok);
    assert_eq!(
        f[0].attempts
            .iter()
            .filter(|a| a.outcome == Outcome::Error)
            .count(),
        1
    );
}

#[tokio::test]
async fn the_order_swap_flags_a_verdict_that_follows_the_position() {
    // The judge always names A: under the reversed order that is another candidate.
    let (c, _) = mock_client(
        three(&verdict("A", &[("A", 9), ("B", 5), ("C", 1)])),
        json!({}),
    );
    let r = fuse(&c, best_of(json!({"order_swap": true}))).await;
    let swap = r.swap.as_ref().unwrap();
    assert!(!swap.consistent);
    assert_eq!(
        swap.winner.as_deref(),
        Some("C"),
        "the swapped pass's A is the first pass's C"
    );
    assert_eq!(swap.scores.get("C"), Some(&9.0));
    assert!(
        r.warnings.iter().any(|w| w.contains("inconsistent")),
        "{:?}",
        r.warnings
    );
    let purposes: Vec<_> = r.judge.iter().map(|j| j.purpose).collect();
    assert_eq!(purposes, vec![JudgePurpose::Verdict, JudgePurpose::Swap]);
    // Averaged scores tie (9+1, 5+5, 1+9): the first pass's winner stands.
    assert_eq!(r.winner.as_deref(), Some("A"));
    // Naming the middle of three is consistent under the swap.
    let (c, _) = mock_client(three(&verdict("B", &[])), json!({}));
    let r = fuse(&c, best_of(json!({"orderSwap": true}))).await;
    assert!(r.swap.as_ref().unwrap().consistent);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
}

#[tokio::test]
async fn merge_analyses_as_json_then_synthesizes_in_two_judge_calls() {
    let analysis = "{\"consensus\": [\"2+2 is 4\"], \"contradictions\": [{\"issue\": \"4 or 5\", \"resolution\": \"4\"}]}";
    let (c, _) = mock_client(three(analysis), json!({}));
    let r = fuse(
        &c,
        json!({"pool": ["mock/a", "mock/b", "mock/c"], "judge": "mock/judge"}),
    )
    .await;
    assert_eq!(r.mode, polyfuse_core::fusion::Mode::Merge);
    assert_eq!(r.parse_path, ParsePath::Json);
    assert_eq!(r.analysis.as_ref().unwrap()["consensus"][0], "2+2 is 4");
    // The mock judge writes the same text again as its synthesis: that is the answer.
    assert_eq!(r.answer, analysis);
    let purposes: Vec<_> = r.judge.iter().map(|j| j.purpose).collect();
    assert_eq!(
        purposes,
        vec![JudgePurpose::Analysis, JudgePurpose::Synthesis]
    );
    assert_eq!((r.calls, r.winner.clone()), (5, None));
    // An analysis in prose is passed on as text.
    let (c, _) = mock_client(three("They mostly agree on 4."), json!({}));
    let r = fuse(
        &c,
        json!({"pool": ["mock/a", "mock/b", "mock/c"], "judge": "mock/judge"}),
    )
    .await;
    assert_eq!(r.parse_path, ParsePath::Raw);
    assert_eq!(r.analysis, Some(json!("They mostly agree on 4.")));
}

#[tokio::test]
async fn a_one_call_merge_returns_what_follows_the_marker() {
    let judge = "A and B agree on 4; C is wrong.\n**FINAL ANSWER:** 2+2 = 4.";
    let (c, _) = mock_client(three(judge), json!({}));
    let opts =
        json!({"pool": ["mock/a", "mock/b", "mock/c"], "judge": "mock/judge", "single_call": true});
    let r = fuse(&c, opts.clone()).await;
    assert_eq!(
        (r.answer.as_str(), r.parse_path),
        ("2+2 = 4.", ParsePath::Marker)
    );
    assert_eq!(r.analysis, Some(json!("A and B agree on 4; C is wrong.")));
    assert_eq!(r.calls, 4);
    let (c, _) = mock_client(three("Just 4."), json!({}));
    let r = fuse(&c, opts).await;
    assert_eq!(
        (r.answer.as_str(), r.parse_path),
        ("Just 4.", ParsePath::NoMarker)
    );
}

#[tokio::test]
async fn a_merge_whose_judge_fails_is_a_flagged_fallback() {
    let models = json!({"a": {"text": "x y"}, "b": {"text": "z w"}, "judge": {"fail": {"kind": "overloaded"}}});
    let (c, _) = mock_client(models, json!({}));
    let r = fuse(
        &c,
        json!({"pool": ["mock/a", "mock/b"], "judge": "mock/judge"}),
    )
    .await;
    assert_eq!(
        (r.parse_path, r.degraded),
        (ParsePath::FallbackPrimary, true)
    );
    assert_eq!(r.answer, "x y");
    assert_eq!(r.judge.len(), 1, "no synthesis after a failed analysis");
}

#[tokio::test]
async fn vote_counts_extracted_answers_without_a_judge() {
    let models = json!({
        "a": {"text": "Reasoning... Final answer: 4"},
        "b": {"text": "So \\boxed{4.0}"},
        "c": {"text": "Final answer: 5"},
    });
    let (c, _) = mock_client(models, json!({}));
    let r = fuse(
        &c,
        json!({"pool": ["mock/a", "mock/b", "mock/c"], "mode": "vote"}),
    )
    .await;
    assert_eq!((r.parse_path, r.calls), (ParsePath::Vote, 3));
    assert_eq!(r.answer, "Reasoning... Final answer: 4");
    let v = r.vote.as_ref().unwrap();
    assert_eq!(v.answer.as_deref(), Some("4"));
    assert!((v.confidence - 2.0 / 3.0).abs() < 1e-9);
    assert_eq!((v.counts[0].answer.as_str(), v.counts[0].votes), ("4", 2));
    let answers: Vec<_> = r
        .candidates
        .iter()
        .map(|c| c.answer.clone().unwrap())
        .collect();
    assert_eq!(answers, vec!["4", "4.0", "5"]);
    assert!(r.judge.is_empty());
}

#[tokio::test]
async fn a_tied_vote_goes_to_the_judge_and_its_answer_is_validated() {
    let models = json!({
        "a": {"text": "Final answer: 4"},
        "b": {"text": "Final answer: 5"},
        "judge": {"text": "The most consistent response is Response B."},
        "lost": {"text": "{\"winner\": \"Q\"}"},
    });
    let (c, _) = mock_client(models, json!({}));
    let opts = |judge: Option<&str>| {
        let mut o = json!({"pool": ["mock/a", "mock/b"], "mode": "vote", "seed": 3});
        if let Some(j) = judge {
            o["judge"] = json!(j);
        }
        o
    };
    let r = fuse(&c, opts(Some("mock/judge"))).await;
    assert_eq!(
        (r.winner.as_deref(), r.parse_path),
        (Some("B"), ParsePath::Pattern)
    );
    assert_eq!(r.answer, text_of(&r, "B"));
    assert!(r.vote.as_ref().unwrap().tie);
    assert_eq!(r.judge[0].purpose, JudgePurpose::TieBreak);
    // A judge naming no tied candidate: the non-LLM choice, flagged.
    let r = fuse(&c, opts(Some("mock/lost"))).await;
    assert_eq!(
        (r.parse_path, r.degraded),
        (ParsePath::FallbackPrimary, true)
    );
    assert_eq!(r.answer, "Final answer: 4");
    // No judge: the non-LLM choice, said in a warning.
    let r = fuse(&c, opts(None)).await;
    assert_eq!(r.parse_path, ParsePath::FallbackPrimary);
    assert!(
        r.warnings.iter().any(|w| w.contains("no judge")),
        "{:?}",
        r.warnings
    );
    assert_eq!(r.calls, 2);
}

#[tokio::test]
async fn vote_extractors_are_configurable() {
    let models = json!({
        "a": {"text": "I think the answer is (C)."},
        "b": {"text": "C"},
        "c": {"text": "Between (A) and (B), (B)."},
        "j1": {"text": "{\"result\": {\"value\": 12}}"},
        "j2": {"text": "Result: {\"result\": {\"value\": \"12\"}}"},
        "j3": {"text": "{\"result\": {\"value\": 13}}"},
    });
    let (c, _) = mock_client(models, json!({}));
    let r = fuse(
        &c,
        json!({"pool": ["mock/a", "mock/b", "mock/c"], "mode": "vote", "extractor": "letter"}),
    )
    .await;
    assert_eq!(r.vote.as_ref().unwrap().answer.as_deref(), Some("C"));
    let r = fuse(&c, json!({"pool": ["mock/j1", "mock/j2", "mock/j3"], "mode": "vote", "extractor": {"json": "result.value"}})).await;
    assert_eq!(r.vote.as_ref().unwrap().answer.as_deref(), Some("12"));
    assert_eq!(r.answer, "{\"result\": {\"value\": 12}}");
}

#[tokio::test]
async fn a_debate_stops_when_nothing_changes_and_ends_with_a_vote() {
    let models = json!({"a": {"text": "4"}, "b": {"text": "5"}, "c": {"text": "4"}});
    let (c, ev) = mock_client(models, json!({}));
    let r = fuse(
        &c,
        json!({"pool": ["mock/a", "mock/b", "mock/c"], "mode": "debate", "rounds": 2}),
    )
    .await;
    assert_eq!(r.stopped_early.as_deref(), Some("no_change"));
    assert_eq!(r.rounds.len(), 2, "round 0 and round 1");
    assert_eq!(r.calls, 6);
    assert_eq!((r.parse_path, r.answer.as_str()), (ParsePath::Vote, "4"));
    assert!(r.candidates.iter().all(|c| c.round == 1));
    let round0: u64 = r.rounds[0]
        .candidates
        .iter()
        .map(|c| c.usage.input_tokens)
        .sum();
    let total: u64 = r.candidates.iter().map(|c| c.usage.input_tokens).sum();
    assert!(total > round0, "a member's usage sums its rounds");
    let calls = ev.level(&c, Level::Call);
    assert_eq!(calls.len(), 6);
    assert!(calls
        .iter()
        .all(|e| e.parent_id.as_deref() == Some(r.id.as_str())));
}

#[tokio::test]
async fn a_debate_that_agrees_at_once_needs_no_round_and_no_judge() {
    let (c, _) = mock_client(
        json!({"a": {"text": "Paris."}, "b": {"text": "paris"}}),
        json!({}),
    );
    let r = fuse(
        &c,
        json!({"pool": ["mock/a", "mock/b"], "judge": "mock/j", "mode": "debate"}),
    )
    .await;
    assert_eq!(r.stopped_early.as_deref(), Some("agreement"));
    assert_eq!(
        (r.parse_path, r.calls, r.rounds.len()),
        (ParsePath::Agreement, 2, 1)
    );
}

#[tokio::test]
async fn a_debate_drops_a_failed_member_and_breaks_its_tie_with_the_judge() {
    let models = json!({
        "a": {"text": "4"}, "b": {"text": "5"}, "c": {"fail": {"kind": "server"}},
        "judge": {"text": "Winner: [[A]]"},
    });
    let (c, _) = mock_client(models, json!({}));
    let r = fuse(&c, json!({"pool": ["mock/a", "mock/b", "mock/c"], "judge": "mock/judge", "mode": "debate", "seed": 5})).await;
    assert_eq!(
        r.calls,
        3 + 2 + 1,
        "round 0, round 1 without the failed member, the tie-break"
    );
    assert_eq!(r.candidates[2].status, CandidateStatus::Failed);
    assert_eq!(
        (r.winner.as_deref(), r.parse_path),
        (Some("A"), ParsePath::Pattern)
    );
    assert_eq!(r.answer, text_of(&r, "A"));
}

#[tokio::test]
async fn a_debate_of_free_text_ends_with_best_of() {
    let models = json!({
        "a": {"text": "A long answer about the history of arithmetic.\nIt goes on."},
        "b": {"text": "Another long answer.\nWith several lines of text."},
        "judge": {"text": verdict("B", &[("A", 3), ("B", 8)])},
    });
    let (c, _) = mock_client(models, json!({}));
    let r = fuse(
        &c,
        json!({"pool": ["mock/a", "mock/b"], "judge": "mock/judge", "mode": "debate"}),
    )
    .await;
    assert_eq!(r.judge[0].purpose, JudgePurpose::Verdict);
    assert_eq!(
        (r.winner.as_deref(), r.parse_path),
        (Some("B"), ParsePath::Json)
    );
    assert_eq!(r.calls, 2 + 2 + 1);
}

#[tokio::test]
async fn agreeing_answers_skip_the_judge_and_self_fusion_samples_one_model() {
    let (c, _) = mock_client(
        json!({"a": {"text": "Paris"}, "judge": {"text": verdict("A", &[])}}),
        json!({}),
    );
    let r = fuse(&c, json!({"pool": {"model": "mock/a", "samples": 3}, "judge": "mock/judge", "mode": "best-of"})).await;
    assert_eq!(
        (r.parse_path, r.calls, r.answer.as_str()),
        (ParsePath::Agreement, 3, "Paris")
    );
    assert_eq!(r.candidates.len(), 3);
    assert!(r.judge.is_empty());
    let r = fuse(&c, json!({"pool": {"model": "mock/a", "samples": 3}, "judge": "mock/judge", "mode": "best-of", "agreement_shortcut": false})).await;
    assert_eq!(r.calls, 4, "the short-cut can be turned off");
}

#[tokio::test]
async fn no_usable_answer_is_an_error_naming_each_members_failure() {
    let models = json!({
        "a": {"fail": {"kind": "rate_limited", "message": "slow down"}},
        "b": {"fail": {"kind": "server"}},
        "empty": {"text": ""},
    });
    let (c, ev) = mock_client(models, json!({}));
    let e = fuse_err(
        &c,
        json!({"pool": ["mock/a", "mock/b", "mock/empty"], "judge": "mock/j"}),
    )
    .await;
    assert_eq!(e.kind, ErrorKind::AllAttemptsFailed);
    for part in [
        "`mock/a`: rate_limited: slow down",
        "`mock/b`: server",
        "`mock/empty`: invalid_response: the member answered with no text",
    ] {
        assert!(e.message.contains(part), "{part} in {}", e.message);
    }
    assert_eq!(e.attempts.len(), 3);
    let f = ev.level(&c, Level::Fusion);
    assert_eq!(
        (f.len(), f[0].outcome, f[0].error_kind),
        (1, Outcome::Error, Some(ErrorKind::AllAttemptsFailed))
    );
}

#[tokio::test]
async fn one_usable_answer_is_returned_degraded_without_a_judge() {
    let models = json!({"a": {"fail": {"kind": "server"}}, "b": {"text": "only me", "finish_reason": "length"}});
    let (c, _) = mock_client(models, json!({}));
    let r = fuse(
        &c,
        json!({"pool": ["mock/a", "mock/b"], "judge": "mock/j", "mode": "best-of"}),
    )
    .await;
    assert_eq!(
        (r.parse_path, r.degraded, r.answer.as_str()),
        (ParsePath::Single, true, "only me")
    );
    assert_eq!(
        r.candidates[1].status,
        CandidateStatus::Truncated,
        "truncated, yet usable"
    );
    assert_eq!(r.finish_reason, polyfuse_core::FinishReason::Length);
    assert_eq!(r.calls, 2);
    assert!(!r.warnings.is_empty());
}

#[tokio::test]
async fn a_judge_in_the_pool_is_warned_about() {
    let (c, _) = mock_client(three(&verdict("A", &[])), json!({}));
    let r = fuse(&c, best_of(json!({"pool": ["mock/a", "mock/judge"]}))).await;
    assert!(
        r.warnings.iter().any(|w| w.contains("also a member")),
        "{:?}",
        r.warnings
    );
}

#[tokio::test]
async fn bad_pools_and_judges_are_rejected_before_anything_is_sent() {
    let (c, ev) = mock_client(json!({}), json!({}));
    let e = fuse_err(&c, json!({"pool": ["mock/a", "nope/x"], "judge": "mock/j"})).await;
    assert_eq!(e.kind, ErrorKind::Config);
    assert!(
        e.message.starts_with("option `pool[1]`: model `nope/x`"),
        "{}",
        e.message
    );
    let e = fuse_err(&c, json!({"pool": ["mock/a"], "judge": "route/none"})).await;
    assert!(e.message.starts_with("option `judge`"), "{}", e.message);
    assert!(ev.all(&c).is_empty());
}
