"""The one call engine as Python users see it: streams retry the same target before falling back,
a JSON answer to a stream request, refusals as text, where usage figures come from, built-in
providers overridden by name, and a failed route's error naming the route and each failure."""

from __future__ import annotations

from typing import Any, Dict, List

import pytest

import polyfuse
from conftest import API_KEY, MockServer


def _client(mock_server: MockServer, **extra: Any) -> polyfuse.Client:
    config: Dict[str, Any] = {
        "env_providers": False,
        "providers": {"p": {"format": "openai", "base_url": mock_server.base_url, "api_key": API_KEY}},
        "policy": {"backoff_initial_ms": 50, "breaker": {"enabled": False}},
        **extra,
    }
    return polyfuse.Client(config)


async def _collect(stream: polyfuse.AsyncStream) -> List[Any]:
    return [ev async for ev in stream]


@pytest.mark.asyncio
@pytest.mark.parametrize("fault,kind", [("status=429;retry_after=1", "rate_limited"), ("status=500", "server"), ("status=408", "timeout")])
async def test_a_stream_retries_the_primary_before_the_fallback(mock_server: MockServer, fault: str, kind: str) -> None:
    key = f"py-{fault.split(';')[0]}"
    client = _client(mock_server, routes={"r": {"targets": [f"p/primary;{fault};fail_times=1;key={key}", "p/backup"]}})
    events = await _collect(client.stream("r", "hi"))
    final = events[-1]
    assert final.type == "final"
    assert final.response.model.startswith("p/primary")
    assert [(a.outcome, a.error_kind) for a in final.response.attempts] == [("error", kind), ("ok", None)]
    assert final.response.attempts[1].number == 2 and not final.response.attempts[1].fallback


@pytest.mark.asyncio
async def test_a_json_answer_to_a_stream_request(mock_server: MockServer) -> None:
    client = _client(mock_server)
    r = await client.complete("p/m;json_stream=1;text=whole answer", "hi")
    assert r.text == "whole answer" and len(r.attempts) == 1
    events = await _collect(client.stream("p/m;json_stream=1;text=whole answer", "hi"))
    assert "".join(e.text for e in events if e.type == "text_delta") == "whole answer"
    assert events[-1].type == "final" and events[-1].response.text == "whole answer"


@pytest.mark.asyncio
async def test_a_refusal_is_the_text(mock_server: MockServer) -> None:
    client = _client(mock_server)
    model = "p/m;refusal=I%27m sorry, I can%27t help."
    r = await client.complete(model, "hi")
    assert r.text == "I'm sorry, I can't help."
    assert r.message["refusal"] == "I'm sorry, I can't help."
    events = await _collect(client.stream(model, "hi"))
    assert "".join(e.text for e in events if e.type == "text_delta") == "I'm sorry, I can't help."


@pytest.mark.asyncio
async def test_usage_says_where_its_figures_come_from(mock_server: MockServer) -> None:
    client = _client(mock_server, routes={"r": {"targets": ["p/x;status=500;key=py-none", "p/y;usage=0;words=8"]}})
    r = await client.complete("r", "count these words please")
    rejected, answered = r.attempts[0], r.attempts[-1]
    assert rejected.usage.source == "none" and rejected.usage.total_tokens == 0
    assert answered.usage.source == "estimated" and answered.usage.output_tokens > 0
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens
    r = await client.complete("p/z;words=3", "hi")
    assert r.usage.source == "reported"
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens == r.to_dict()["usage"]["total_tokens"]


@pytest.mark.asyncio
async def test_a_builtin_provider_is_overridden_by_name(mock_server: MockServer) -> None:
    client = polyfuse.Client({"env_providers": False, "providers": {"openai": {"base_url": mock_server.base_url, "api_key": API_KEY}}})
    r = await client.complete("openai/gpt-4o-mini;text=via proxy", "hi")
    assert r.text == "via proxy" and r.provider == "openai"


@pytest.mark.asyncio
async def test_a_failed_route_names_the_route_and_each_failure(mock_server: MockServer) -> None:
    client = _client(mock_server, routes={"chat": {"targets": ["p/a;status=429", "p/b;error=server_error"]}})
    with pytest.raises(polyfuse.PolyfuseError) as info:
        await client.complete("chat", "hi")
    message = str(info.value)
    assert "route `chat`" in message and "4 attempts" in message
    assert "p/a;status=429 rate_limited (HTTP 429) x2" in message
    assert "p/b;error=server_error server (HTTP 500) x2" in message
    assert len(info.value.attempts) == 4
