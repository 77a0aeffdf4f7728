"""The bench harness (run by bench/run.sh in bench's own venv): starts one runner process per
client (Python, Node, the Rust floor), each with its own mock server, runs every scenario at
every concurrency in interleaved rounds (A B C A B C ...), then import times and memory at scale,
and writes ``results.jsonl``, ``summary.md`` and ``chart.png`` into the output folder.
``--smoke`` runs everything a few calls deep and checks that every result is well formed."""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent))

import checks  # noqa: E402
import report  # noqa: E402
from imports import measure_imports  # noqa: E402
from plan import CLIENTS, FULL, QUICK, SCENARIOS, SMOKE, Sizes  # noqa: E402
from procs import BENCH, BenchError, Runner, loadavg, start_all, wait_quiet  # noqa: E402


def machine() -> str:
    model = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({model}), Linux {platform.release()}, Python {platform.python_version()}"


def runner_argv(lang: str, client: str, args: argparse.Namespace) -> List[str]:
    if lang == "python":
        return [sys.executable, str(BENCH / "python" / "runner.py"), "--client", client]
    if lang == "node":
        return [args.node, "--expose-gc", str(BENCH / "node" / "runner.mjs"), "--client", client]
    return [str(args.floor)]


def make_runners(selected: Dict[str, List[str]], args: argparse.Namespace, logdir: Path, env: Dict[str, str]) -> List[Runner]:
    return [Runner(lang, c, runner_argv(lang, c, args), args.server, logdir, env) for lang, cs in selected.items() for c in cs]


def emit(out: Any, rows: List[Dict[str, Any]], row: Dict[str, Any]) -> None:
    rows.append(row)
    out.write(json.dumps(row) + "\n")
    out.flush()


def run_scenarios(runners: List[Runner], sizes: Sizes, out: Any, rows: List[Dict[str, Any]], only: List[str]) -> None:
    for sc in SCENARIOS:
        if only and sc.name not in only:
            continue
        taking = [r for r in runners if sc.op in r.ops]
        for c in sc.concurrencies or sizes.concurrencies:
            for rnd in range(sizes.rounds):
                for r in taking:  # interleaved: every client once per round
                    cmd = {
                        "cmd": "measure", "op": sc.op, "model": sc.model, "expect": sc.expect, "params": sc.params,
                        "concurrency": c, "duration_s": sizes.duration_s, "max_calls": sizes.max_calls,
                        # First round: warm up (connections, JIT, caches); later ones only re-settle.
                        "warmup_calls": max(sizes.warmup_calls, c) if rnd == 0 else min(c, 50),
                    }
                    t = time.time()
                    res = r.cmd(cmd, timeout=120 + sizes.duration_s * 4)
                    row = {"kind": "measure", "scenario": sc.name, "lang": r.lang, "client": r.client, "concurrency": c, "round": rnd, "load": loadavg(), "at": t, **res}
                    row.pop("ok", None)
                    emit(out, rows, row)
                    print(
                        f"  {sc.name:<14} c={c:<4} round {rnd + 1}/{sizes.rounds} {r.key:<22} {res['calls_per_s']:>9,.0f} calls/s"
                        f" {res['cpu_us_per_call'] or 0:>8,.0f} µs CPU/call  p50 {res['p50_ms'] or 0:>7.2f} ms  errors {res['errors']}",
                        flush=True,
                    )


