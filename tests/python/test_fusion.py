"""Fusion from Python over the real mock server: every mode with scripted members and a scripted
judge (their answers are the mock server's `text=` knob), the `fusion/<name>` model string in
`complete` and `stream`, streamed fusions, failed members, stragglers cancelled at quorum and grace
(the server sees their connections close), and task cancellation closing every member's."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Dict, List

import pytest

import polyfuse
from conftest import MockServer

M = "mockhttp"


def judge(winner: str, scores: Dict[str, int]) -> str:
    """A judge model whose answer is a verdict naming `winner` (no `;` in it: a knob separator)."""
    verdict = {"scores": scores, "winner": winner, "confidence": "high", "rationale": "it is right"}
    return f"{M}/judge-model;text=Notes: checked each answer. {json.dumps(verdict)}"


async def test_best_of_returns_the_judged_winner_verbatim_with_scores(config: Dict[str, Any], usage_log: Any) -> None:
    client = polyfuse.Client(config, on_usage=usage_log)
    pool = [f"{M}/alpha;text=The answer is 4.", f"{M}/beta;text=It is four.", f"{M}/gamma;text=Maybe 5."]
    r = await client.fuse("What is 2+2?", pool=pool, judge=judge("B", {"A": 6, "B": 9, "C": 2}), mode="best-of", seed=7)
    assert isinstance(r, polyfuse.FusionResult)
    assert (r.mode, r.parse_path, r.winner, r.calls, r.degraded) == ("best-of", "json", "B", 4, False)
    winner = r.winner_candidate
    assert winner is not None and r.answer == winner.text and winner.score == 9
    assert r.scores == {"A": 6, "B": 9, "C": 2}
    assert [c.model for c in r.candidates] == pool
    assert all(c.status == "ok" and c.usable for c in r.candidates)
    assert sorted(c.label for c in r.candidates if c.label) == ["A", "B", "C"]
    assert [j.purpose for j in r.judge] == ["verdict"] and r.judge[0].ok
    assert r.usage.output_tokens == sum(c.usage.output_tokens for c in r.candidates) + r.judge[0].usage.output_tokens
    # The same seed gives the same order.
    again = await client.fuse("What is 2+2?", pool=pool, judge=judge("B", {}), mode="best-of", seed=7)
    assert again.order == r.order and again.answer == r.answer
    await client.aflush_usage()
    calls = [e for e in usage_log.events if e.parent_id == r.id]
    assert len(calls) == 4
    fusion_events = [e for e in usage_log.all if e.level == "fusion" and e.request_id == r.id]
    assert len(fusion_events) == 1 and fusion_events[0].usage.output_tokens == r.usage.output_tokens
    assert r.to_dict()["id"] == r.id


async def test_merge_two_step_and_one_call_with_the_marker(config: Dict[str, Any]) -> None:
    client = polyfuse.Client(config)
    pool = [f"{M}/alpha;text=Paris.", f"{M}/beta;text=Lyon, I think."]
    r = await client.fuse("Capital of France?", pool=pool, judge=f"{M}/judge;text=Paris is the capital.")
    assert (r.mode, r.answer, r.calls) == ("merge", "Paris is the capital.", 4)
    assert [j.purpose for j in r.judge] == ["analysis", "synthesis"]
    one = await client.fuse(
        "Capital of France?",
        pool=pool,
        judge=f"{M}/judge;text=B is wrong. FINAL ANSWER: Paris.",
        mode="merge",
        single_call=True,
    )
    assert (one.answer, one.parse_path, one.calls) == ("Paris.", "marker", 3)
    assert [j.purpose for j in one.judge] == ["merge"]


async def test_vote_counts_extracted_answers_without_a_judge(config: Dict[str, Any]) -> None:
    client = polyfuse.Client(config)
    pool = [f"{M}/a;text=Work... Final answer: 4", f"{M}/b;text=Final answer: 4", f"{M}/c;text=Final answer: 5"]
    r = await client.fuse("2+2?", pool=pool, mode="vote", extractor="final_answer")
    assert (r.mode, r.parse_path, r.calls, r.judge) == ("vote", "vote", 3, [])
    assert r.vote is not None and not r.vote.tie
    top = r.vote.counts[0]
    assert (top.answer, top.votes) == ("4", 2)
    assert r.vote.confidence == pytest.approx(2 / 3)
    assert r.winner_candidate is not None and r.winner_candidate.answer == "4"


async def test_debate_runs_a_revision_round(config: Dict[str, Any]) -> None:
    client = polyfuse.Client(config)
    r = await client.fuse(
        "2+2?", pool=[f"{M}/one;text=4", f"{M}/two;text=5"], judge=judge("A", {}), mode="debate", rounds=1
    )
    assert r.mode == "debate"
    assert [d.round for d in r.rounds] == [0, 1]
    assert all(len(d.candidates) == 2 for d in r.rounds)
    assert r.answer in ("4", "5")


async def test_the_fusion_model_string_in_complete_and_stream(mock_server: MockServer) -> None:
    from conftest import make_config

    cfg = make_config(mock_server.base_url)
    cfg["fusions"] = {"panel": {"pool": [f"{M}/p1;text=4", f"{M}/p2;text=four"], "judge": judge("A", {}), "mode": "best-of"}}
    client = polyfuse.Client(cfg)
    r = await client.complete("fusion/panel", "2+2?")
    assert r.model == "fusion/panel" and r.provider == "fusion"
    assert isinstance(r.fusion, polyfuse.FusionResult)
    assert r.fusion.name == "panel" and r.text == r.fusion.answer and r.fusion.calls == 3
    assert r.to_dict()["fusion"]["id"] == r.fusion.id
    events = [ev async for ev in client.stream("fusion/panel", "2+2?")]
    final = events[-1]
    assert isinstance(final, polyfuse.Final) and final.response.fusion is not None
    assert "".join(e.text for e in events if isinstance(e, polyfuse.TextDelta)) == final.response.text
    with pytest.raises(polyfuse.ConfigError, match="no fusion named `nope`"):
        await client.complete("fusion/nope", "2+2?")


async def test_fuse_stream_reports_members_then_streams_the_answer(config: Dict[str, Any]) -> None:
    client = polyfuse.Client(config)
    pool = [f"{M}/a;text=Paris.;latency_ms=10", f"{M}/b;text=Lyon.;latency_ms=40"]
    events: List[Any] = []
    async for ev in client.fuse_stream(
        "Capital?", pool=pool, judge=f"{M}/judge;text=A is right. FINAL ANSWER: Paris it is.", single_call=True
    ):
        events.append(ev)
    assert isinstance(events[0], polyfuse.FusionStarted) and events[0].members == pool
    members = [e for e in events if isinstance(e, polyfuse.MemberDone)]
    assert sorted(m.candidate.model for m in members) == sorted(pool)
    assert any(isinstance(e, polyfuse.Judging) and e.purpose == "merge" for e in events)
    final = events[-1]
    assert isinstance(final, polyfuse.FusionFinal)
    deltas = [e.text for e in events if isinstance(e, polyfuse.TextDelta)]
    assert len(deltas) >= 2 and "".join(deltas) == final.result.answer == "Paris it is."
    first_delta = next(i for i, e in enumerate(events) if isinstance(e, polyfuse.TextDelta))
    assert all(events.index(m) < first_delta for m in members)


async def test_a_failed_member_is_reported_and_the_rest_fused(config: Dict[str, Any]) -> None:
    client = polyfuse.Client(config)
    pool = [f"{M}/a;text=4", f"{M}/b;status=500", f"{M}/c;text=four"]
    r = await client.fuse("2+2?", pool=pool, judge=judge("A", {}), mode="best-of")
    failed = r.candidates[1]
    assert (failed.status, failed.error_kind, failed.label, failed.usable) == ("failed", "server", None, False)
    assert failed.error
    assert r.parse_path == "json" and r.answer in ("4", "four")
    one = await client.fuse("2+2?", pool=[f"{M}/a;text=4", f"{M}/b;status=500"], judge=judge("A", {}))
    assert (one.degraded, one.parse_path, one.answer, one.calls) == (True, "single", "4", 2)
    with pytest.raises(polyfuse.PolyfuseError) as info:
        await client.fuse("2+2?", pool=[f"{M}/x;status=500", f"{M}/y;status=503"], judge=judge("A", {}))
    assert "x;status=500" in str(info.value) and "y;status=503" in str(info.value)


async def test_stragglers_after_quorum_and_grace_are_cancelled(config: Dict[str, Any], mock_server: MockServer) -> None:
    client = polyfuse.Client(config)
    before = mock_server.stats()["client_disconnects"]
    pool = [f"{M}/a;text=4;latency_ms=20", f"{M}/b;text=four;latency_ms=40", f"{M}/slow;hang=1"]
    r = await client.fuse("2+2?", pool=pool, judge=judge("A", {}), mode="best-of", quorum=2, grace_ms=100)
    assert [c.status for c in r.candidates] == ["ok", "ok", "cancelled"]
    after = await asyncio.to_thread(mock_server.wait_for, lambda s: s["client_disconnects"] >= before + 1)
    assert after["client_disconnects"] == before + 1


async def test_cancelling_the_task_cancels_every_member(config: Dict[str, Any], mock_server: MockServer, usage_log: Any) -> None:
    client = polyfuse.Client(config, on_usage=usage_log)
    before = mock_server.stats()
    pool = [f"{M}/a;hang=1", f"{M}/b;hang=1", f"{M}/c;hang=1"]
    task = asyncio.create_task(client.fuse("2+2?", pool=pool, judge=judge("A", {})))
    held = await asyncio.to_thread(mock_server.wait_for, lambda s: s["requests"] >= before["requests"] + 3)
    assert held["requests"] == before["requests"] + 3
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    after = await asyncio.to_thread(
        mock_server.wait_for, lambda s: s["client_disconnects"] >= before["client_disconnects"] + 3
    )
    assert after["client_disconnects"] == before["client_disconnects"] + 3
    await client.aflush_usage()
    members = [e for e in usage_log.events if e.parent_id is not None and e.model.startswith(M)]
    assert [e.outcome for e in members] == ["cancelled"] * 3


async def test_leaving_a_fused_stream_cancels_its_members(config: Dict[str, Any], mock_server: MockServer) -> None:
    client = polyfuse.Client(config)
    before = mock_server.stats()["client_disconnects"]
    pool = [f"{M}/a;hang=1", f"{M}/b;hang=1", f"{M}/c;text=x"]
    async for ev in client.fuse_stream("q", pool=pool, judge=judge("A", {})):
        if isinstance(ev, polyfuse.MemberDone):
            break
    after = await asyncio.to_thread(mock_server.wait_for, lambda s: s["client_disconnects"] >= before + 2)
    assert after["client_disconnects"] == before + 2


def test_sync_client_fuses_and_streams(config: Dict[str, Any]) -> None:
    client = polyfuse.SyncClient(config)
    pool = [f"{M}/a;text=Final answer: 7", f"{M}/b;text=Final answer: 7"]
    r = client.fuse("3+4?", pool=pool, mode="vote")
    assert (r.answer, r.parse_path) == ("Final answer: 7", "agreement")
    events = list(client.fuse_stream("3+4?", pool=pool, mode="vote"))
    assert isinstance(events[0], polyfuse.FusionStarted) and isinstance(events[-1], polyfuse.FusionFinal)


def test_bad_options_name_what_was_wrong(config: Dict[str, Any]) -> None:
    client = polyfuse.SyncClient(config)
    with pytest.raises(polyfuse.InvalidRequestError, match="option `mode`"):
        client.fuse("q", pool=[f"{M}/a"], mode="blend")  # type: ignore[arg-type]
    with pytest.raises(polyfuse.InvalidRequestError, match="rounds"):
        client.fuse("q", pool=[f"{M}/a", f"{M}/b"], mode="debate", rounds=9)
    with pytest.raises(polyfuse.InvalidRequestError, match="temprature"):
        client.fuse("q", pool=[f"{M}/a", f"{M}/b"], mode="vote", temprature=0.2)
