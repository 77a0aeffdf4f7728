"""Usage callbacks: one event per attempt and one per call, exactly once each (success, failure,
stream, cancellation), attempts before their call; plain and async callbacks, exceptions reported
through sys.unraisablehook."""

from __future__ import annotations

import asyncio
import sys
import threading
from typing import Any, Dict, List

import pytest

import polyfuse
from conftest import MockServer

MODEL = "mockhttp/gpt-4o-mini"


async def run_mixed_calls(client: polyfuse.Client, mock_server: MockServer) -> List[str]:
    """Makes 6 calls (ok, error, stream ok, stream error, cancelled complete, broken-off stream);
    returns the request ids that the responses / errors carry where they have one."""
    await client.complete(f"{MODEL};words=3", "hi")
    with pytest.raises(polyfuse.ServerError):
        await client.complete(f"{MODEL};status=500", "hi")
    async for _ in client.stream(f"{MODEL};words=3", "hi"):
        pass
    with pytest.raises(polyfuse.ConnectionError):
        async for _ in client.stream(f"{MODEL};words=5;cut_after=2", "hi"):
            pass
    before = mock_server.stats()["requests"]
    task = asyncio.create_task(client.complete(f"{MODEL};hang=1", "hi"))
    await asyncio.to_thread(mock_server.wait_for, lambda s: s["requests"] > before)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async for _ in client.stream(f"{MODEL};words=50;chunk_delay_ms=20", "hi"):
        break
    return []


EXPECTED = [
    ("ok", False),
    ("error", False),
    ("ok", True),
    ("error", True),
    ("cancelled", False),
    ("cancelled", True),
]


async def test_sync_callback_once_per_call(config: Dict[str, Any], mock_server: MockServer) -> None:
    events: List[polyfuse.UsageEvent] = []
    threads = set()

    def on_usage(ev: polyfuse.UsageEvent) -> None:
        threads.add(threading.current_thread().name)
        events.append(ev)

    client = polyfuse.Client(config, on_usage=on_usage)
    await run_mixed_calls(client, mock_server)
    await client.aflush_usage()
    calls = [e for e in events if e.level == "call"]
    assert sorted((e.outcome, e.streamed) for e in calls) == sorted(EXPECTED)
    assert len({e.request_id for e in calls}) == 6
    # One event per attempt, before its call's, carrying the call's id as parent.
    for call in calls:
        mine = [i for i, e in enumerate(events) if e.level == "attempt" and e.parent_id == call.request_id]
        assert len(mine) == len(call.attempts) == 1
        assert mine[0] < events.index(call)
        attempt = events[mine[0]]
        assert attempt.request_id == f"{call.request_id}.1" and attempt.attempt == 1
        assert attempt.outcome == call.outcome and attempt.usage == call.attempts[0].usage
    assert len(events) == 12
    assert threading.current_thread().name not in threads  # delivered off the caller's thread
    ok = [e for e in calls if e.outcome == "ok" and not e.streamed][0]
    assert ok.usage.output_tokens == 3 and ok.provider == "mockhttp" and ok.model == f"{MODEL};words=3"
    assert [a.outcome for a in ok.attempts] == ["ok"]
    err = [e for e in calls if e.outcome == "error" and not e.streamed][0]
    assert err.error_kind == "server"
    # Nothing more arrives later.
    await asyncio.sleep(0.2)
    await client.aflush_usage()
    assert len(events) == 12


async def test_async_callback_runs_on_the_clients_loop(config: Dict[str, Any], mock_server: MockServer) -> None:
    events: List[polyfuse.UsageEvent] = []
    loops = set()

    async def on_usage(ev: polyfuse.UsageEvent) -> None:
        loops.add(asyncio.get_running_loop())
        await asyncio.sleep(0.01)
        events.append(ev)

    client = polyfuse.Client(config, on_usage=on_usage)
    await run_mixed_calls(client, mock_server)
    await client.aflush_usage()
    assert sorted((e.outcome, e.streamed) for e in events if e.level == "call") == sorted(EXPECTED)
    assert len(events) == 12
    assert loops == {asyncio.get_running_loop()}


def test_sync_client_with_async_callback(config: Dict[str, Any]) -> None:
    events: List[polyfuse.UsageEvent] = []

    async def on_usage(ev: polyfuse.UsageEvent) -> None:
        await asyncio.sleep(0)
        events.append(ev)

    client = polyfuse.SyncClient(config, on_usage=on_usage)
    client.complete(f"{MODEL};words=2", "hi")
    list(client.stream(f"{MODEL};words=2", "hi"))
    with pytest.raises(polyfuse.RateLimitError):
        client.complete(f"{MODEL};status=429", "hi")
    client.flush_usage()
    assert [(e.outcome, e.streamed) for e in events if e.level == "call"] == [("ok", False), ("ok", True), ("error", False)]
    assert [e.level for e in events] == ["attempt", "call"] * 3


def test_several_callbacks_and_exceptions_are_reported(config: Dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    reported: List[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda args: reported.append(args))
    good: List[polyfuse.UsageEvent] = []

    def bad(ev: polyfuse.UsageEvent) -> None:
        raise RuntimeError("callback failed")

    async def bad_async(ev: polyfuse.UsageEvent) -> None:
        raise KeyError("async callback failed")

    client = polyfuse.SyncClient(config, on_usage=[bad, bad_async, good.append])
    for _ in range(3):
        client.complete(f"{MODEL};words=1", "hi")
    client.flush_usage()
    assert len(good) == 6  # an attempt and a call event per call
    kinds = sorted(type(r.exc_value).__name__ for r in reported)
    assert kinds == ["KeyError"] * 6 + ["RuntimeError"] * 6
    assert any(r.object is bad for r in reported)


def test_usage_delivered_at_exit_without_flush(mock_server: MockServer) -> None:
    from conftest import make_config, run_python

    code = f"""
import asyncio, polyfuse
n = 0
def on_usage(ev):
    global n
    n += 1
    print("usage", ev.level, ev.outcome, flush=True)
client = polyfuse.Client({make_config(mock_server.base_url)!r}, on_usage=on_usage)
async def main():
    await asyncio.gather(*(client.complete("{MODEL};latency_ms=50", "hi") for _ in range(5)))
asyncio.run(main())
"""
    out = run_python(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("usage call ok") == 5
    assert out.stdout.count("usage attempt ok") == 5
