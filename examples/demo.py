"""polyfuse demo: a routed completion, a stream and a fusion, printing text and usage.

Runs on the built-in in-process `mock` provider (no network, no key), and prints the same output
on every run. With OPENAI_API_KEY set it uses `openai/gpt-4o-mini` instead.

    python examples/demo.py
"""

import asyncio
import os

import polyfuse

REAL = bool(os.environ.get("OPENAI_API_KEY"))
CONFIG = {
    "policy": {"max_attempts_per_target": 1},
    "routes": {
        # A route: try the first target, fall back to the second if it fails.
        "chat": {
            "targets": ["openai/gpt-4o-mini", "mock/echo"] if REAL else ["mock/flaky", "mock/echo"],
        }
    },
    "mock": {
        "models": {
            # mock/flaky fails with a 503 every time, so the route falls back to mock/echo.
            "flaky": {"fail": {"kind": "overloaded", "status": 503}},
            "storyteller": {"text": "Once upon a time, a request found its way home.", "chunk_delay_ms": 20},
            # A fusion's panel and its judge, whose verdict is scripted here (the fusion always runs
            # on the mock).
            "analyst-a": {"text": "Paris.", "latency_ms": 30},
            "analyst-b": {"text": "The capital of France is Paris.", "latency_ms": 60},
            "analyst-c": {"text": "Lyon.", "latency_ms": 90},
            "judge": {
                "text": 'B is right and complete, A is right but terse, C is wrong. '
                '{"scores": {"A": 7, "B": 9, "C": 1}, "winner": "B", "confidence": "high", '
                '"rationale": "B answers the question in full"}'
            },
        }
    },
}


async def main() -> None:
    # The usage callback runs on polyfuse's usage thread: collect the events there and print them
    # once they are all in (after `aflush_usage`), so the output is the same on every run.
    usage: "list[polyfuse.UsageEvent]" = []
    client = polyfuse.Client(CONFIG, on_usage=usage.append)

    print("== completion on route `chat`")
    r = await client.complete("chat", "Hello, polyfuse!", temperature=0)
    print(f"{r.model} answered: {r.text!r}")
    print(f"attempts: {[(a.model, a.outcome) for a in r.attempts]}")

    print("== stream")
    model = "openai/gpt-4o-mini" if REAL else "mock/storyteller"
    async for event in client.stream(model, [{"role": "user", "content": "Tell me a very short story"}]):
        if event.type == "text_delta":
            print(event.text, end="", flush=True)
        elif event.type == "final":
            u = event.response.usage
            print(f"\nfinish: {event.response.finish_reason}, tokens: {u.input_tokens} in / {u.output_tokens} out")

    print("== fusion (best-of: 3 members in parallel, then a judge)")
    pool = ["mock/analyst-a", "mock/analyst-b", "mock/analyst-c"]
    f = await client.fuse("What is the capital of France?", pool=pool, judge="mock/judge", mode="best-of", seed=7)
    winner = f.winner_candidate
    print(f"answer: {f.answer!r} (candidate {f.winner}, {winner.model if winner else None})")
    print(f"scores: {f.scores}; {f.calls} calls; parse path: {f.parse_path}")
    print(f"candidates: {[(c.label, c.model, c.status) for c in f.candidates]}")

    await client.aflush_usage()  # every usage event of the calls above has been delivered
    print("== usage events (one per call; attempts have their own; a fusion's members are under its own)")
    for event in (e for e in usage if e.level != "attempt" and e.parent_id is None):
        print(
            f"  {event.model}: {event.outcome}, {event.usage.input_tokens} in / "
            f"{event.usage.output_tokens} out, {len(event.attempts)} attempt(s)"
        )


asyncio.run(main())
