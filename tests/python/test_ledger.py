"""The usage ledger from Python, against the mock server: a child process killed with SIGKILL in
the middle of a run loses no event of a call that had completed; ``polyfuse.ledger.query``
returns the callbacks' ``UsageEvent``s and filters them; ``python -m polyfuse report`` writes the
report; the report renders in headless Chromium (a screenshot, and every chart has marks with
real geometry in the rendered DOM)."""

from __future__ import annotations

import html.parser
import json
import os
import queue
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest

import polyfuse
from conftest import ROOT, MockServer, UsageLog, make_config

MODEL = "mockhttp/gpt-4o-mini"
SCREENSHOT = ROOT / "docs" / "usage-report.png"

# A child that makes calls from 8 concurrent workers until it is killed, and prints each
# completed call's id and number of attempts as soon as the call has returned.
CHILD = r"""
import asyncio, json, sys
import polyfuse

MODEL = "mockhttp/gpt-4o-mini"
# Large events make each commit take a while: a call returning before its commit would be
# caught by the kill more often.
META = {"blob": "x" * 20000}

async def worker(client, w):
    i = 0
    while True:
        i += 1
        kind = (w + i) % 4
        if kind == 0:  # the first try fails (503), the retry answers
            r = await client.complete(f"{MODEL};status=503;fail_times=1;key=k{w}-{i}", "hi", tags={"w": w}, metadata=META)
        elif kind == 1:  # a route whose primary fails: a fallback answers
            r = await client.complete("chat", "hi", metadata=META)
        elif kind == 2:  # a stream
            r = None
            async for ev in client.stream(f"{MODEL};words=5", "hi", metadata=META):
                if ev.type == "final":
                    r = ev.response
        else:  # a failed call (no response to print)
            try:
                await client.complete(f"{MODEL};status=400", "hi")
            except polyfuse.InvalidRequestError:
                pass
            continue
        # One write per line (atomic on a pipe), whatever the buffering.
        sys.stdout.write(f"{r.id} {len(r.attempts)}\n")
        sys.stdout.flush()

async def main():
    client = polyfuse.Client(json.loads(sys.argv[1]))
    await asyncio.gather(*(worker(client, w) for w in range(8)))

asyncio.run(main())
"""


def ledger_config(mock_server: MockServer, db: Path) -> Dict[str, Any]:
    cfg = make_config(mock_server.base_url, max_attempts_per_target=2, backoff_initial_ms=1, backoff_max_ms=2)
    cfg["routes"] = {
        "chat": {"targets": ["mockhttp/primary;status=500", "mockhttp/backup;words=3"]},
        "hedged": {
            "targets": ["mockhttp/slow;latency_ms=400", "mockhttp/quick;words=2"],
            "hedge": {"delay_ms": 30},
        },
    }
    cfg["usage"] = {"ledger": str(db)}
    cfg["pricing"] = {
        "models": {
            "mockhttp/backup": {"input": 3.0, "output": 6.0},
            "mockhttp/quick": {"input": 0.5, "output": 1.0},
            "mockhttp/claude-haiku-4-5": {"input": 1.0, "output": 5.0},
        }
    }
    return cfg


def run_and_kill(db: Path, mock_server: MockServer, calls: int) -> List[Tuple[str, int]]:
    """Runs the child on the ledger `db` until it has printed `calls` completed calls, kills it
    with SIGKILL (8 workers have calls in flight), and returns every complete line it printed."""
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, json.dumps(ledger_config(mock_server, db))],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: "queue.Queue[Optional[str]]" = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    printed: List[Tuple[str, int]] = []
    deadline = time.monotonic() + 60
    try:
        while len(printed) < calls:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            assert line is not None, f"the child ended early: {proc.wait(5)} {proc.stderr.read() if proc.stderr else ''}"
            rid, n = line.split()
            printed.append((rid, int(n)))
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    reader.join(10)
    while True:  # lines printed before the kill that were still in the pipe
        line = lines.get_nowait() if not lines.empty() else None
        if line is None:
            break
        if line.endswith("\n"):  # complete lines only
            rid, n = line.split()
            printed.append((rid, int(n)))
    assert proc.returncode == -signal.SIGKILL
    return printed


