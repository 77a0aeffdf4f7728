"""Fusion overhead: what a fusion adds to the calls it makes. Three members answering in 20, 40 and
60 ms and a judge answering in 10 ms (the mock server's `latency_ms`, real HTTP on loopback), in
best-of mode, through polyfuse's Python binding. Per fusion:

    overhead = fusion wall time - (slowest used member's call + the judge's call)

with the calls' latencies as the core measured them (so the figure is the fusion's own cost:
fan-out, waiting, labelling, the judge's prompt, parsing, the result, and the binding's
conversion of it). The median over the runs is reported against the 2 ms target; `--smoke` runs a
few fusions, checks the result, and asserts no timing.

    python bench/python/fusion_overhead.py --server PATH [--runs N] [--smoke] [--out FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from typing import Any, Dict, List

import polyfuse

TARGET_MS = 2.0
VERDICT = json.dumps({"scores": {"A": 9, "B": 7, "C": 5}, "winner": "A", "confidence": "high", "rationale": "A is right"})


async def run(base_url: str, runs: int) -> List[float]:
    client = polyfuse.Client(
        {
            "env_providers": False,
            "providers": {"mock": {"format": "openai", "base_url": base_url, "api_key": "sk-bench-123"}},
            "policy": {"max_attempts_per_target": 1, "breaker": {"enabled": False}},
        }
    )
    pool = [f"mock/m{i};text=answer {i};latency_ms={ms}" for i, ms in enumerate((20, 40, 60))]
    judge = f"mock/judge;text=Notes. {VERDICT};latency_ms=10"
    overheads: List[float] = []
    for i in range(runs + 3):  # 3 warm-up fusions (connections, first-use paths)
        started = time.perf_counter()
        r = await client.fuse("Which answer?", pool=pool, judge=judge, mode="best-of", seed=i)
        wall_ms = (time.perf_counter() - started) * 1000
        used = [c.latency_ms for c in r.candidates if c.usable]
        if (r.parse_path, len(used), r.calls, len(r.judge)) != ("json", 3, 4, 1) or not r.judge[0].ok:
            raise SystemExit(f"fusion_overhead: unexpected fusion: {r.parse_path}, {r.calls} calls, {r.candidates}")
        if i >= 3:
            overheads.append(wall_ms - (max(used) + r.judge[0].latency_ms))
    return overheads


def start_server(path: str) -> "tuple[subprocess.Popen[str], str]":
    proc = subprocess.Popen([path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("LISTENING "):
        proc.kill()
        raise SystemExit(f"fusion_overhead: the mock server did not start: {line!r}")
    return proc, line.split()[1] + "/v1"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", required=True, help="the polyfuse-mock-server binary")
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--smoke", action="store_true", help="a few fusions, result checked, no timing asserted")
    ap.add_argument("--out", help="write the figures as JSON here")
    args = ap.parse_args()
    runs = 5 if args.smoke else args.runs
    proc, base_url = start_server(args.server)
    try:
        overheads = asyncio.run(run(base_url, runs))
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(10)
    q = statistics.quantiles(overheads, n=20) if len(overheads) >= 20 else [max(overheads)] * 19
    summary: Dict[str, Any] = {
        "scenario": "fusion_overhead",
        "mode": "best-of",
        "members_ms": [20, 40, 60],
        "judge_ms": 10,
        "runs": len(overheads),
        "median_ms": round(statistics.median(overheads), 3),
        "p95_ms": round(q[18], 3),
        "min_ms": round(min(overheads), 3),
        "target_ms": TARGET_MS,
    }
    summary["met"] = summary["median_ms"] < TARGET_MS
    print(
        f"fusion overhead (best-of, 3 members at 20/40/60 ms + judge at 10 ms, {summary['runs']} fusions): "
        f"median {summary['median_ms']} ms, p95 {summary['p95_ms']} ms "
        f"(target < {TARGET_MS} ms at the median: {'met' if summary['met'] else 'NOT met'}"
        f"{'; smoke: not a measurement' if args.smoke else ''})"
    )
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(summary, f)
            f.write("\n")


if __name__ == "__main__":
    sys.exit(main())
