"""Import time (wall and CPU: a loaded machine stretches the first, hardly the second) and RSS
right after the import, each in a fresh process (Python: ``import X``; Node: ``require`` /
dynamic ``import()``),
the targets taken in turn (A B C A B C ...) and summarized by their medians."""

from __future__ import annotations

import json
import statistics
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Tuple

from procs import BENCH, BenchError

ROOT = BENCH.parent

PY_SNIPPET = """
import resource, time
c = resource.getrusage(resource.RUSAGE_SELF)
t = time.perf_counter()
import {module}
dt = time.perf_counter() - t
d = resource.getrusage(resource.RUSAGE_SELF)
cpu = d.ru_utime + d.ru_stime - c.ru_utime - c.ru_stime
rss = [l for l in open('/proc/self/status') if l.startswith('VmRSS:')][0].split()[1]
print('@@bench {{"import_ms": %f, "import_cpu_ms": %f, "rss_mb": %f}}' % (dt * 1e3, cpu * 1e3, int(rss) / 1024))
"""

NODE_SNIPPET = """
import {{ readFileSync }} from 'node:fs'
import {{ createRequire }} from 'node:module'
const require = createRequire(process.cwd() + '/')
const c = process.cpuUsage()
const t = performance.now()
{load}
const dt = performance.now() - t
const cu = process.cpuUsage(c)
const rss = Number(/^VmRSS:\\s+(\\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))[1]) / 1024
console.log('@@bench ' + JSON.stringify({{ import_ms: dt, import_cpu_ms: (cu.user + cu.system) / 1e3, rss_mb: rss }}))
"""

# (language, label, what to load)
PY_TARGETS = [("python", "polyfuse", "polyfuse"), ("python", "openai", "openai"), ("python", "litellm", "litellm"), ("python", "httpx", "httpx")]
NODE_TARGETS = [
    ("node", "polyfuse", f"require({json.dumps(str(ROOT))})"),
    ("node", "openai", "await import('openai')"),
    ("node", "ai-sdk", "await import('ai'); await import('@ai-sdk/openai')"),
    ("node", "undici", "await import('undici')"),
]
BASELINES = [("python", "(interpreter only)", None), ("node", "(interpreter only)", None)]


def _once(lang: str, load: Any, python: str, node: str, env: Dict[str, str]) -> Dict[str, float]:
    if lang == "python":
        code = PY_SNIPPET.format(module=load) if load else PY_SNIPPET.replace("import {module}", "pass").format()
        argv = [python, "-c", code]
    else:
        code = NODE_SNIPPET.format(load=load or "")
        argv = [node, "--input-type=module", "-e", code]
    out = subprocess.run(argv, capture_output=True, text=True, cwd=BENCH, env=env, timeout=120)
    for line in out.stdout.splitlines():
        if line.startswith("@@bench "):
            return json.loads(line[8:])
    raise BenchError(f"import timing of {load!r} ({lang}) failed: {out.stderr.strip()[-500:]}")


def measure_imports(langs: List[str], repeats: int, python: str, node: str, env: Dict[str, str], available: Dict[str, List[str]]) -> List[Dict[str, Any]]:
    """One row per target: median import ms and RSS MB over `repeats` fresh processes.
    `available[lang]` lists the clients installed for that language (others are skipped)."""
    targets: List[Tuple[str, str, Any]] = [t for t in BASELINES if t[0] in langs]
    for lang, label, load in PY_TARGETS + NODE_TARGETS:
        if lang in langs and label in available.get(lang, []):
            targets.append((lang, label, load))
    samples: Dict[Tuple[str, str], List[Dict[str, float]]] = {(t[0], t[1]): [] for t in targets}
    for _ in range(repeats):
        for lang, label, load in targets:
            samples[(lang, label)].append(_once(lang, load, python, node, env))
    rows = []
    for (lang, label), s in samples.items():
        rows.append({
            "kind": "import",
            "lang": lang,
            "client": label,
            "import_ms": statistics.median(x["import_ms"] for x in s),
            "import_cpu_ms": statistics.median(x["import_cpu_ms"] for x in s),
            "rss_mb": statistics.median(x["rss_mb"] for x in s),
            "repeats": len(s),
        })
    return rows
