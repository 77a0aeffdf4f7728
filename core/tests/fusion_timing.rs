//! Fusion's quorum, grace and phase deadlines under paused tokio time on the in-process mock
//! (whose latencies are tokio sleeps), streamed fusions (events in order, the merge marker,
//! `stream("fusion/<name>")`), the model-string form, and cancellation: dropping a fusion
//! cancels every member still running.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod fusion_support;

use std::time::Duration;

use fusion_support::*;
use futures_util::StreamExt;
use polyfuse_core::fusion::{CandidateStatus, JudgePurpose, ParsePath};
use polyfuse_core::{ErrorKind, FusionEvent, Level, Outcome, Request, StreamEvent};
use serde_json::json;
use tokio::time::Instant;

fn staggered(judge_ms: u64) -> serde_json::Value {
    json!({
        "fast": {"text": "4", "latency_ms": 100},
        "mid": {"text": "four", "latency_ms": 150},
        "slow": {"text": "IV", "latency_ms": 2000},
        "judge": {"text": verdict("A", &[]), "latency_ms": judge_ms},
    })
}

#[tokio::test(start_paused = true)]
async fn a_quorum_of_two_and_a_300_ms_grace_cancel_a_2_second_member() {
    let (c, ev) = mock_client(staggered(20), json!({}));
    let t = Instant::now();
    let r = fuse(
        &c,
        json!({"pool": ["mock/fast", "mock/mid", "mock/slow"], "judge": "mock/judge", "mode": "best-of",
               "quorum": 2, "grace_ms": 300}),
    )
    .await;
    let took = t.elapsed();
    // Quorum at 150 ms, grace until 450 ms, then the 20 ms judge: well before 2,000 ms.
    assert!(
        took >= Duration::from_millis(470) && took < Duration::from_millis(500),
        "{took:?}"
    );
    let slow = &r.candidates[2];
    assert_eq!(
        (slow.model.as_str(), slow.status),
        ("mock/slow", CandidateStatus::Cancelled)
    );
    assert_eq!(slow.error_kind, Some(ErrorKind::Cancelled));
    assert_eq!(
        slow.label, None,
        "a cancelled member is not shown to the judge"
    );
    assert_eq!(
        r.candidates
            .iter()
            .filter(|c| c.status == CandidateStatus::Ok)
            .count(),
        2
    );
    assert!(
        slow.usage.cost_usd.is_none() && r.usage.cost_usd.is_none(),
        "a cancelled call's cost is unknown, never 0"
    );
    // The straggler's call was really cancelled, and says so in its own usage event.
    let calls = ev.level(&c, Level::Call);
    let slow_call = calls.iter().find(|e| e.model == "mock/slow").unwrap();
    assert_eq!(slow_call.outcome, Outcome::Cancelled);
    assert_eq!(slow_call.parent_id.as_deref(), Some(r.id.as_str()));
    let fusion = &ev.level(&c, Level::Fusion)[0];
    assert_eq!(
        fusion
            .attempts
            .iter()
            .filter(|a| a.outcome == Outcome::Cancelled)
            .count(),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn without_a_grace_setting_the_grace_is_as_long_as_the_quorum_took() {
    let (c, _) = mock_client(staggered(0), json!({}));
    let t = Instant::now();
    let r = fuse(
        &c,
        json!({"pool": ["mock/fast", "mock/mid", "mock/slow"], "judge": "mock/judge", "mode": "best-of", "quorum": 2}),
    )
    .await;
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_millis(320),
        "{took:?}"
    );
    assert_eq!(r.candidates[2].status, CandidateStatus::Cancelled);
}

#[tokio::test(start_paused = true)]
async fn a_straggler_within_the_grace_is_waited_for() {
    let (c, _) = mock_client(staggered(0), json!({}));
    let r = fuse(
        &c,
        json!({"pool": ["mock/fast", "mock/mid", "mock/slow"], "judge": "mock/judge", "mode": "best-of",
               "quorum": 1, "grace_ms": 100}),
    )
    .await;
    assert_eq!(
        r.candidates[1].status,
        CandidateStatus::Ok,
        "150 ms is within 100 ms of 100 ms"
    );
    assert_eq!(r.candidates[2].status, CandidateStatus::Cancelled);
}

#[tokio::test(start_paused = true)]
async fn the_panel_deadline_cancels_whoever_is_still_running() {
    let (c, _) = mock_client(staggered(0), json!({}));
    let t = Instant::now();
    let r = fuse(
        &c,
        json!({"pool": ["mock/fast", "mock/slow"], "judge": "mock/judge", "deadline_ms": {"panel": 500}}),
    )
    .await;
    assert!(
        t.elapsed() < Duration::from_millis(510),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(r.candidates[1].status, CandidateStatus::Cancelled);
    assert_eq!((r.parse_path, r.degraded), (ParsePath::Single, true));
    // Nobody in time: the error says so for each member.
    let e = fuse_err(
        &c,
        json!({"pool": ["mock/slow"], "judge": "mock/judge", "deadline_ms": 50}),
    )
    .await;
    assert_eq!(e.kind, ErrorKind::AllAttemptsFailed);
    assert!(
        e.message.contains("`mock/slow`: cancelled"),
        "{}",
        e.message
    );
}

#[tokio::test(start_paused = true)]
async fn the_judge_deadline_falls_back_without_the_judge() {
    let (c, _) = mock_client(staggered(5_000), json!({}));
    let t = Instant::now();
    let r = fuse(
        &c,
        json!({"pool": ["mock/fast", "mock/mid"], "judge": "mock/judge", "mode": "best-of", "deadline_ms": {"judge": 1000}}),
    )
    .await;
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(1150) && took < Duration::from_millis(1200),
        "{took:?}"
    );
    assert_eq!(
        (r.parse_path, r.degraded),
        (ParsePath::FallbackPrimary, true)
    );
    assert_eq!(r.judge[0].error_kind, Some(ErrorKind::Timeout));
}

#[tokio::test(start_paused = true)]
async fn a_streamed_fusion_reports_members_then_streams_the_answer() {
    let (c, _) = mock_client(staggered(0), json!({}));
    let (events, err) = fuse_events(
        &c,
        json!({"pool": ["mock/fast", "mock/mid", "mock/slow"], "judge": "mock/judge", "mode": "best-of", "quorum": 2, "grace_ms": 10}),
    )
    .await;
    assert!(err.is_none(), "{err:?}");
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| match e {
            FusionEvent::Started { .. } => "started",
            FusionEvent::Member { .. } => "member",
            FusionEvent::Judging { .. } => "judging",
            FusionEvent::TextDelta { .. } => "text",
            FusionEvent::Restart { .. } => "restart",
            FusionEvent::Final { .. } => "final",
        })
        .collect();
    assert_eq!(
        kinds,
        ["started", "member", "member", "member", "judging", "text", "final"]
    );
    let FusionEvent::Member { candidate } = &events[1] else {
        panic!()
    };
    assert_eq!(
        (candidate.model.as_str(), candidate.status),
        ("mock/fast", CandidateStatus::Ok)
    );
    let FusionEvent::Member { candidate } = &events[3] else {
        panic!()
    };
    assert_eq!(candidate.status, CandidateStatus::Cancelled);
    let FusionEvent::Final { result } = events.last().unwrap() else {
        panic!()
    };
    let FusionEvent::TextDelta { text } = &events[5] else {
        panic!()
    };
    assert_eq!(
        text, &result.answer,
        "best-of streams the winner once the verdict parsed"
    );
    assert!(result.ttft_ms.is_some());
}