def run_memory(selected: Dict[str, List[str]], sizes: Sizes, args: argparse.Namespace, logdir: Path, env: Dict[str, str], out: Any, rows: List[Dict[str, Any]], in_flight: bool = True) -> None:
    """Memory at scale, one client at a time (nothing else running), each measurement in a fresh
    process (so that one's high-water mark and freed-but-kept memory cannot hide in the other):
    streams in flight at once, then RSS over many calls."""
    slow = f"bench;words=20;chunk_delay_ms={sizes.stream_chunk_delay_ms}"
    expect = " ".join(f"w{i}" for i in range(1, 21))
    commands = [
        ("in_flight", {"cmd": "in_flight", "op": "stream", "model": slow, "expect": expect, "n": sizes.streams_in_flight, "deadline_s": 120}),
        ("growth", {"cmd": "growth", "ops": ["complete", "stream"], "model": "bench;words=20", "expect": expect, "concurrency": sizes.growth_concurrency, "checkpoints": list(sizes.growth_checkpoints)}),
    ]
    for lang, client in (("python", "polyfuse"), ("node", "polyfuse"), ("rust", "floor")):
        if client not in selected.get(lang, []):
            continue
        for kind, cmd in commands:
            if kind == "in_flight" and not in_flight:
                continue
            (r,) = make_runners({lang: [client]}, args, logdir, env)
            start_all([r])
            try:
                res = r.cmd(cmd, timeout=1800)
            finally:
                r.stop()
            res.pop("ok", None)
            emit(out, rows, {"kind": kind, "lang": lang, "client": client, "load": loadavg(), **res})
            if kind == "in_flight":
                print(f"  in flight   {r.key:<22} {res['n']:,} streams: {res['rss_before_mb']:.1f} → {res['rss_in_flight_mb']:.1f} MB = {res['kb_per_stream']:.1f} KB/stream, all in flight: {res['all_in_flight']}, errors {res['errors']}", flush=True)
            else:
                print(f"  growth      {r.key:<22} " + ", ".join(f"{p['calls']:,}: {p['rss_mb']:.1f} MB" for p in res["points"]) + f", errors {res['errors']}", flush=True)


