"""polyfuse demo: a routed completion and a stream, printing text and usage.

Runs on the built-in in-process `mock` provider (no network, no key). With OPENAI_API_KEY set it
uses `openai/gpt-4o-mini` instead.

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


def on_usage(event: polyfuse.UsageEvent) -> None:
    print(
        f"  [usage] {event.model}: {event.outcome}, {event.usage.input_tokens} in / "
        f"{event.usage.output_tokens} out, {len(event.attempts)} attempt(s), {event.latency_ms:.1f} ms"
    )


async def main() -> None:
    client = polyfuse.Client(CONFIG, on_usage=on_usage)

    print("== completion on route `chat`")
    r = await client.complete("chat", "Hello, polyfuse!", temperature=0)
    print(f"{r.model} answered: {r.text!r}")
    print(f"attempts: {[(a.model, a.outcome) for a in r.attempts]}")
    await client.aflush_usage()  # let the usage line print before the stream starts

    print("== stream")
    model = "openai/gpt-4o-mini" if REAL else "mock/storyteller"
    async for event in client.stream(model, [{"role": "user", "content": "Tell me a very short story"}]):
        if event.type == "text_delta":
            print(event.text, end="", flush=True)
        elif event.type == "final":
            u = event.response.usage
            print(f"\nfinish: {event.response.finish_reason}, tokens: {u.input_tokens} in / {u.output_tokens} out")

    await client.aflush_usage()


asyncio.run(main())
