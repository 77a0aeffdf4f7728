"""The README demo (examples/demo.py) runs 50 times in a row without a crash at interpreter exit."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

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