def test_sigkill_loses_no_event_of_a_completed_call(tmp_path: Path, mock_server: MockServer) -> None:
    db = tmp_path / "usage.db"
    printed: List[Tuple[str, int]] = []
    # Three processes in turn on the same file: each one is killed, the next opens the ledger
    # its predecessor left (SQLite recovers the WAL) and goes on writing.
    for _ in range(3):
        printed += run_and_kill(db, mock_server, 200)
        events = polyfuse.ledger.query(db)
        by_id = {e.request_id: e for e in events}
        assert len(by_id) == len(events), "no event written twice"
        missing = [rid for rid, _ in printed if rid not in by_id]
        assert not missing, f"{len(missing)} of {len(printed)} completed calls are not in the ledger: {missing[:5]}"
        multi = 0
        for rid, n in printed:
            call = by_id[rid]
            assert (call.level, call.outcome) == ("call", "ok")
            assert len(call.attempts) == n
            for k in range(1, n + 1):
                attempt = by_id.get(f"{rid}.{k}")
                assert attempt is not None, f"attempt {k} of {rid} is missing"
                assert (attempt.level, attempt.parent_id, attempt.attempt) == ("attempt", rid, k)
            multi += n > 1
        assert multi > len(printed) // 3, "retries and fallbacks were exercised"


async def test_query_returns_the_callbacks_events_and_filters(tmp_path: Path, mock_server: MockServer) -> None:
    db = tmp_path / "usage.db"
    log = UsageLog()
    client = polyfuse.Client(ledger_config(mock_server, db), on_usage=log)
    r1 = await client.complete(f"{MODEL};words=2", "hi", tags={"team": "search", "n": 1}, metadata={"user": "u1"})
    # Its events are in the ledger as soon as the call has returned.
    assert [e.request_id for e in polyfuse.ledger.query(db, level="call")] == [r1.id]
    await client.complete("chat", "hi", tags={"team": "ads", "n": 2})
    with pytest.raises(polyfuse.InvalidRequestError):
        await client.complete(f"{MODEL};status=400", "hi", tags={"team": "search", "n": 3})
    client.flush_usage()

    events = polyfuse.ledger.query(db)
    assert all(isinstance(e, polyfuse.UsageEvent) for e in events)
    assert events == log.all, "the ledger's events equal the callback's, field for field, in order"
    calls = polyfuse.ledger.query(db, level="call")
    assert [c.request_id for c in calls] == [e.request_id for e in log.events]
    assert calls[0].tags == {"team": "search", "n": 1} and calls[0].metadata == {"user": "u1"}
    assert calls[0].usage.cost_usd is not None

    search = polyfuse.ledger.query(db, level="call", tags={"team": "search"})
    assert [c.request_id for c in search] == [calls[0].request_id, calls[2].request_id]
    assert [c.request_id for c in polyfuse.ledger.query(db, tags={"n": 2}, level="call")] == [calls[1].request_id]
    assert polyfuse.ledger.query(db, tags={"n": "2"}) == [], "JSON equality: '2' is not 2"
    routed = polyfuse.ledger.query(db, route="chat", level="attempt")
    assert [a.model for a in routed] == ["mockhttp/primary;status=500"] * 2 + ["mockhttp/backup;words=3"]
    assert all(e.model == f"{MODEL};words=2" for e in polyfuse.ledger.query(db, model=f"{MODEL};words=2"))
    since = calls[1].started_at_ms
    window = polyfuse.ledger.query(db, level="call", since_ms=since, until_ms=calls[2].started_at_ms + 1)
    assert [c.request_id for c in window] == [calls[1].request_id, calls[2].request_id]
    assert polyfuse.ledger.query(db, limit=2) == events[:2]
    stats = client.ledger_stats()
    assert (stats.written, stats.failed, stats.dropped, stats.pending) == (len(events), 0, 0, 0)

    with pytest.raises(polyfuse.InvalidRequestError, match="level"):
        polyfuse.ledger.query(db, level="everything")  # type: ignore[arg-type]
    with pytest.raises(polyfuse.InvalidRequestError, match="no such file"):
        polyfuse.ledger.query(tmp_path / "missing.db")
    with pytest.raises(polyfuse.ConfigError, match="usage.ledger"):
        polyfuse.Client({"env_providers": False, "usage": {"ledger": "redis://localhost/0"}})
    off = polyfuse.Client(make_config(mock_server.base_url))
    assert off.ledger_stats() == polyfuse.LedgerStats(0, 0, 0, 0)


