"""What the bench runs: the clients of each language, the scenarios (an op, the mock model it
calls, the answer every call must give, the concurrencies), and the run sizes of the full,
quick and smoke modes.

Adding a scenario is one ``Scenario`` here plus one op function in the runners' clients
(``bench/python/clients.py``, ``bench/node/clients.mjs``); clients without that op are skipped.
Fusion goes here: a ``fuse`` scenario (polyfuse's fusion of 3 members + judge, with the same
mock models as ``fanout3_judge``) whose ``floor`` is ``fanout3_judge`` (slowest member + judge,
made by hand with the same client); the report then shows the overhead of one over the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

WORDS = 20
MODEL = f"bench;words={WORDS}"
"""Every call gets the same 20-word answer; a stream carries it as 20 content events."""
EXPECT = " ".join(f"w{i}" for i in range(1, WORDS + 1))

CLIENTS: Dict[str, List[str]] = {
    "python": [
        "polyfuse",
        "polyfuse-plain",
        "polyfuse-route",
        "polyfuse-slowcb",
        "polyfuse-slowcb-async",
        "openai",
        "litellm",
        "litellm-router",
        "httpx",
    ],
    "node": [
        "polyfuse",
        "polyfuse-plain",
        "polyfuse-route",
        "polyfuse-slowcb",
        "polyfuse-slowcb-async",
        "openai",
        "ai-sdk",
        "undici",
    ],
    "rust": ["floor"],
}

LABELS = {
    "polyfuse": "polyfuse complete()/stream(), default policy",
    "polyfuse-plain": "polyfuse complete(), complete_via_stream = false",
    "polyfuse-route": "polyfuse via a route with an unused fallback",
    "polyfuse-slowcb": "polyfuse with a 100 ms sync usage callback",
    "polyfuse-slowcb-async": "polyfuse with a 100 ms async usage callback",
    "openai": "official openai SDK",
    "litellm": "LiteLLM acompletion",
    "litellm-router": "LiteLLM Router with an unused fallback",
    "httpx": "raw httpx + json",
    "ai-sdk": "Vercel AI SDK generateText/streamText (@ai-sdk/openai)",
    "undici": "raw undici + JSON.parse",
    "floor": "raw Rust reqwest + serde_json (floor)",
}


@dataclass
class Scenario:
    name: str
    op: str
    model: str
    expect: str
    concurrencies: Optional[Tuple[int, ...]] = None  # None: the run's concurrencies
    params: Dict[str, Any] = field(default_factory=dict)
    floor: Optional[str] = None  # the scenario this one's overhead is measured against
    doc: str = ""


SCENARIOS: List[Scenario] = [
    Scenario("complete", "complete", MODEL, EXPECT, doc=f"non-streaming call, {WORDS}-word answer"),
    Scenario("stream", "stream", MODEL, EXPECT, doc=f"streamed call, {WORDS} content events"),
    Scenario(
        "fanout3_judge",
        "fanout3_judge",
        "judge;text=verdict;latency_ms=20",
        "verdict",
        concurrencies=(1,),
        params={
            "members": [f"member{i};text=candidate{i};latency_ms={ms}" for i, ms in ((1, 20), (2, 40), (3, 60))],
            "judge": "judge;text=verdict;latency_ms=20",
        },
        doc="3 members at once (20/40/60 ms) then a judge (20 ms), by hand: the floor of a 3-member fusion",
    ),
]


@dataclass
class Sizes:
    rounds: int
    duration_s: float
    max_calls: int
    warmup_calls: int
    concurrencies: Tuple[int, ...]
    import_repeats: int
    streams_in_flight: int
    stream_chunk_delay_ms: int
    growth_checkpoints: Tuple[int, ...]
    growth_concurrency: int


FULL = Sizes(3, 3.0, 10**9, 200, (1, 50, 500), 7, 10_000, 1000, (10_000, 50_000, 100_000), 50)
QUICK = Sizes(1, 1.0, 10**9, 50, (1, 50, 500), 3, 2_000, 500, (2_000, 10_000), 50)
SMOKE = Sizes(1, 0.3, 8, 4, (1, 4), 1, 100, 50, (100, 200), 10)
