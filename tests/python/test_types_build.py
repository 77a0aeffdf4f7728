"""The result types built by `_from_dict` without `__init__` (`polyfuse._types._build`) are the
same objects `__init__` would make: exactly the declared fields, equal, hashable where frozen, and
still immutable."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

import polyfuse
from conftest import MockServer, make_config

MODEL = "mockhttp/gpt-4o-mini"


def check(obj: Any) -> None:
    cls = type(obj)
    names = {f.name for f in dataclasses.fields(cls)}
    assert set(vars(obj)) == names, f"{cls.__name__}: {set(vars(obj)) ^ names}"
    assert cls(**vars(obj)) == obj
    repr(obj)
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(obj, next(iter(names)), None)
    for value in vars(obj).values():
        for item in value if isinstance(value, list) else [value]:
            if dataclasses.is_dataclass(item) and not isinstance(item, type):
                check(item)


async def test_responses_attempts_usage_and_tool_calls(mock_server: MockServer) -> None:
    cfg = make_config(mock_server.base_url)
    cfg["routes"] = {"r": {"targets": [f"{MODEL};status=500", f"{MODEL};words=2"]}}
    client = polyfuse.Client(cfg)
    r = await client.complete("r", "x")
    assert len(r.attempts) == 2 and r.text == "w1 w2"
    check(r)
    t = await client.complete(f"{MODEL};tools=1", "x", tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}])
    assert t.tool_calls
    check(t)


async def test_stream_events(mock_server: MockServer) -> None:
    client = polyfuse.Client(make_config(mock_server.base_url))
    events = [ev async for ev in client.stream(f"{MODEL};words=3", "x")]
    assert [ev.type for ev in events] == ["text_delta"] * 3 + ["final"]
    for ev in events:
        check(ev)
    assert events[0] == polyfuse.TextDelta("w1") and hash(events[0]) == hash(polyfuse.TextDelta("w1"))


async def test_usage_events(mock_server: MockServer) -> None:
    seen: list = []
    client = polyfuse.Client(make_config(mock_server.base_url), on_usage=seen.append)
    await client.complete(f"{MODEL};words=2", "x", tags={"t": 1}, metadata={"m": "v"})
    await client.aflush_usage()
    assert [e.level for e in seen] == ["attempt", "call"]
    for e in seen:
        check(e)
