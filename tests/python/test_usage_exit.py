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


def test_forked_children_exit_at_once_and_their_flush_and_close_are_no_ops(mock_server: MockServer) -> None:
    # A parent client with a usage callback (as a gunicorn app preloaded before the workers fork):
    # each child that exits normally must not wait on the parent's usage thread, which does not
    # exist in the child; flush and close there do nothing; a client made in the child works.
    code = f"""
import os, sys, polyfuse
seen = []
client = polyfuse.SyncClient({make_config(mock_server.base_url)!r}, on_usage=lambda ev: seen.append(ev.level))
client.complete("{MODEL}", "hi")
pids = []
for i in range(5):
    pid = os.fork()
    if pid == 0:
        if i % 2 == 0:  # half of them exit without touching the parent's client
            client.flush_usage()
            client.close()
        child = polyfuse.SyncClient({make_config(mock_server.base_url)!r}, on_usage=lambda ev: None)
        # One write per line (atomic on a pipe): the five children print at the same time.
        os.write(1, ("child " + child.complete("{MODEL};text=from-child", "hi").text + "\\n").encode())
        sys.exit(0)
    pids.append(pid)
codes = [os.waitstatus_to_exitcode(os.waitpid(p, 0)[1]) for p in pids]
client.flush_usage()
print("codes", codes, "parent events", sorted(seen), flush=True)
"""
    # A session of its own: a hung forked child (which holds the pipes) is killed with the group.
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise AssertionError(f"a forked child hung at exit; stdout: {out!r} stderr: {err[-2000:]!r}")
    assert proc.returncode == 0, err
    assert out.count("child from-child") == 5
    assert "codes [0, 0, 0, 0, 0] parent events ['attempt', 'call']" in out


def test_calls_racing_interpreter_exit_are_cancelled(mock_server: MockServer) -> None:
    # A daemon thread blocked in a call while the interpreter exits, and a call made after the
    # runtime was shut down (an atexit hook registered before polyfuse's runs after it): both get
    # polyfuse.CancelledError, as the README says, never a bare RuntimeError or a hang.
    code = f"""
import atexit, threading
results = []
def after_polyfuse_shutdown():
    worker.join(20)
    try:
        client.complete("{MODEL}", "hi")
        results.append("ok")
    except Exception as e:
        results.append(type(e).__name__ + ": " + str(e))
    print(results, flush=True)
atexit.register(after_polyfuse_shutdown)
import polyfuse
client = polyfuse.SyncClient({make_config(mock_server.base_url)!r})
started = threading.Event()
def work():
    started.set()
    try:
        client.complete("{MODEL};latency_ms=30000", "hi")
        results.append("ok")
    except Exception as e:
        results.append(type(e).__name__)
worker = threading.Thread(target=work, daemon=True)
worker.start()
started.wait()
"""
    proc = _spawn(code)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert out.startswith("['CancelledError', 'CancelledError: "), (out, err)
    assert "interpreter is exiting" in out
