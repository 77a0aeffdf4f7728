"""stream(): events in order, text and usage equal to what the mock server sent, tool-call deltas,
streams without [DONE], stream faults."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Dict, List

import pytest

import polyfuse
from conftest import MockServer

MODEL = "mockhttp/gpt-4o-mini"


async def collect(stream: polyfuse.AsyncStream) -> List[polyfuse.StreamEvent]:
    return [ev async for ev in stream]


async def test_stream_chunks_in_order_and_final(config: Dict[str, Any], usage_log: Any) -> None:
    client = polyfuse.Client(config, on_usage=usage_log)
    prompt = "please count for me"
    events = await collect(client.stream(f"{MODEL};words=12;chunks=4", prompt))
    deltas = [e for e in events if isinstance(e, polyfuse.TextDelta)]
    assert len(deltas) == 4
    assert all(e.type == "text_delta" for e in deltas)
    final = events[-1]
    assert isinstance(final, polyfuse.Final) and final.type == "final"
    assert [type(e) for e in events[:-1]] == [polyfuse.TextDelta] * 4
    text = "".join(d.text for d in deltas)
    assert text == " ".join(f"w{i}" for i in range(1, 13))
    assert final.response.text == text
    assert final.response.usage.input_tokens == 4 + 3
    assert final.response.usage.output_tokens == 12
    assert final.response.ttft_ms is not None
    await client.aflush_usage()
    assert len(usage_log.events) == 1
    ev = usage_log.events[0]
    assert ev.streamed and ev.outcome == "ok" and ev.usage.output_tokens == 12


async def test_stream_usage_breakdown(config: Dict[str, Any]) -> None:
    events = await collect(
        polyfuse.Client(config).stream(f"{MODEL};words=3;prompt_tokens=50;cached_tokens=20;reasoning_tokens=7", "hi")
    )
    final = events[-1]
    assert isinstance(final, polyfuse.Final)
    u = final.response.usage
    assert (u.input_tokens, u.cached_input_tokens, u.output_tokens, u.reasoning_tokens) == (50, 20, 10, 7)


async def test_tool_call_deltas_assemble(config: Dict[str, Any]) -> None:
    args = '{"city":"Paris","unit":"celsius"}'
    events = await collect(
        polyfuse.Client(config).stream(f"{MODEL};tool_call=get_weather,get_time;tool_calls=2;chunks=3", "weather?")
    )
    deltas = [e for e in events if isinstance(e, polyfuse.ToolCallDelta)]
    assert {d.index for d in deltas} == {0, 1}
    pieces: Dict[int, str] = {}
    names: Dict[int, str] = {}
    for d in deltas:
        pieces[d.index] = pieces.get(d.index, "") + d.arguments
        if d.name:
            names[d.index] = d.name
    assert pieces == {0: args, 1: args}
    assert names == {0: "get_weather", 1: "get_time"}
    final = events[-1]
    assert isinstance(final, polyfuse.Final)
    r = final.response
    assert r.finish_reason == "tool_calls"
    assert [(t.name, t.parsed_arguments) for t in r.tool_calls] == [
        ("get_weather", {"city": "Paris", "unit": "celsius"}),
        ("get_time", {"city": "Paris", "unit": "celsius"}),
    ]
    assert r.tool_calls[0].id and r.tool_calls[0].id != r.tool_calls[1].id


@pytest.mark.parametrize("mode", ["1", "hold"])
async def test_stream_without_done_finishes_promptly(config: Dict[str, Any], mode: str) -> None:
    started = time.monotonic()
    events = await asyncio.wait_for(collect(polyfuse.Client(config).stream(f"{MODEL};words=5;no_done={mode}", "hi")), 5)
    assert time.monotonic() - started < 5
    final = events[-1]
    assert isinstance(final, polyfuse.Final)
    assert final.response.text == "w1 w2 w3 w4 w5"


async def test_stream_error_after_output_raises(config: Dict[str, Any], usage_log: Any) -> None:
    client = polyfuse.Client(config, on_usage=usage_log)
    seen: List[str] = []
    with pytest.raises(polyfuse.PolyfuseError) as info:
        async for ev in client.stream(f"{MODEL};words=6;error_after=2", "hi"):
            if isinstance(ev, polyfuse.TextDelta):
                seen.append(ev.text)
    assert len(seen) == 2
    assert info.value.kind in ("server", "invalid_response")
    await client.aflush_usage()
    assert [e.outcome for e in usage_log.events] == ["error"]


async def test_cut_stream_raises_connection_error(config: Dict[str, Any]) -> None:
    with pytest.raises(polyfuse.ConnectionError) as info:
        await collect(polyfuse.Client(config).stream(f"{MODEL};words=6;cut_after=3", "hi"))
    assert isinstance(info.value, ConnectionError)  # builtins.ConnectionError too


async def test_stream_error_status_raises_before_events(config: Dict[str, Any]) -> None:
    with pytest.raises(polyfuse.ServerError):
        await collect(polyfuse.Client(config).stream(f"{MODEL};status=500", "hi"))


async def test_async_with_and_aclose(config: Dict[str, Any], mock_server: MockServer) -> None:
    client = polyfuse.Client(config)
    before = mock_server.stats()["client_disconnects"]
    async with client.stream(f"{MODEL};words=50;chunk_delay_ms=100", "hi") as stream:
        first = await stream.__anext__()
        assert isinstance(first, polyfuse.TextDelta)
    stats = mock_server.wait_for(lambda s: s["client_disconnects"] > before)
    assert stats["client_disconnects"] > before
    with pytest.raises(StopAsyncIteration):
        await stream.__anext__()


async def test_in_process_mock_stream() -> None:
    events = await collect(polyfuse.Client().stream("mock/echo", "a b c"))
    assert "".join(e.text for e in events if isinstance(e, polyfuse.TextDelta)) == "a b c"
    assert isinstance(events[-1], polyfuse.Final)