def rewrite_report(outdir: Path) -> int:
    lines = [json.loads(line) for line in (outdir / "results.jsonl").read_text().splitlines() if line.strip()]
    metas = [r for r in lines if r.get("kind") == "meta"]
    if not metas:
        raise BenchError(f"{outdir / 'results.jsonl'} has no meta line (the run did not finish)")
    rows = [r for r in lines if r.get("kind") not in ("meta", "summary")]
    meta = {k: v for k, v in metas[-1].items() if k != "kind"}
    written = report.write(outdir, rows, meta)
    print(written["markdown"])
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--smoke", action="store_true", help="every runner a few calls deep, results checked; no timing claims")
    mode.add_argument("--quick", action="store_true", help="one short round per cell, smaller memory runs")
    ap.add_argument("--langs", default="python,node,rust", help="comma list of python, node, rust")
    ap.add_argument("--clients", default="", help="comma list of client names to keep (default: all)")
    ap.add_argument("--skip", default="", help="comma list of client names to leave out, e.g. litellm,litellm-router")
    ap.add_argument("--scenarios", default="", help="comma list of scenarios to keep (default: all)")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--duration", type=float, help="seconds measured per cell and round")
    ap.add_argument("--concurrency", help="comma list, e.g. 1,50,500")
    ap.add_argument("--streams", type=int, help="streams in flight at once for the memory run")
    ap.add_argument("--growth", help="comma list of call-count checkpoints for the RSS growth run, e.g. 10000,100000,300000")
    ap.add_argument("--no-in-flight", action="store_true", help="memory: skip the streams-in-flight run")
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--no-imports", action="store_true")
    ap.add_argument("--memory-only", action="store_true")
    ap.add_argument("--wait-quiet", type=float, default=0.0, help="before starting, wait up to 10 min for the 1-min load average to drop under this")
    ap.add_argument("--report", type=Path, metavar="DIR", help="only rewrite DIR's summary.md and chart.png from its results.jsonl")
    ap.add_argument("--server", type=Path, help="release polyfuse-mock-server binary")
    ap.add_argument("--floor", type=Path, help="release polyfuse-bench-floor binary")
    ap.add_argument("--node", default="node")
    ap.add_argument("--out", type=Path, help="output folder (default bench/results/<time>)")
    args = ap.parse_args()
    if args.report:
        return rewrite_report(args.report)
    if not args.server or not args.floor:
        ap.error("--server and --floor are required (bench/run.sh passes them)")

    sizes = SMOKE if args.smoke else QUICK if args.quick else FULL
    sizes = Sizes(**{**sizes.__dict__})
    if args.rounds:
        sizes.rounds = args.rounds
    if args.duration:
        sizes.duration_s = args.duration
    if args.concurrency:
        sizes.concurrencies = tuple(int(c) for c in args.concurrency.split(","))
    if args.streams:
        sizes.streams_in_flight = args.streams
    if args.growth:
        sizes.growth_checkpoints = tuple(int(c) for c in args.growth.split(","))
    langs = [x for x in args.langs.split(",") if x]
    for lang in langs:
        if lang not in CLIENTS:
            ap.error(f"--langs: unknown language {lang!r} (known: {', '.join(CLIENTS)})")
    keep = [c for c in args.clients.split(",") if c]
    skip = [c for c in args.skip.split(",") if c]
    known = {c for cs in CLIENTS.values() for c in cs}
    for c in keep + skip:
        if c not in known:
            ap.error(f"--clients/--skip: unknown client {c!r} (known: {', '.join(sorted(known))})")
    selected = {lang: [c for c in CLIENTS[lang] if (not keep or c in keep) and c not in skip] for lang in langs}
    scenarios = [s for s in args.scenarios.split(",") if s]

    stamp = time.strftime("%Y%m%d-%H%M%S")
    outdir = args.out or BENCH / "results" / (("smoke-" if args.smoke else "") + stamp)
    logdir = outdir / "logs"
    logdir.mkdir(parents=True, exist_ok=True)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # 10,000 streams: inherited by every child
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR", "PYTHONUNBUFFERED": "1"}

    if args.wait_quiet:
        print(f"waiting (up to 10 min) for the load average to drop under {args.wait_quiet} ...", flush=True)
        wait_quiet(args.wait_quiet, 600)
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    load_start = loadavg()
    print(f"bench: {'smoke' if args.smoke else 'quick' if args.quick else 'full'} run into {outdir}; load average {load_start}", flush=True)
    rows: List[Dict[str, Any]] = []
    versions: Dict[str, str] = {}
    t0 = time.monotonic()
    phases: Dict[str, float] = {}
    with open(outdir / "results.jsonl", "w") as out:
        if not args.memory_only:
            runners = make_runners(selected, args, logdir, env)
            try:
                start_all(runners)
                phases["start"] = time.monotonic() - t0
                for r in runners:
                    versions.update({f"{r.lang} {k}": v for k, v in r.versions.items()})
                    emit(out, rows, {"kind": "runner", "lang": r.lang, "client": r.client, "ops": r.ops, "versions": r.versions})
                run_scenarios(runners, sizes, out, rows, scenarios)
                phases["scenarios"] = time.monotonic() - t0 - sum(phases.values())
            finally:
                for r in runners:
                    r.stop()
            if not args.no_imports:
                # The smoke times polyfuse's import only (LiteLLM alone takes seconds to import).
                imported = {lang: ["polyfuse"] for lang in langs} if args.smoke else selected
                for row in measure_imports(langs, sizes.import_repeats, sys.executable, args.node, env, imported):
                    emit(out, rows, row)
                    print(f"  import      {row['lang']:<7} {row['client']:<20} {row['import_ms']:7.1f} ms, RSS {row['rss_mb']:.1f} MB", flush=True)
            phases["imports"] = time.monotonic() - t0 - sum(phases.values())
        if not args.no_memory:
            run_memory(selected, sizes, args, logdir, env, out, rows, in_flight=not args.no_in_flight)
            phases["memory"] = time.monotonic() - t0 - sum(phases.values())
    versions.update({"node": os.popen(f"{args.node} --version").read().strip()})
    meta = {
        "started": started,
        "mode": ("smoke" if args.smoke else "quick" if args.quick else "full") + (" (memory only)" if args.memory_only else ""),
        "rounds": sizes.rounds, "duration_s": sizes.duration_s, "concurrencies": sizes.concurrencies,
        "machine": machine(), "load_start": load_start, "load_end": loadavg(), "versions": versions,
        "elapsed_s": time.monotonic() - t0, "phases_s": phases,
    }
    with open(outdir / "results.jsonl", "a") as out:
        out.write(json.dumps({"kind": "meta", **meta}) + "\n")
    written = report.write(outdir, rows, meta)
    with open(outdir / "results.jsonl", "a") as out:
        for s in written["summary"]:
            out.write(json.dumps(s) + "\n")
    latest = BENCH / "results" / ("latest-smoke" if args.smoke else "latest")
    if args.out is None:
        if latest.is_symlink() or latest.exists():
            latest.unlink()
        latest.symlink_to(outdir.name)
    print(f"\nbench: {time.monotonic() - t0:.0f} s (" + ", ".join(f"{k} {v:.0f} s" for k, v in phases.items()) + f"); {outdir / 'summary.md'}" + (f", {outdir / 'chart.png'}" if written["chart"] else " (no chart: matplotlib missing)"))
    if args.smoke:
        return checks.smoke(rows, written, selected, sizes, outdir, scenarios)
    print(written["markdown"])
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        sys.exit(1)
