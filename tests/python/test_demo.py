"""The README demo (examples/demo.py: a routed call, a stream, a fusion) runs 50 times in a row without a crash at interpreter exit,
and it and the README's Python quick start print the same output on every run."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from conftest import ROOT

DEMO = ROOT / "examples" / "demo.py"


def run_demo(_: int) -> "subprocess.CompletedProcess[str]":
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    return subprocess.run([sys.executable, str(DEMO)], capture_output=True, text=True, timeout=60, env=env)


def test_demo_runs_50_times_without_crashing() -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        runs = list(pool.map(run_demo, range(50)))
    failures = [(r.returncode, r.stderr[-2000:]) for r in runs if r.returncode != 0]
    assert failures == []
    for r in runs:
        assert "usage" in r.stdout and r.stderr == ""


def _code_block(section: str, language: str) -> str:
    """The first ```language block under the README heading `## section`."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    body = readme.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return body.split(f"```{language}\n", 1)[1].split("\n```", 1)[0]


def _run_twice(args: "list[str]") -> "list[str]":
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    outputs = []
    for _ in range(2):
        r = subprocess.run(args, capture_output=True, text=True, timeout=60, env=env, cwd=ROOT)
        assert (r.returncode, r.stderr) == (0, "")
        outputs.append(r.stdout)
    return outputs


def test_demo_prints_the_same_output_every_run() -> None:
    first, second = _run_twice([sys.executable, str(DEMO)])
    assert first == second
    lines = first.splitlines()
    # The usage events come last, after the stream and the fusion, one per call, in call order.
    assert lines[-4:] == [
        "== usage events (one per call; attempts have their own; a fusion's members are under its own)",
        "  chat: ok, 5 in / 2 out, 2 attempt(s)",
        "  mock/storyteller: ok, 9 in / 10 out, 1 attempt(s)",
        "  fusion: ok, 256 in / 39 out, 4 attempt(s)",
    ]
    assert "Once upon a time, a request found its way home." in lines
    # The fusion: the judge's (scripted) winner returned verbatim, every member answered.
    assert "answer: 'The capital of France is Paris.' (candidate B, mock/analyst-b)" in lines
    assert "scores: {'A': 7.0, 'B': 9.0, 'C': 1.0}; 4 calls; parse path: json" in lines


def test_readme_python_quick_start_runs_and_prints_the_same_output_every_run(tmp_path: Path) -> None:
    script = tmp_path / "quickstart.py"
    script.write_text(_code_block("Python quick start", "python"), encoding="utf-8")
    first, second = _run_twice([sys.executable, str(script)])
    assert first == second
    lines = first.splitlines()
    assert lines[0] == "Hello, polyfuse! 5 2"
    assert lines[-3] == "finish: stop"
    assert [line.split()[:3] for line in lines[-2:]] == [
        ["usage:", "mock/echo", "ok"],
        ["usage:", "mock/storyteller", "ok"],
    ]
