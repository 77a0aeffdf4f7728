"""Usage events at interpreter exit: what is queued is delivered without any flush (also for a
client that went out of scope), within the bounded `usage.exit_flush_ms`; when the bound is hit,
stderr says how many were not delivered; Ctrl-C ends the wait."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from conftest import MockServer, make_config

MODEL = "mockhttp/gpt-4o-mini"


def _spawn(code: str) -> "subprocess.Popen[str]":
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_the_quick_start_shape_delivers_every_event_without_a_flush(mock_server: MockServer) -> None:
    # The client is local to main() (gone before exit), the callback is sync, nothing flushes.
    code = f"""
import asyncio, polyfuse
def on_usage(ev):
    print(ev.level, ev.outcome, flush=True)
async def main():
    client = polyfuse.Client({make_config(mock_server.base_url)!r}, on_usage=on_usage)
    await asyncio.gather(*(client.complete("{MODEL};words=2", "hi") for _ in range(1000)))
asyncio.run(main())
"""
    proc = _spawn(code)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert out.count("call ok") == 1000
    assert out.count("attempt ok") == 1000
    assert "not delivered" not in err


def test_a_slow_backlog_at_exit_is_bounded_and_reported(mock_server: MockServer) -> None:
    config = make_config(mock_server.base_url)
    config["usage"] = {"exit_flush_ms": 700}
    code = f"""
import asyncio, time, polyfuse
def on_usage(ev):
    time.sleep(0.05)
client = polyfuse.Client({config!r}, on_usage=on_usage)
async def main():
    await asyncio.gather(*(client.complete("{MODEL}", "hi") for _ in range(200)))
asyncio.run(main())
print("calls done", flush=True)
"""
    proc = _spawn(code)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "calls done"
    started = time.monotonic()
    out, err = proc.communicate(timeout=60)
    took = time.monotonic() - started
    assert proc.returncode == 0, err
    # 400 events at 50 ms each would take 20 s; the bound is 0.7 s.
    assert took < 10, took
    assert "usage events were not delivered at exit" in err, err
    assert "0.7 s" in err


def test_ctrl_c_ends_the_wait_at_exit(mock_server: MockServer) -> None:
    config = make_config(mock_server.base_url)
    config["usage"] = {"exit_flush_ms": 60_000}
    code = f"""
import asyncio, time, polyfuse
def on_usage(ev):
    time.sleep(0.2)
    print("delivered", flush=True)
client = polyfuse.Client({config!r}, on_usage=on_usage)
async def main():
    await asyncio.gather(*(client.complete("{MODEL}", "hi") for _ in range(100)))
asyncio.run(main())
print("exiting", flush=True)
"""
    proc = _spawn(code)
    assert proc.stdout is not None
    lines = iter(proc.stdout.readline, "")
    assert "exiting" in (line.strip() for line in lines)
    # An event delivered after `exiting` proves the interpreter is in its atexit wait (200
    # events x 0.2 s, bounded at 60 s).
    assert next(lines).strip() == "delivered"
    started = time.monotonic()
    os.kill(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert time.monotonic() - started < 5
    assert "not delivered" in err, err
