"""How results cross from the Rust runtime to Python (bindings-python/src/handoff.rs): queued
items are taken without waiting, a waiting coroutine is woken through its loop's hub, and no
wake-up is lost, however many streams and calls share a loop and however many loops there are."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Dict, List

import polyfuse
from conftest import MockServer, make_config

MODEL = "mockhttp/gpt-4o-mini"


def words(n: int) -> str:
    return " ".join(f"w{i}" for i in range(1, n + 1))


async def read_stream(client: polyfuse.Client, model: str) -> str:
    parts = []
    async for ev in client.stream(model, "x"):
        if ev.type == "text_delta":
            parts.append(ev.text)
    return "".join(parts)


async def mixed(client: polyfuse.Client, n: int) -> List[str]:
    """n streams and n completions at once on this loop."""
    streams = [read_stream(client, f"{MODEL};words=20;chunk_delay_ms=1;key=s{i}") for i in range(n)]
    completes = [client.complete(f"{MODEL};words=3;key=c{i}", "x") for i in range(n)]
    done = await asyncio.wait_for(asyncio.gather(*streams, *completes), 60)
    return [d if isinstance(d, str) else d.text for d in done]


def test_many_streams_and_calls_on_two_loops_lose_no_wake_up(mock_server: MockServer) -> None:
    # One client, two threads, each with its own loop (and so its own hub), 300 streams and 300
    # calls on each at once: every one ends (a lost wake-up would leave one waiting forever:
    # wait_for fails it after 60 s).
    client = polyfuse.Client(make_config(mock_server.base_url))
    results: Dict[int, Any] = {}

    def run(k: int) -> None:
        try:
            results[k] = asyncio.run(mixed(client, 300))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            results[k] = exc

    threads = [threading.Thread(target=run, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for k in range(2):
        got = results.get(k)
        assert isinstance(got, list), f"loop {k}: {got!r}"
        assert got[:300] == [words(20)] * 300
        assert got[300:] == [words(3)] * 300


async def test_a_stream_longer_than_the_queue_arrives_whole_and_in_order(mock_server: MockServer) -> None:
    # 500 events against a queue of 64: the producer waits for the consumer, nothing is lost.
    client = polyfuse.Client(make_config(mock_server.base_url))
    stream = client.stream(f"{MODEL};words=500", "x")
    first = await stream.__anext__()
    assert first.type == "text_delta"
    await asyncio.sleep(0.05)  # not a synchronization: the answer is the same whatever the timing
    rest = [first] + [ev async for ev in stream]
    text = "".join(ev.text for ev in rest if ev.type == "text_delta")
    assert text == words(500)
    assert rest[-1].type == "final" and rest[-1].response.text == words(500)


async def test_break_with_events_queued_closes_the_connection(mock_server: MockServer) -> None:
    client = polyfuse.Client(make_config(mock_server.base_url))
    before = mock_server.stats()["client_disconnects"]
    async for ev in client.stream(f"{MODEL};words=400;chunk_delay_ms=2;key=brk", "x"):
        assert ev.type == "text_delta"
        break
    mock_server.wait_for(lambda s: s["client_disconnects"] >= before + 1)


class NoReaderLoop(asyncio.SelectorEventLoop):
    """A loop that cannot watch file descriptors (like Windows' proactor loop)."""

    def add_reader(self, fd: Any, callback: Any, *args: Any) -> None:
        raise NotImplementedError


def test_a_loop_without_add_reader_is_woken_through_call_soon_threadsafe(mock_server: MockServer) -> None:
    client = polyfuse.Client(make_config(mock_server.base_url))
    loop = NoReaderLoop()
    try:
        got = loop.run_until_complete(mixed(client, 20))
    finally:
        loop.close()
    assert got[:20] == [words(20)] * 20


async def test_an_error_comes_after_the_events_before_it(mock_server: MockServer) -> None:
    # The mock cuts the stream after 5 events: all 5 are delivered, then the error (no retry in
    # this config), never a silent end.
    client = polyfuse.Client(make_config(mock_server.base_url))
    seen = []
    try:
        async for ev in client.stream(f"{MODEL};words=20;cut_after=5", "x"):
            seen.append(ev)
        raise AssertionError("the cut stream ended without an error")
    except polyfuse.ConnectionError:
        pass
    assert "".join(ev.text for ev in seen if ev.type == "text_delta") == words(5)
