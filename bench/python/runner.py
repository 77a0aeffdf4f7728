"""The Python bench runner: one process per client (``--client NAME``, see ``clients.py``), driven
by the harness (``bench/harness/bench.py``) over stdin/stdout in JSON lines.

Each command line on stdin is answered by one stdout line starting with ``@@bench `` (anything
else a library prints is ignored by the harness). Commands:

* ``measure``: warm up, then run one op (``complete``, ``stream``, ...) at a concurrency for a
  duration; answers calls/s, CPU per call (getrusage of this whole process, so native threads
  count), p50/p99 latency, TTFT, peak RSS of the measured phase.
* ``in_flight``: N concurrent streams held open at once (slow mock streams); RSS before, with all
  of them in flight, and after.
* ``growth``: many calls in a row, RSS at checkpoints (does memory stay flat?).
* ``quit``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Dict, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Job, Op, mem, reset_peak_rss  # noqa: E402


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def pct(sorted_values: List[float], p: float) -> Optional[float]:
    """Nearest-rank percentile of an ascending list, in ms."""
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, int(round(p / 100 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k] * 1e3


async def run_calls(op: Op, job: Job, concurrency: int, max_calls: int, deadline: Optional[float]) -> Dict[str, Any]:
    """Runs `op` from `concurrency` workers until `max_calls` calls started or `deadline`
    (perf_counter) passed; every call's answer is checked by the op."""
    lat: List[float] = []
    ttft: List[float] = []
    errors: List[str] = []
    left = max_calls

    async def worker() -> None:
        nonlocal left
        while left > 0 and (deadline is None or time.perf_counter() < deadline):
            left -= 1
            t = time.perf_counter()
            try:
                first = await op(job)
            except Exception as exc:  # noqa: BLE001 - counted and reported, never hidden
                errors.append(f"{type(exc).__name__}: {exc}"[:300])
                if len(errors) > 50 and not lat:
                    return  # everything fails: stop instead of spinning
                continue
            lat.append(time.perf_counter() - t)
            if first is not None:
                ttft.append(first)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return {"lat": lat, "ttft": ttft, "errors": errors}


async def measure(op: Op, job: Job, cmd: Dict[str, Any]) -> Dict[str, Any]:
    concurrency = int(cmd["concurrency"])
    warm = int(cmd.get("warmup_calls", concurrency))
    await run_calls(op, job, concurrency, warm, time.perf_counter() + float(cmd.get("warmup_s", 30)))
    gc.collect()
    peak_reset = reset_peak_rss()
    c0, t0 = cpu_s(), time.perf_counter()
    out = await run_calls(op, job, concurrency, int(cmd.get("max_calls", 10**9)), t0 + float(cmd["duration_s"]))
    wall, used = time.perf_counter() - t0, cpu_s() - c0
    lat, ttft = sorted(out["lat"]), sorted(out["ttft"])
    calls = len(lat)
    m = mem()
    return {
        "calls": calls,
        "errors": len(out["errors"]),
        "first_error": out["errors"][0] if out["errors"] else None,
        "wall_s": wall,
        "cpu_s": used,
        "calls_per_s": calls / wall if wall > 0 else 0.0,
        "cpu_us_per_call": used / calls * 1e6 if calls else None,
        "p50_ms": pct(lat, 50),
        "p99_ms": pct(lat, 99),
        "ttft_p50_ms": pct(ttft, 50),
        "ttft_p99_ms": pct(ttft, 99),
        "peak_rss_mb": m["hwm_mb"],
        "peak_is_phase": peak_reset,
        "rss_mb": m["rss_mb"],
    }


