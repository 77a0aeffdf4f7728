"""The smoke's checks: every runner produced a well-formed result for every scenario it takes at
every concurrency, import and memory rows are there and sane, and the report files were
written. No timing is asserted: only that the numbers exist and are consistent."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Dict, List, Optional

from plan import SCENARIOS, Sizes


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def measure_problems(r: Dict[str, Any], stream: bool) -> List[str]:
    bad = []
    if not (_num(r.get("calls")) and r["calls"] > 0):
        bad.append(f"no calls made ({r.get('calls')})")
    if r.get("errors"):
        bad.append(f"{r['errors']} errors, first: {r.get('first_error')}")
    for m in ("calls_per_s", "cpu_us_per_call", "p50_ms", "p99_ms", "peak_rss_mb", "rss_mb", "wall_s"):
        if not (_num(r.get(m)) and r[m] > 0):
            bad.append(f"{m} = {r.get(m)!r}")
    if _num(r.get("p50_ms")) and _num(r.get("p99_ms")) and r["p50_ms"] > r["p99_ms"]:
        bad.append("p50 > p99")
    if stream:
        if not (_num(r.get("ttft_p50_ms")) and r["ttft_p50_ms"] > 0):
            bad.append(f"no TTFT ({r.get('ttft_p50_ms')!r})")
        elif _num(r.get("p99_ms")) and r["ttft_p50_ms"] > r["p99_ms"]:
            bad.append("TTFT p50 above the latency p99")
    elif r.get("ttft_p50_ms") is not None:
        bad.append("a TTFT on a non-stream op")
    return bad


def smoke(rows: List[Dict[str, Any]], written: Dict[str, Any], selected: Dict[str, List[str]], sizes: Sizes, outdir: Path, only: List[str]) -> int:
    passed, failed = 0, []

    def ok(cond: bool, what: str) -> None:
        nonlocal passed
        if cond:
            passed += 1
        else:
            failed.append(what)

    runners = [r for r in rows if r.get("kind") == "runner"]
    ok(sum(len(v) for v in selected.values()) == len(runners), f"every runner started ({len(runners)} did)")
    for run in runners:
        key = f"{run['lang']}:{run['client']}"
        ok(bool(run.get("versions")), f"{key}: reported its versions")
        for sc in SCENARIOS:
            if sc.op not in run["ops"] or (only and sc.name not in only):
                continue
            for c in sc.concurrencies or sizes.concurrencies:
                cells = [r for r in rows if r.get("kind") == "measure" and (r["lang"], r["client"], r["scenario"], r["concurrency"]) == (run["lang"], run["client"], sc.name, c)]
                ok(len(cells) == sizes.rounds, f"{key} {sc.name} c={c}: {len(cells)} results for {sizes.rounds} rounds")
                for cell in cells:
                    problems = measure_problems(cell, stream=sc.op == "stream")
                    ok(not problems, f"{key} {sc.name} c={c}: " + "; ".join(problems))
    imports = [r for r in rows if r.get("kind") == "import"]
    for lang in selected:
        if lang == "rust":
            continue
        labels = {r["client"] for r in imports if r["lang"] == lang}
        ok("polyfuse" in labels, f"{lang}: import time of polyfuse measured ({sorted(labels)})")
    for r in imports:
        ok(_num(r["import_ms"]) and r["import_ms"] > 0 and _num(r["rss_mb"]) and r["rss_mb"] > 0, f"import {r['lang']} {r['client']}: {r}")
    for lang, client in (("python", "polyfuse"), ("node", "polyfuse"), ("rust", "floor")):
        if client not in selected.get(lang, []):
            continue
        flight = _one(rows, "in_flight", lang, client)
        ok(flight is not None, f"{lang}:{client}: streams-in-flight result")
        if flight is not None:
            ok(flight["all_in_flight"] and flight["in_flight_reached"] == flight["n"], f"{lang}:{client}: all {flight['n']} streams in flight at once ({flight['in_flight_reached']})")
            ok(flight["errors"] == 0, f"{lang}:{client}: streams in flight without errors ({flight.get('first_error')})")
            ok(all(_num(flight[k]) and flight[k] > 0 for k in ("rss_before_mb", "rss_in_flight_mb", "peak_rss_mb", "rss_after_mb")), f"{lang}:{client}: RSS readings {flight}")
        growth = _one(rows, "growth", lang, client)
        ok(growth is not None, f"{lang}:{client}: growth result")
        if growth is not None:
            ok([p["calls"] for p in growth["points"]] == list(sizes.growth_checkpoints), f"{lang}:{client}: growth checkpoints {growth['points']}")
            ok(growth["errors"] == 0, f"{lang}:{client}: growth without errors ({growth.get('first_error')})")
    md = (outdir / "summary.md").read_text() if (outdir / "summary.md").exists() else ""
    for run in runners:
        ok(f" {run['client']} |" in md, f"summary.md has a row for {run['lang']}:{run['client']}")
    ok("## targets" in md, "summary.md has the targets table")
    png = outdir / "chart.png"
    ok(bool(written["chart"]) and png.exists() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", "chart.png written (matplotlib)")
    for f in failed:
        print(f"FAILED: {f}")
    print(f"smoke: {passed} passed, {len(failed)} failed")
    return 1 if failed else 0


def _one(rows: List[Dict[str, Any]], kind: str, lang: str, client: str) -> Optional[Dict[str, Any]]:
    found = [r for r in rows if r.get("kind") == kind and r["lang"] == lang and r["client"] == client]
    return found[0] if len(found) == 1 else None
