"""Where polyfuse's Python CPU per call goes: the Python runner doing ``stream()``,
``complete()`` (default policy) and ``complete()`` with ``complete_via_stream = false`` at one
concurrency, profiled twice per case, each in a fresh process:

* py-spy (``--native --gil``): the stacks of the thread holding the GIL, Python and native
  frames mixed (where the Python side's time goes);
* perf: every thread of the process (the tokio workers too, which py-spy does not see), by
  shared object and by symbol (needs a binding built with symbols: bench/profile.sh does it).

Writes ``<case>.pyspy.txt`` (collapsed stacks), ``<case>.perf.txt`` and ``profile.md``."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Dict, List, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))

from plan import EXPECT, MODEL  # noqa: E402
from procs import BENCH, Runner  # noqa: E402

CASES = [("stream", "polyfuse", "stream"), ("complete", "polyfuse", "complete"), ("complete-plain", "polyfuse-plain", "complete")]


def _short(frame: str) -> str:
    return frame.split(" (")[0][:60]


def collapsed_summary(path: Path, top: int) -> Tuple[List[Tuple[str, float]], List[Tuple[str, float]], int, Dict[str, List[str]]]:
    """(self %, inclusive %, samples, the most common 4 callers of each leaf) by frame from
    py-spy's raw output (`a;b;c N` lines)."""
    chains: Dict[str, Counter] = {}
    own: Counter = Counter()
    incl: Counter = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        count = int(n)
        frames = [f for f in stack.split(";") if not f.startswith("thread (") and not f.startswith("process ")]
        total += count
        if frames:
            own[frames[-1]] += count
            chains.setdefault(frames[-1], Counter())[tuple(_short(f) for f in frames[-5:-1])] += count
            for f in set(frames):
                incl[f] += count
    pct = lambda c: [(f, 100 * k / total) for f, k in c.most_common(top)] if total else []  # noqa: E731
    callers = {leaf: list(c.most_common(1)[0][0]) for leaf, c in chains.items()}
    return pct(own), pct(incl), total, callers


def perf_report(data: Path, sort: str, limit: float) -> str:
    out = subprocess.run(
        ["perf", "report", "-i", str(data), "--stdio", "-g", "none", "--sort", sort, "--percent-limit", str(limit)],
        capture_output=True, text=True,
    )
    return "\n".join(line for line in out.stdout.splitlines() if line.strip() and not line.startswith("#"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", type=Path, required=True)
    ap.add_argument("--python", required=True, help="the interpreter with the symbol-carrying polyfuse and py-spy")
    ap.add_argument("--pyspy", required=True)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--out", type=Path, default=BENCH / "results" / ("profile-" + time.strftime("%Y%m%d-%H%M%S")))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    runner = [args.python, str(BENCH / "python" / "runner.py")]
    md = [f"# Where polyfuse's Python CPU goes (c={args.concurrency}, {args.seconds:.0f} s per case, {MODEL})", ""]
    for case, client, op in CASES:
        cmd = {"cmd": "measure", "op": op, "model": MODEL, "expect": EXPECT, "concurrency": args.concurrency, "duration_s": args.seconds, "warmup_calls": 200}
        # One process per case; py-spy and perf each attach for one measured phase of their own.
        raw = args.out / f"{case}.pyspy.txt"
        data = args.out / f"{case}.perf.data"
        proc = Runner("python", client, [*runner, "--client", client], args.server, args.out, dict(os.environ))
        proc.start()
        proc.ready()
        assert proc.proc is not None
        pid = str(proc.proc.pid)
        proc.cmd(cmd, timeout=120 + args.seconds)  # warm-up phase, unprofiled
        quiet = {**cmd, "warmup_calls": 0}
        res = proc.cmd(quiet, timeout=120 + args.seconds)  # without a profiler
        # py-spy: the thread holding the GIL, Python + native frames.
        spy = subprocess.Popen([args.pyspy, "record", "--pid", pid, "--native", "--gil", "--rate", "250", "--duration", str(int(args.seconds)), "--format", "raw", "--output", str(raw)], stdout=subprocess.DEVNULL, stderr=open(args.out / f"{case}.pyspy.log", "w"))
        spied = proc.cmd(quiet, timeout=120 + args.seconds)
        spy.wait(60)
        # perf: every thread, by shared object and symbol.
        rec = subprocess.Popen(["perf", "record", "-F", "999", "-o", str(data), "-p", pid, "--", "sleep", str(args.seconds)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        perfed = proc.cmd(quiet, timeout=120 + args.seconds)
        rec.wait(60)
        proc.stop()
        by_thread = perf_report(data, "comm", 1.0)
        by_dso = perf_report(data, "dso", 1.0)
        by_sym = perf_report(data, "dso,sym", 0.7)
        (args.out / f"{case}.perf.txt").write_text(by_thread + "\n\n" + by_dso + "\n\n" + by_sym + "\n")
        own, incl, total, callers = collapsed_summary(raw, 25)
        md += [f"## {case} ({client}): {res['calls_per_s']:,.0f} calls/s, {res['cpu_us_per_call']:,.0f} µs CPU per call (with py-spy attached {spied['cpu_us_per_call']:,.0f}, with perf {perfed['cpu_us_per_call']:,.0f})", ""]
        md += ["perf, by thread (`python` = the asyncio thread, `polyfuse-tokio` = the binding's runtime):", "", "```", by_thread, "```", ""]
        md += ["perf, every thread, by shared object (% of samples):", "", "```", by_dso, "```", "", "perf, by symbol (≥ 0.7%):", "", "```", by_sym, "```", ""]
        md += [f"py-spy, the thread holding the GIL, {total} samples, self time (leaf frames):", "", "| % | frame |", "|---|---|"]
        md += [f"| {p:.1f} | `{f[:160]}` |" for f, p in own]
        md += ["", "py-spy, the callers of the top leaf frames (most common 4 frames above, innermost last):", ""]
        md += [f"- `{f[:80]}` ({p:.1f}%) ← `{' ← '.join(reversed(callers.get(f, [])))}`" for f, p in own[:10]]
        md += ["", "py-spy, inclusive:", "", "| % | frame |", "|---|---|"]
        md += [f"| {p:.1f} | `{f[:160]}` |" for f, p in incl]
        md.append("")
        print(f"profiled {case}: {res['cpu_us_per_call']:,.0f} µs CPU/call", flush=True)
    (args.out / "profile.md").write_text("\n".join(md))
    print(f"profile: {args.out / 'profile.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
