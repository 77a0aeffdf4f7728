"""polyfuse (Python binding) vs the official `openai` package, against the same mock server
(tests/mock-server, real HTTP on loopback), non-streaming, tiny answers.

Reports calls/s and CPU time per call (resource.getrusage of this process: includes the Rust
threads and the openai package's threads) at concurrency 1 and 50.

    pip install openai
    maturin develop --release
    cargo build --release -p polyfuse-mock-server
    python bench/python_bench.py [--calls 2000] [--server PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Awaitable, Callable, List, Tuple

ROOT = Path(__file__).resolve().parents[1]
MODEL = "gpt-4o-mini;text=ok"
KEY = "sk-bench-123"


def start_server(path: str) -> Tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    return proc, line.split()[1] + "/v1"


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def measure(call: Callable[[], Awaitable[object]], calls: int, concurrency: int) -> Tuple[float, float]:
    for _ in range(min(50, calls)):  # warm up (connections, caches)
        await call()
    sem_calls = iter(range(calls))

    async def worker() -> None:
        for _ in sem_calls:
            await call()

    c0, t0 = cpu(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall, used = time.perf_counter() - t0, cpu() - c0
    return calls / wall, used / calls * 1e6


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=2000)
    target = os.environ.get("CARGO_TARGET_DIR") or str(ROOT / "target")
    default_server = os.path.join(target, "release", "polyfuse-mock-server")
    if not os.path.exists(default_server):
        default_server = os.path.join(target, "debug", "polyfuse-mock-server")
    ap.add_argument("--server", default=os.environ.get("POLYFUSE_MOCK_SERVER", default_server))
    args = ap.parse_args()

    import openai
    import polyfuse

    proc, base = start_server(args.server)
    try:
        pf = polyfuse.Client(
            {"env_providers": False, "providers": {"mock": {"format": "openai", "base_url": base, "api_key": KEY}},
             "policy": {"max_attempts_per_target": 1}}
        )
        oa = openai.AsyncOpenAI(base_url=base, api_key=KEY, max_retries=0)
        msgs = [{"role": "user", "content": "hi"}]

        async def pf_call() -> object:
            return (await pf.complete("mock/" + MODEL, msgs)).text

        async def oa_call() -> object:
            r = await oa.chat.completions.create(model=MODEL, messages=msgs)  # type: ignore[arg-type]
            return r.choices[0].message.content

        rows: List[Tuple[str, int, float, float]] = []
        for concurrency in (1, 50):
            for name, call in (("polyfuse", pf_call), ("openai", oa_call)):
                rate, cpu_us = await measure(call, args.calls, concurrency)
                rows.append((name, concurrency, rate, cpu_us))
        await oa.close()
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(5)

    print(f"python {sys.version.split()[0]}, openai {openai.__version__}, polyfuse {polyfuse.__version__}, {args.calls} calls each")
    print(f"{'client':<10} {'concurrency':>11} {'calls/s':>10} {'CPU us/call':>12}")
    for name, concurrency, rate, cpu_us in rows:
        print(f"{name:<10} {concurrency:>11} {rate:>10.0f} {cpu_us:>12.0f}")


if __name__ == "__main__":
    asyncio.run(main())