#[tokio::test(start_paused = true)]
async fn a_streamed_one_call_merge_streams_only_what_follows_the_marker() {
    let models = json!({
        "a": {"text": "4"}, "b": {"text": "5"},
        "judge": {"text": "A says 4, B says 5; 4 is right. FINAL ANSWER: The answer is 4.", "chunk_delay_ms": 10},
    });
    let (c, _) = mock_client(models, json!({}));
    let (events, err) = fuse_events(
        &c,
        json!({"pool": ["mock/a", "mock/b"], "judge": "mock/judge", "single_call": true}),
    )
    .await;
    assert!(err.is_none(), "{err:?}");
    let deltas: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            FusionEvent::TextDelta { text } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert!(deltas.len() >= 4, "streamed word by word: {deltas:?}");
    assert_eq!(deltas.concat(), "The answer is 4.");
    let FusionEvent::Final { result } = events.last().unwrap() else {
        panic!()
    };
    assert_eq!(
        (result.answer.as_str(), result.parse_path),
        ("The answer is 4.", ParsePath::Marker)
    );
    assert!(events.iter().any(|e| matches!(
        e,
        FusionEvent::Judging {
            purpose: JudgePurpose::Merge,
            ..
        }
    )));
}

#[tokio::test(start_paused = true)]
async fn a_judge_failing_mid_answer_is_withdrawn_with_a_restart() {
    let models = json!({
        "a": {"text": "x y"}, "b": {"text": "z w"},
        "judge": {"text": "{\"consensus\": []} and more words here", "fail": {"kind": "server", "after_chunks": 2}},
    });
    let (c, _) = mock_client(models, json!({}));
    let (events, err) = fuse_events(&c, json!({"pool": ["mock/a", "mock/b"], "judge": "mock/judge", "single_call": true, "judge_prompt": "Merge."})).await;
    assert!(err.is_none(), "{err:?}");
    let FusionEvent::Final { result } = events.last().unwrap() else {
        panic!()
    };
    assert_eq!(result.parse_path, ParsePath::FallbackPrimary);
    // Nothing followed the marker before the failure, so nothing was shown or withdrawn.
    assert!(!events
        .iter()
        .any(|e| matches!(e, FusionEvent::Restart { .. })));
    // In two steps the synthesis streams: its judge (a route) fails mid-answer and the next
    // target takes over, so what was shown is withdrawn with a restart, then the answer follows.
    let models = json!({
        "a": {"text": "x y"}, "b": {"text": "z w"},
        "j1": {"text": "w1 w2 w3 w4", "fail": {"kind": "server", "after_chunks": 2}},
        "j2": {"text": "final words"},
    });
    let (c, _) = mock_client(
        models,
        json!({"routes": {"jr": {"targets": ["mock/j1", "mock/j2"]}}}),
    );
    let (events, err) = fuse_events(&c, json!({"pool": ["mock/a", "mock/b"], "judge": "jr"})).await;
    assert!(err.is_none(), "{err:?}");
    let shown: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            FusionEvent::TextDelta { text } => Some(text.clone()),
            FusionEvent::Restart { .. } => Some("<restart>".to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(shown, ["w1", " w2", "<restart>", "final", " words"]);
    let FusionEvent::Final { result } = events.last().unwrap() else {
        panic!()
    };
    assert_eq!(
        (result.answer.as_str(), result.degraded),
        ("final words", false)
    );
}

#[tokio::test(start_paused = true)]
async fn a_fusion_is_a_model_string_for_complete_and_stream() {
    let fusions = json!({"fusions": {"trio": {"pool": ["mock/fast", "mock/mid"], "judge": "mock/judge", "mode": "best-of"}}});
    let (c, ev) = mock_client(staggered(0), fusions);
    let req = Request::from_values(
        "fusion/trio",
        json!("2+2?"),
        json!({"seed": 4, "tags": {"team": "x"}}),
    )
    .unwrap();
    let r = c.complete(req.clone()).await.unwrap();
    let f = r.fusion.as_deref().unwrap();
    assert_eq!(
        (r.model.as_str(), r.provider.as_str()),
        ("fusion/trio", "fusion")
    );
    assert_eq!(
        (r.text.as_str(), f.answer.as_str()),
        (text_of(f, "A"), text_of(f, "A"))
    );
    assert_eq!((f.name.as_deref(), f.seed), (Some("trio"), 4));
    assert_eq!(r.usage, f.usage);
    assert_eq!(r.attempts.len(), 3, "the calls of the fusion");
    assert_eq!(r.id, f.id);
    // Tags reach every member and judge call, and the fusion's event.
    let events = ev.all(&c);
    assert!(events
        .iter()
        .filter(|e| e.level != Level::Attempt)
        .all(|e| e.tags.get("team") == Some(&json!("x"))));
    assert_eq!(
        events
            .iter()
            .find(|e| e.level == Level::Fusion)
            .unwrap()
            .model,
        "fusion/trio"
    );
    // Streamed: the answer's text, then Final with the fusion on the response.
    let mut s = c.stream(req);
    let mut seen = Vec::new();
    while let Some(e) = s.next().await {
        seen.push(e.unwrap());
    }
    let Some(StreamEvent::Final { response }) = seen.last() else {
        panic!("{seen:?}")
    };
    let text: String = seen
        .iter()
        .filter_map(|e| match e {
            StreamEvent::TextDelta { text } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(text, response.text);
    assert!(response.fusion.is_some());
    // An unknown fusion names the configured ones.
    let e = c
        .complete(Request::from_values("fusion/nope", json!("x"), json!({})).unwrap())
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Config);
    assert!(
        e.message.contains("no fusion named `nope`") && e.message.contains("trio"),
        "{}",
        e.message
    );
    let e = c
        .complete(Request::from_values("fusion/trio", json!("x"), json!({"seed": -1})).unwrap())
        .await
        .unwrap_err();
    assert!(e.message.contains("parameter `seed`"), "{}", e.message);
}

#[tokio::test]
async fn named_fusions_are_checked_when_the_client_is_built() {
    let bad = |fusions: serde_json::Value| {
        let doc = json!({"env_providers": false, "fusions": fusions});
        match polyfuse_core::Config::from_value(doc) {
            Err(e) => e,
            Ok(cfg) => polyfuse_core::Client::new(cfg, vec![]).unwrap_err(),
        }
    };
    let e = bad(json!({"x": {"pool": ["mock/a", "openai-nope/gpt"], "judge": "mock/j"}}));
    assert!(
        e.message.starts_with("config key `fusions.x.pool[1]`"),
        "{}",
        e.message
    );
    assert_eq!(e.kind, ErrorKind::Config);
    let e = bad(json!({"x": {"pool": ["mock/a"], "mode": "best-of"}}));
    assert!(
        e.message.starts_with("config key `fusions.x.judge`"),
        "{}",
        e.message
    );
    let e = bad(json!({"x": {"pool": ["mock/a"], "judge": "mock/j", "grace": 3}}));
    assert!(
        e.message.contains("fusions.x") && e.message.contains("grace"),
        "{}",
        e.message
    );
    let e = bad(json!({"x": {"pool": ["mock/a"], "judge": "mock/j", "quorum": 3}}));
    assert!(
        e.message.starts_with("config key `fusions.x.quorum`"),
        "{}",
        e.message
    );
}

#[tokio::test(start_paused = true)]
async fn dropping_a_fusion_cancels_every_member_and_records_it() {
    let (c, ev) = mock_client(staggered(0), json!({}));
    let opts = json!({"pool": ["mock/fast", "mock/slow"], "judge": "mock/judge"});
    let r = tokio::time::timeout(
        Duration::from_millis(500),
        c.fuse(fuse_req("q", opts.clone())),
    )
    .await;
    assert!(
        r.is_err(),
        "the fusion was still waiting for the slow member"
    );
    let calls = ev.level(&c, Level::Call);
    let outcomes: Vec<_> = calls
        .iter()
        .map(|e| (e.model.as_str(), e.outcome))
        .collect();
    assert_eq!(
        outcomes,
        vec![
            ("mock/fast", Outcome::Ok),
            ("mock/slow", Outcome::Cancelled)
        ]
    );
    let fusion = ev.level(&c, Level::Fusion);
    assert_eq!((fusion.len(), fusion[0].outcome), (1, Outcome::Cancelled));
    // A stream dropped mid-way does the same.
    let mut s = c.fuse_stream(fuse_req("q", opts));
    let first = s.next().await.unwrap().unwrap();
    assert!(matches!(first, FusionEvent::Started { .. }));
    let second = s.next().await.unwrap().unwrap();
    assert!(matches!(second, FusionEvent::Member { .. }));
    drop(s);
    let calls = ev.level(&c, Level::Call);
    assert_eq!(
        calls
            .iter()
            .filter(|e| e.outcome == Outcome::Cancelled)
            .count(),
        2
    );
    assert_eq!(ev.level(&c, Level::Fusion).len(), 2);
}
