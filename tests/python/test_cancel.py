"""Cancellation: asyncio cancel, `break` and Ctrl-C really close the provider connection (the mock
server sees the client leave) and the call is reported as cancelled."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from typing import Any, Dict

import pytest

import polyfuse
from conftest import MockServer, make_config

MODEL = "mockhttp/gpt-4o-mini"


async def test_cancel_during_hang_closes_connection(config: Dict[str, Any], mock_server: MockServer, usage_log: Any) -> None:
    client = polyfuse.Client(config, on_usage=usage_log)
    before = mock_server.stats()
    task = asyncio.create_task(client.complete(f"{MODEL};hang=1", "hi"))
    # Wait until the server holds the request, then cancel.
    s = await asyncio.to_thread(mock_server.wait_for, lambda s: s["requests"] > before["requests"])
    assert s["requests"] > before["requests"]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    after = await asyncio.to_thread(mock_server.wait_for, lambda s: s["client_disconnects"] > before["client_disconnects"])
    assert after["client_disconnects"] == before["client_disconnects"] + 1
    await client.aflush_usage()
    assert [(e.outcome, e.error_kind) for e in usage_log.events] == [("cancelled", "cancelled")]


async def test_wait_for_timeout_cancels(config: Dict[str, Any], mock_server: MockServer) -> None:
    client = polyfuse.Client(config)
    before = mock_server.stats()["client_disconnects"]
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(client.complete(f"{MODEL};hang=1", "hi"), 0.3)
    after = await asyncio.to_thread(mock_server.wait_for, lambda s: s["client_disconnects"] > before)
    assert after["client_disconnects"] == before + 1


async def test_cancel_during_slow_stream(config: Dict[str, Any], mock_server: MockServer, usage_log: Any) -> None:
    client = polyfuse.Client(config, on_usage=usage_log)
    before = mock_server.stats()["client_disconnects"]
    got_first = asyncio.Event()
    seen = []

    async def consume() -> None:
        async for ev in client.stream(f"{MODEL};words=100;chunk_delay_ms=100", "hi"):
            seen.append(ev)
            got_first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(got_first.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    after = await asyncio.to_thread(mock_server.wait_for, lambda s: s["client_disconnects"] > before)
    assert after["client_disconnects"] == before + 1
    assert 1 <= len(seen) < 100
    await client.aflush_usage()
    assert [(e.outcome, e.streamed) for e in usage_log.events] == [("cancelled", True)]


async def test_break_closes_connection(config: Dict[str, Any], mock_server: MockServer, usage_log: Any) -> None:
    client = polyfuse.Client(config, on_usage=usage_log)
    before = mock_server.stats()["client_disconnects"]
    n = 0
    async for ev in client.stream(f"{MODEL};words=100;chunk_delay_ms=50", "hi"):
        n += 1
        if n == 2:
            break
    after = await asyncio.to_thread(mock_server.wait_for, lambda s: s["client_disconnects"] > before)
    assert after["client_disconnects"] == before + 1
    await client.aflush_usage()
    assert [e.outcome for e in usage_log.events] == ["cancelled"]


def test_sync_stream_close_closes_connection(config: Dict[str, Any], mock_server: MockServer) -> None:
    client = polyfuse.SyncClient(config)
    before = mock_server.stats()["client_disconnects"]
    with client.stream(f"{MODEL};words=100;chunk_delay_ms=50", "hi") as stream:
        assert next(stream).type == "text_delta"
    after = mock_server.wait_for(lambda s: s["client_disconnects"] > before)
    assert after["client_disconnects"] == before + 1


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_interrupts_a_blocking_call(mock_server: MockServer) -> None:
    code = textwrap.dedent(
        f"""
        import sys, time, polyfuse
        client = polyfuse.SyncClient({make_config(mock_server.base_url)!r})
        print("ready", flush=True)
        started = time.monotonic()
        try:
            client.complete("{MODEL};hang=1", "hi")
        except KeyboardInterrupt:
            print("interrupted", round(time.monotonic() - started, 2), flush=True)
            sys.exit(3)
        """
    )
    before = mock_server.stats()["client_disconnects"]
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    mock_server.wait_for(lambda s: s["in_flight"] > 0)
    import time

    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 3, out
    assert out.startswith("interrupted")
    after = mock_server.wait_for(lambda s: s["client_disconnects"] > before)
    assert after["client_disconnects"] == before + 1
