"""Usage accounting as an invariant: under 1,000 concurrent calls with injected failures, retries,
fallbacks and cancellations (also cancellations before anything was sent), the events are exactly
the attempts plus the logical calls, none duplicated, none missing; `client.usage()` agrees."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any, Dict, List

import pytest

import polyfuse
from conftest import API_KEY, MockServer


def _config(mock_server: MockServer) -> Dict[str, Any]:
    return {
        "env_providers": False,
        "providers": {"p": {"format": "openai", "base_url": mock_server.base_url, "api_key": API_KEY}},
        "policy": {"backoff_initial_ms": 10, "backoff_max_ms": 20, "breaker": {"enabled": False}},
        "routes": {
            # The primary always fails: two attempts, then the fallback answers.
            "fallback": {"targets": ["p/down;status=500", "p/backup;words=3"]},
            # Nothing answers.
            "dead": {"targets": ["p/a;error=invalid_api_key", "p/b;status=400"]},
        },
    }


async def _mixed(client: polyfuse.Client, n: int) -> Counter:
    outcomes: Counter = Counter()

    async def one(i: int) -> None:
        kind = i % 10
        try:
            if kind in (0, 1, 2):
                await client.complete("p/ok;words=2", f"call {i}")
            elif kind == 3:
                # Fails once (its own key), then is answered on a retry of the same target.
                await client.complete(f"p/flaky;status=503;fail_times=1;key=retry-{i}", "hi", tags={"kind": "retry"})
            elif kind == 4:
                await client.complete("fallback", "hi")
            elif kind == 5:
                await client.complete("dead", "hi")
            elif kind == 6:
                async for _ in client.stream("p/s;words=4", "hi"):
                    pass
            elif kind == 7:
                async for _ in client.stream("p/s;words=40;chunk_delay_ms=5", "hi"):
                    break  # abandoned mid-stream
            elif kind == 8:
                await asyncio.wait_for(client.complete("p/slow;latency_ms=2000", "hi"), timeout=0.05)
            else:
                # Cancelled before it ever ran: the call exists from complete()'s return.
                task = asyncio.ensure_future(client.complete("p/never", "hi"))
                task.cancel()
                await task
            outcomes["ok"] += 1
        except asyncio.TimeoutError:
            outcomes["timeout"] += 1
        except asyncio.CancelledError:
            outcomes["cancelled"] += 1
        except polyfuse.PolyfuseError:
            outcomes["error"] += 1

    await asyncio.gather(*(one(i) for i in range(n)))
    return outcomes


@pytest.mark.asyncio
async def test_events_are_exactly_attempts_plus_calls(mock_server: MockServer) -> None:
    events: List[polyfuse.UsageEvent] = []
    client = polyfuse.Client(_config(mock_server), on_usage=events.append)
    n = 1000
    outcomes = await _mixed(client, n)
    await client.aflush_usage()
    assert outcomes["error"] == n // 10
    assert outcomes["timeout"] + outcomes["cancelled"] == 2 * n // 10

    calls = [e for e in events if e.level == "call"]
    attempts = [e for e in events if e.level == "attempt"]
    assert len(calls) == n, Counter(e.outcome for e in calls)
    assert len({e.request_id for e in calls}) == n, "no call is reported twice"
    assert len({e.request_id for e in attempts}) == len(attempts), "no attempt is reported twice"
    # Every attempt event belongs to a call, and every call lists exactly its attempt events.
    by_call = Counter(e.parent_id for e in attempts)
    for call in calls:
        assert by_call[call.request_id] == len(call.attempts), call
    assert sum(len(c.attempts) for c in calls) == len(attempts)
    # The abandoned streams, the timed-out and the never-run calls are cancelled calls.
    assert Counter(c.outcome for c in calls) == Counter(
        {"ok": 6 * n // 10, "error": n // 10, "cancelled": 3 * n // 10}
    )
    # The retried and the fallen-back calls show it.
    retried = [c for c in calls if c.tags.get("kind") == "retry"]
    assert len(retried) == n // 10
    assert all([a.outcome for a in c.attempts] == ["error", "ok"] for c in retried)
    fell_back = [c for c in calls if c.route == "fallback"]
    assert all(c.fallback and len(c.attempts) == 3 for c in fell_back)
    # Cancelled before anything was sent: no attempt, nothing reached the server for them.
    never = [c for c in calls if c.model == "p/never"]
    assert len(never) == n // 10 and all(not c.attempts for c in never)
    assert "never" not in mock_server.stats()["by_key"]
    # The aggregates count the same calls.
    summary = client.usage()
    assert summary.total.calls == n
    assert summary.total.errors == n // 10 and summary.total.cancelled == 3 * n // 10
