"""polyfuse demo: a routed completion and a stream, printing text and usage.

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

    await client.aflush_usage()  # every usage event of the calls above has been delivered
    print("== usage events (one per call; attempts have their own)")
    for event in (e for e in usage if e.level == "call"):
        print(
            f"  {event.model}: {event.outcome}, {event.usage.input_tokens} in / "
            f"{event.usage.output_tokens} out, {len(event.attempts)} attempt(s)"
        )


asyncio.run(main())