async def in_flight(op: Op, job: Job, cmd: Dict[str, Any]) -> Dict[str, Any]:
    """`n` streams at once: waits (with a deadline) until every one received its first text,
    samples RSS with all of them open, then lets them finish."""
    n = int(cmd["n"])
    await run_calls(op, job, min(n, 50), 100, None)  # warm: connections, caches, lazy imports
    gc.collect()
    before = mem()
    reset_peak_rss()
    started = 0
    all_open = asyncio.Event()

    def first() -> None:
        nonlocal started
        started += 1
        if started == n:
            all_open.set()

    live = Job(job.model, job.expect, on_first=first)
    t0 = time.perf_counter()
    tasks = [asyncio.ensure_future(op(live)) for _ in range(n)]
    reached = True
    try:
        await asyncio.wait_for(all_open.wait(), float(cmd.get("deadline_s", 120)))
    except asyncio.TimeoutError:
        reached = False
    ramp = time.perf_counter() - t0
    during = mem()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    errors = [f"{type(r).__name__}: {r}"[:300] for r in results if isinstance(r, BaseException)]
    del tasks, results
    gc.collect()
    after = mem()
    return {
        "n": n,
        "all_in_flight": reached,
        "in_flight_reached": started,
        "ramp_s": ramp,
        "total_s": time.perf_counter() - t0,
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "rss_before_mb": before["rss_mb"],
        "rss_in_flight_mb": during["rss_mb"],
        "peak_rss_mb": during["hwm_mb"],
        "rss_after_mb": after["rss_mb"],
        "kb_per_stream": (during["rss_mb"] - before["rss_mb"]) * 1024 / n,
    }


async def growth(ops: List[Op], job: Job, cmd: Dict[str, Any]) -> Dict[str, Any]:
    """Calls in a row (the ops taken in turn), RSS at each checkpoint of total calls."""
    concurrency = int(cmd["concurrency"])
    checkpoints = sorted(int(c) for c in cmd["checkpoints"])
    done = 0
    errors = 0
    first_error = None
    points = []
    t0 = time.perf_counter()
    turn = 0

    async def mixed(j: Job) -> Optional[float]:
        nonlocal turn
        turn += 1
        return await ops[turn % len(ops)](j)

    for cp in checkpoints:
        out = await run_calls(mixed, job, concurrency, cp - done, None)
        done = cp
        errors += len(out["errors"])
        first_error = first_error or (out["errors"][0] if out["errors"] else None)
        gc.collect()
        m = mem()
        # Live Python objects after a collection: a leak of Python objects shows here even while
        # the allocator keeps RSS level.
        points.append({"calls": cp, "rss_mb": m["rss_mb"], "objects": len(gc.get_objects()), "s": time.perf_counter() - t0})
    return {"points": points, "errors": errors, "first_error": first_error}


def reply(obj: Dict[str, Any]) -> None:
    sys.__stdout__.write("@@bench " + json.dumps(obj) + "\n")
    sys.__stdout__.flush()


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--client", required=True)
    ap.add_argument("--base-url", required=True, help="the mock server, e.g. http://127.0.0.1:PORT/v1")
    args = ap.parse_args()
    import clients

    contender = clients.make(args.client, args.base_url)
    reply({"ready": True, "client": args.client, "ops": sorted(contender.ops), "versions": contender.versions})
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        cmd = json.loads(line)
        name = cmd.get("cmd")
        if name == "quit":
            await contender.close()
            reply({"bye": True})
            return
        try:
            job = Job(cmd["model"], cmd["expect"], params=cmd.get("params") or {})
            if name == "measure":
                reply({"ok": True, **await measure(contender.op(cmd["op"]), job, cmd)})
            elif name == "in_flight":
                reply({"ok": True, **await in_flight(contender.op(cmd["op"]), job, cmd)})
            elif name == "growth":
                reply({"ok": True, **await growth([contender.op(o) for o in cmd["ops"]], job, cmd)})
            else:
                reply({"ok": False, "error": f"unknown command {name!r}"})
        except Exception as exc:  # noqa: BLE001 - reported to the harness, which fails loudly
            reply({"ok": False, "error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()})


if __name__ == "__main__":
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        pass
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    asyncio.run(main())
