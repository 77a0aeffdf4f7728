"""Retries, fallback, mid-stream restarts, timeouts, hedging, cancellation of hedged calls and
circuit breakers, through the Python binding against the mock server over real sockets (the
Python twin of tests/node/resilience.test.mjs). Timings are asserted as loose bounds (a 2-core CI
box may be slow), never as exact values."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any, Dict, List, Optional

import pytest

import polyfuse
from conftest import API_KEY, MockServer


def config(server: MockServer, policy: Optional[Dict[str, Any]] = None, routes: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """The mock server as provider `mockhttp`, one attempt per target, the default breaker."""
    return {
        "env_providers": False,
        "providers": {"mockhttp": {"format": "openai", "base_url": server.base_url, "api_key": API_KEY}},
        "policy": {"max_attempts_per_target": 1, **(policy or {})},
        "routes": routes or {},
    }


def words(n: int) -> str:
    return " ".join(f"w{i}" for i in range(1, n + 1))


def text_after_last_restart(events: List[polyfuse.StreamEvent]) -> str:
    """The text of the events after the last Restart (all of it when there was none)."""
    last = max((i for i, e in enumerate(events) if isinstance(e, polyfuse.Restart)), default=-1)
    return "".join(e.text for e in events[last + 1 :] if isinstance(e, polyfuse.TextDelta))


async def collect(stream: polyfuse.AsyncStream) -> List[polyfuse.StreamEvent]:
    return [ev async for ev in stream]


async def disconnected(server: MockServer, before: int, n: int = 1, timeout: float = 5.0) -> Optional[Dict[str, Any]]:
    """The stats once `client_disconnects` grew by `n` and every exchange has ended, else None."""

    def done(s: Dict[str, Any]) -> bool:
        return s["client_disconnects"] >= before + n and s["in_flight"] == 0

    stats = await asyncio.to_thread(server.wait_for, done, timeout)
    return stats if done(stats) else None


async def test_429_with_retry_after_is_retried_after_about_2s(mock_server: MockServer) -> None:
    client = polyfuse.Client(config(mock_server, policy={"max_attempts_per_target": 2}))
    key = f"retry-{uuid.uuid4().hex}"
    model = f"mockhttp/gpt-4o-mini;status=429;retry_after=2;fail_times=1;key={key}"
    started = time.monotonic()
    r = await client.complete(model, "Hi")
    elapsed = time.monotonic() - started
    assert elapsed >= 1.9, f"waited {elapsed:.3f} s, Retry-After asked for 2 s"
    assert elapsed < 6.0, f"took {elapsed:.3f} s"
    assert r.text == "Mock answer from gpt-4o-mini: Hi"
    assert len(r.attempts) == 2
    first, second = r.attempts
    assert (first.outcome, first.error_kind, first.status, first.model) == ("error", "rate_limited", 429, model)
    assert (second.outcome, second.error_kind) == ("ok", None)
    assert mock_server.stats()["by_key"][key] == 2


async def test_route_falls_back_from_503_to_the_next_target(mock_server: MockServer) -> None:
    client = polyfuse.Client(config(mock_server, routes={"r": {"targets": ["mockhttp/a;status=503", "mockhttp/b"]}}))
    for name in ("route/r", "r"):
        r = await client.complete(name, "Hi")
        assert r.model == "mockhttp/b"
        assert r.provider == "mockhttp"
        assert r.route == "r"
        assert r.text == "Mock answer from b: Hi"
        assert [(a.model, a.outcome, a.status) for a in r.attempts] == [
            ("mockhttp/a;status=503", "error", 503),
            ("mockhttp/b", "ok", None),
        ]


def test_sync_client_route_fallback(mock_server: MockServer) -> None:
    client = polyfuse.SyncClient(config(mock_server, routes={"r": {"targets": ["mockhttp/a;status=503", "mockhttp/b"]}}))
    r = client.complete("route/r", "Hi")
    assert r.model == "mockhttp/b" and r.text == "Mock answer from b: Hi"
    events = list(client.stream("r", "Hi"))
    final = events[-1]
    assert isinstance(final, polyfuse.Final) and final.response.model == "mockhttp/b"


async def test_stream_cut_mid_way_restarts_on_the_healthy_target(mock_server: MockServer) -> None:
    cut, healthy = "mockhttp/gpt-4o-mini;words=60;cut_after=40", "mockhttp/gpt-4o-mini;words=60"
    client = polyfuse.Client(config(mock_server, routes={"c": {"targets": [cut, healthy]}}))
    events = await collect(client.stream("route/c", "Tell me"))
    restarts = [e for e in events if isinstance(e, polyfuse.Restart)]
    assert len(restarts) == 1
    restart = restarts[0]
    at = events.index(restart)
    # Everything before the restart is the cut attempt's 40 words.
    before = events[:at]
    assert all(isinstance(e, polyfuse.TextDelta) for e in before)
    assert "".join(e.text for e in before if isinstance(e, polyfuse.TextDelta)) == words(40)
    assert restart.type == "restart"
    assert restart.model == healthy
    assert restart.provider == "mockhttp"
    assert isinstance(restart.reason, str) and restart.reason
    final = events[-1]
    assert isinstance(final, polyfuse.Final)
    assert sum(isinstance(e, polyfuse.Final) for e in events) == 1
    assert final.response.text == words(60)
    assert final.response.text == text_after_last_restart(events)
    assert final.response.model == healthy
    assert [a.outcome for a in final.response.attempts] == ["error", "ok"]


async def test_hanging_target_times_out_and_the_fallback_answers(mock_server: MockServer) -> None:
    client = polyfuse.Client(
        config(
            mock_server,
            policy={"attempt_timeout_ms": 300, "first_token_timeout_ms": 300},
            routes={"f": {"targets": ["mockhttp/hung;hang=1", "mockhttp/ok"]}},
        )
    )
    before = mock_server.stats()["client_disconnects"]
    started = time.monotonic()
    r = await client.complete("f", "Hi")
    elapsed = time.monotonic() - started
    assert r.model == "mockhttp/ok"
    assert 0.28 <= elapsed < 3.0, f"took {elapsed:.3f} s"
    assert r.attempts[0].error_kind == "timeout"
    assert r.attempts[1].outcome == "ok"
    assert await disconnected(mock_server, before), "the hung connection was closed"

    # The same for a stream: no first token within first_token_timeout_ms.
    before = mock_server.stats()["client_disconnects"]
    started = time.monotonic()
    events = await collect(client.stream("f", "Hi"))
    elapsed = time.monotonic() - started
    assert 0.28 <= elapsed < 3.0, f"took {elapsed:.3f} s"
    assert not any(isinstance(e, polyfuse.Restart) for e in events), "no output was shown before the fallback"
    final = events[-1]
    assert isinstance(final, polyfuse.Final)
    assert final.response.model == "mockhttp/ok"
    assert final.response.text == "Mock answer from ok: Hi"
    assert await disconnected(mock_server, before), "the hung connection was closed"


async def test_hedging_fast_backup_answers_and_slow_request_is_closed(mock_server: MockServer) -> None:
    slow = "mockhttp/slow;latency_ms=5000"
    client = polyfuse.Client(config(mock_server, routes={"h": {"targets": [slow, "mockhttp/fast"], "hedge": {"delay_ms": 200}}}))
    before = mock_server.stats()["client_disconnects"]
    started = time.monotonic()
    r = await client.complete("h", "Hi")
    elapsed = time.monotonic() - started
    assert r.model == "mockhttp/fast"
    assert 0.18 <= elapsed < 2.0, f"took {elapsed:.3f} s"
    assert {a.model: a.outcome for a in r.attempts} == {"mockhttp/fast": "ok", slow: "cancelled"}
    assert await disconnected(mock_server, before, 1, 2.0), "the mock server saw the slow connection closed"

    # A hedged stream: the backup's first event wins the race.
    before = mock_server.stats()["client_disconnects"]
    started = time.monotonic()
    events = await collect(client.stream("h", "Hi"))
    elapsed = time.monotonic() - started
    assert elapsed < 2.0, f"took {elapsed:.3f} s"
    assert not any(isinstance(e, polyfuse.Restart) for e in events)
    final = events[-1]
    assert isinstance(final, polyfuse.Final)
    assert final.response.model == "mockhttp/fast"
    assert final.response.text == "Mock answer from fast: Hi"
    assert await disconnected(mock_server, before, 1, 2.0), "the mock server saw the slow stream closed"


@pytest.mark.parametrize("how", ["complete", "stream"])
async def test_cancel_while_a_hedge_is_in_flight_closes_every_upstream_connection(mock_server: MockServer, how: str) -> None:
    client = polyfuse.Client(
        config(mock_server, routes={"ha": {"targets": ["mockhttp/a;hang=1", "mockhttp/b;hang=1"], "hedge": {"delay_ms": 100}}})
    )
    before = mock_server.stats()
    if how == "complete":
        task: "asyncio.Task[Any]" = asyncio.create_task(client.complete("ha", "x"))
    else:
        task = asyncio.create_task(collect(client.stream("ha", "x")))
    both = await asyncio.to_thread(mock_server.wait_for, lambda s: s["in_flight"] >= 2)
    assert both["in_flight"] >= 2, f"{how}: the primary and the hedge both reached the server"
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    elapsed = time.monotonic() - started
    assert elapsed < 1.0, f"{how}: cancelled after {elapsed:.3f} s"
    after = await disconnected(mock_server, before["client_disconnects"], 2, 3.0)
    assert after, f"{how}: both upstream connections were closed"
    assert after["in_flight"] == 0
    assert after["requests"] - before["requests"] == 2


async def test_breaker_opens_after_failure_threshold_then_half_open_and_closed(mock_server: MockServer) -> None:
    client = polyfuse.Client(
        config(mock_server, policy={"breaker": {"failure_threshold": 3, "cooldown_ms": 600, "wait_when_all_open": False}})
    )
    assert client.health() == []
    key = f"brk-{uuid.uuid4().hex}"
    model = f"mockhttp/gpt-4o-mini;status=503;fail_times=3;key={key}"
    for i in range(1, 4):
        with pytest.raises(polyfuse.OverloadedError) as info:
            await client.complete(model, "x")
        assert info.value.status_code == 503
        [h] = client.health()
        assert isinstance(h, polyfuse.TargetHealth)
        assert h.target == model
        assert h.consecutive_failures == i
        assert h.state == ("closed" if i < 3 else "open")
    [opened] = client.health()
    assert opened.retry_in_ms is not None and 0 < opened.retry_in_ms <= 600, opened

    # While open, calls fail fast without reaching the server.
    requests = mock_server.stats()["requests"]
    with pytest.raises(polyfuse.PolyfuseError) as info:
        await client.complete(model, "x")
    assert info.value.kind == "overloaded"
    assert "breaker" in info.value.message
    assert mock_server.stats()["requests"] == requests

    # After the cooldown one probe is let through; it succeeds (fail_times=3) and closes the breaker.
    deadline = time.monotonic() + 3
    while client.health()[0].state != "half_open" and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    [half] = client.health()
    assert half.state == "half_open", "the breaker turned half-open after the cooldown"
    assert half.retry_in_ms == 0
    r = await client.complete(model, "x")
    assert r.finish_reason == "stop"
    assert client.health() == [polyfuse.TargetHealth(target=model, state="closed", consecutive_failures=0, retry_in_ms=None)]


def test_sync_client_health(mock_server: MockServer) -> None:
    client = polyfuse.SyncClient(config(mock_server, policy={"breaker": {"failure_threshold": 1, "cooldown_ms": 60_000}}))
    assert client.health() == []
    model = f"mockhttp/gpt-4o-mini;status=500;key=sync-brk-{uuid.uuid4().hex}"
    with pytest.raises(polyfuse.ServerError):
        client.complete(model, "x")
    [h] = client.health()
    assert (h.target, h.state, h.consecutive_failures) == (model, "open", 1)
    assert h.retry_in_ms is not None and 0 < h.retry_in_ms <= 60_000