async def make_traffic(client: polyfuse.Client, calls: int = 160, workers: int = 8) -> None:
    """Mixed traffic over a second or two: three models at different speeds, streams, retries,
    fallbacks, hedges, rate limits, errors, cancellations, tags."""
    import asyncio

    async def worker(w: int) -> None:
        for i in range(w, calls, workers):
            team = ("search", "ads", "support")[i % 3]
            kind = i % 10
            try:
                if kind in (0, 1, 2):
                    await client.complete(f"mockhttp/gpt-4o-mini;latency_ms={5 + i % 20};words=12", "hi", tags={"team": team})
                elif kind in (3, 4):
                    async for _ in client.stream(
                        f"mockhttp/claude-haiku-4-5;ttft_ms={20 + i % 40};chunk_delay_ms=2;words=20", "hi", tags={"team": team}
                    ):
                        pass
                elif kind == 5:
                    await client.complete(
                        f"mockhttp/gpt-4o;status=503;fail_times=1;key=t{i};latency_ms={30 + i % 30}", "hi", tags={"team": team}
                    )
                elif kind == 6:
                    await client.complete("chat", "hi", tags={"team": team})
                elif kind == 7:
                    await client.complete("hedged", "hi", tags={"team": team})
                elif kind == 8:
                    await client.complete("mockhttp/gpt-4o-mini;status=429", "hi", tags={"team": team})
                else:
                    task = asyncio.ensure_future(client.complete("mockhttp/gpt-4o;latency_ms=500", "hi", tags={"team": team}))
                    await asyncio.sleep(0.02)
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
            except polyfuse.PolyfuseError:
                pass

    await asyncio.gather(*(worker(w) for w in range(workers)))


def wait_for_calls(db: Path, n: int, timeout: float = 10.0) -> None:
    """Waits (bounded) until the ledger holds `n` call events: a cancelled call's event is
    written when the core drops the call, just after Python saw the cancellation."""
    deadline = time.monotonic() + timeout
    while len(polyfuse.ledger.query(db, level="call")) < n and time.monotonic() < deadline:
        time.sleep(0.02)


async def test_report_command_writes_the_report(tmp_path: Path, mock_server: MockServer) -> None:
    db = tmp_path / "usage.db"
    client = polyfuse.Client(ledger_config(mock_server, db))
    await make_traffic(client, calls=40)
    wait_for_calls(db, 40)
    out = tmp_path / "report.html"
    run = subprocess.run(
        [sys.executable, "-m", "polyfuse", "report", str(db), "-o", str(out)], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    assert f"wrote {out}" in run.stdout and "40 calls" in run.stdout, run.stdout
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page
    assert 'data-chart="latency"' in page and "gpt-4o-mini" in page

    # Filters narrow it; bad input is named.
    run = subprocess.run(
        [sys.executable, "-m", "polyfuse", "report", str(db), "-o", str(out), "--tag", "team=ads", "--route", "chat"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0 and "calls" in run.stdout, run.stderr
    run = subprocess.run(
        [sys.executable, "-m", "polyfuse", "report", str(tmp_path / "nope.db")], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 2 and "nope.db" in run.stderr and "no such file" in run.stderr, run.stderr
    summary = polyfuse.ledger.report(db, tmp_path / "r2.html", tags={"team": "ads"})
    assert 0 < summary.calls < 40 and summary.attempts >= summary.calls and Path(summary.path).is_file()


def chromium() -> str:
    """Debian's Chromium: installed with apt-get when missing (as root with apt), else the test
    is skipped saying why."""
    found = shutil.which("chromium")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("headless Chromium is needed (Debian: apt-get install chromium); not root or no apt-get here")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "chromium"]
    if subprocess.run(install, env=env, capture_output=True, timeout=900).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, timeout=600)
        done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            pytest.skip(f"headless Chromium is needed and apt-get could not install it: {done.stderr[-500:]}")
    found = shutil.which("chromium")
    if not found:
        pytest.skip("headless Chromium is needed: apt-get installed chromium but it is not on PATH")
    return found


def headless(browser: str, profile: Path, *args: str) -> "subprocess.CompletedProcess[str]":
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
    ]
    return subprocess.run([browser, *flags, *args], capture_output=True, text=True, timeout=120)


# Appended to a copy of the report (the report itself has no script): for every chart, counts
# the marks that the browser laid out with a real size (circles, rectangles of non-zero area).
PROBE = """<script>
for (const fig of document.querySelectorAll("figure.chart")) {
  let n = 0;
  for (const el of fig.querySelectorAll("svg circle, svg rect")) {
    const b = el.getBoundingClientRect();
    if (b.width > 0 && b.height > 0) n++;
  }
  const svg = fig.querySelector("svg");
  fig.setAttribute("data-rendered", String(n));
  fig.setAttribute("data-width", svg ? String(Math.round(svg.getBoundingClientRect().width)) : "0");
}
</script>"""


class Figures(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.charts: List[Dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: List[Tuple[str, Optional[str]]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "figure" and "chart" in a.get("class", ""):
            self.charts.append(a)


def png_size(path: Path) -> Tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "a PNG file"
    return struct.unpack(">II", data[16:24])


async def test_the_report_renders_in_headless_chromium(tmp_path: Path, mock_server: MockServer) -> None:
    browser = chromium()
    db = tmp_path / "usage.db"
    client = polyfuse.Client(ledger_config(mock_server, db))
    await make_traffic(client)
    wait_for_calls(db, 160)
    report = tmp_path / "report.html"
    summary = polyfuse.ledger.report(db, report)
    assert summary.calls == 160

    # The DOM as Chromium rendered it, with the probe's counts.
    probed = tmp_path / "probed.html"
    probed.write_text(report.read_text().replace("</body>", PROBE + "</body>"))
    dom = headless(browser, tmp_path / "profile-dom", "--dump-dom", probed.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    parser = Figures()
    parser.feed(dom.stdout)
    charts = parser.charts
    assert len(charts) >= 9, f"{len(charts)} charts"
    for chart in charts:
        assert "data-rendered" in chart, "the probe ran in the browser"
    with_data: Dict[str, int] = {}
    for chart in charts:
        marks, rendered = int(chart["data-marks"]), int(chart["data-rendered"])
        if marks > 0:
            assert rendered >= marks, f"{chart['data-chart']}: {rendered} of {marks} marks rendered"
            assert int(chart["data-width"]) > 300
            with_data[chart["data-chart"]] = with_data.get(chart["data-chart"], 0) + 1
    for name in ["latency", "ttft", "cost-model", "cost-route", "cost-tag", "calls", "errors", "retries", "attempts-per-call"]:
        assert with_data.get(name), f"the {name} chart has no data: {with_data}"
    assert with_data["latency"] >= 3, "one latency chart per model that answered"
    assert summary.charts == sum(with_data.values())

    # The screenshot (of the report itself).
    shot = tmp_path / "report.png"
    done = headless(browser, tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1280,3150", report.as_uri())
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    assert png_size(shot) == (1280, 3150)
    assert shot.stat().st_size > 50_000, "a page with charts, not a blank one"
    if os.environ.get("POLYFUSE_UPDATE_SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)
