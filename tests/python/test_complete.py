"""complete(): responses from the HTTP mock server and the in-process mock provider, argument and
config validation, tool calls, concurrency."""

from __future__ import annotations

import asyncio
import json
import pathlib
from typing import Any, Dict

import pytest

import polyfuse
from conftest import MockServer, make_config

MODEL = "mockhttp/gpt-4o-mini"


async def test_complete_returns_text_usage_and_metadata(config: Dict[str, Any], mock_server: MockServer) -> None:
    client = polyfuse.Client(config)
    prompt = "one two three"
    r = await client.complete(f"{MODEL};text=Hello%20world", prompt, temperature=0.5, max_tokens=20)
    assert isinstance(r, polyfuse.Response)
    assert r.text == "Hello world"
    assert r.message["role"] == "assistant" and r.message["content"] == "Hello world"
    assert r.finish_reason == "stop"
    # The mock counts words + 3 per message for the prompt, words of the answer for the completion.
    assert r.usage.input_tokens == 3 + 3
    assert r.usage.output_tokens == 2
    assert r.usage.total_tokens == 8
    assert r.model == f"{MODEL};text=Hello%20world"
    assert r.provider == "mockhttp"
    assert r.provider_model == "gpt-4o-mini"
    assert r.provider_response_id and r.provider_response_id.startswith("chatcmpl-")
    assert r.latency_ms >= 0
    assert [a.outcome for a in r.attempts] == ["ok"]
    assert r.tool_calls == []
    body = mock_server.requests()[-1]["body"]
    assert body["model"] == "gpt-4o-mini;text=Hello%20world"
    assert body["messages"] == [{"role": "user", "content": prompt}]
    assert body["temperature"] == 0.5


async def test_to_openai_and_to_dict(config: Dict[str, Any]) -> None:
    client = polyfuse.Client(config)
    r = await client.complete(f"{MODEL};words=4", "hi")
    o = r.to_openai()
    assert o["object"] == "chat.completion"
    assert o["choices"][0]["message"]["content"] == r.text
    assert o["choices"][0]["finish_reason"] == "stop"
    assert o["usage"]["prompt_tokens"] == r.usage.input_tokens
    assert o["usage"]["completion_tokens"] == 4
    d = r.to_dict()
    assert d["text"] == r.text and d["usage"]["output_tokens"] == 4
    assert polyfuse.Response._from_dict(d) == r


async def test_include_raw(config: Dict[str, Any]) -> None:
    r = await polyfuse.Client(config).complete(f"{MODEL};words=2", "hi", include_raw=True)
    assert r.raw["object"] == "chat.completion"


async def test_messages_list_and_tags(config: Dict[str, Any], mock_server: MockServer, usage_log: Any) -> None:
    client = polyfuse.Client(config, on_usage=usage_log)
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "a b"}]},
    ]
    r = await client.complete(f"{MODEL};words=3", messages, tags={"team": "search", "n": 1})
    assert r.usage.input_tokens == (2 + 3) + (2 + 3)
    await client.aflush_usage()
    assert usage_log.events[-1].tags == {"team": "search", "n": 1}


async def test_tool_call_with_parsed_arguments(config: Dict[str, Any]) -> None:
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    r = await polyfuse.Client(config).complete(
        f'{MODEL};tool_call=get_weather;tool_args={{"city":"Oslo","days":3}}', "weather?", tools=tools
    )
    assert r.finish_reason == "tool_calls"
    assert len(r.tool_calls) == 1
    call = r.tool_calls[0]
    assert call.name == "get_weather"
    assert call.id.startswith("call_")
    assert call.arguments == '{"city":"Oslo","days":3}'
    assert call.parsed_arguments == {"city": "Oslo", "days": 3}
    assert r.message["tool_calls"][0]["function"]["name"] == "get_weather"


async def test_in_process_mock_provider_needs_no_server() -> None:
    client = polyfuse.Client()
    r = await client.complete("mock/echo", "Hello, polyfuse!")
    assert r.text == "Hello, polyfuse!"
    assert r.provider == "mock"
    assert r.usage.output_tokens == 2
    r2 = await client.complete("mock/storyteller", [{"role": "user", "content": "tell"}])
    assert "tell" in r2.text


async def test_unknown_kwarg_is_named() -> None:
    with pytest.raises(polyfuse.InvalidRequestError, match="temprature") as info:
        await polyfuse.Client().complete("mock/echo", "hi", temprature=0.2)
    assert isinstance(info.value, ValueError)
    assert info.value.kind == "invalid_request"


async def test_bad_arguments() -> None:
    client = polyfuse.Client()
    with pytest.raises(polyfuse.InvalidRequestError, match=r"\[1\]"):
        await client.complete("mock/echo", [{"role": "user", "content": "a"}, {"role": "robot", "content": "b"}])
    with pytest.raises(polyfuse.InvalidRequestError, match="provider/model"):
        await client.complete("echo-without-provider", "hi")
    with pytest.raises(polyfuse.ConfigError, match="nosuch"):
        await client.complete("nosuch/model", "hi")
    with pytest.raises(TypeError, match=r"messages.*\[0\]\.content.*set"):
        await client.complete("mock/echo", [{"role": "user", "content": {1, 2}}])
    with pytest.raises(TypeError, match=r"tags\.when.*object"):
        await client.complete("mock/echo", "hi", tags={"when": object()})
    with pytest.raises(polyfuse.InvalidRequestError, match="temperature"):
        await client.complete("mock/echo", "hi", temperature="hot")


def test_config_errors_name_the_key_path(tmp_path: pathlib.Path) -> None:
    with pytest.raises(polyfuse.ConfigError, match=r"providers\.local\.format") as info:
        polyfuse.Client({"providers": {"local": {"format": "nope", "base_url": "http://x"}}})
    assert isinstance(info.value, ValueError)
    with pytest.raises(polyfuse.ConfigError, match=r"policy\.total_timeout_ms"):
        polyfuse.Client({"policy": {"total_timeout_ms": "soon"}})
    with pytest.raises(polyfuse.ConfigError, match="bogus"):
        polyfuse.Client({"bogus": 1})
    bad = tmp_path / "bad.toml"
    bad.write_text('[providers.local]\nformat = "openai"\nbase_url = 3\n')
    with pytest.raises(polyfuse.ConfigError, match=r"providers\.local\.base_url"):
        polyfuse.Client(bad)
    with pytest.raises(polyfuse.ConfigError):
        polyfuse.Client(tmp_path / "missing.json")
    with pytest.raises(polyfuse.ConfigError, match="top level"):
        polyfuse.Client(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"argument `config` at `providers`.*set"):
        polyfuse.Client({"providers": {1, 2}})


async def test_config_from_files(tmp_path: pathlib.Path, mock_server: MockServer) -> None:
    cfg = make_config(mock_server.base_url)
    as_json = tmp_path / "polyfuse.json"
    as_json.write_text(json.dumps(cfg))
    as_toml = tmp_path / "polyfuse.toml"
    as_toml.write_text(
        "env_providers = false\n"
        f'[providers.mockhttp]\nformat = "openai"\nbase_url = "{mock_server.base_url}"\napi_key = "sk-test-123"\n'
    )
    for source in (as_json, str(as_json), as_toml):
        client = polyfuse.Client(source)
        assert "mockhttp" in client.provider_names
        r = await client.complete(f"{MODEL};text=ok", "hi")
        assert r.text == "ok"


async def test_thousand_concurrent_completions(config: Dict[str, Any], usage_log: Any) -> None:
    client = polyfuse.Client(config, on_usage=usage_log)
    results = await asyncio.gather(*(client.complete(f"{MODEL};text=n{i}", "hi") for i in range(1000)))
    assert [r.text for r in results] == [f"n{i}" for i in range(1000)]
    await client.aflush_usage()
    assert len(usage_log.events) == 1000
    assert set(usage_log.by_request().values()) == {1}


async def test_asyncio_run_inside_a_fresh_loop_each_time() -> None:
    # pyo3 native coroutines work in any running loop; this test's loop is a new one.
    client = polyfuse.Client()
    texts = await asyncio.gather(*(client.complete("mock/echo", f"m{i}") for i in range(10)))
    assert [t.text for t in texts] == [f"m{i}" for i in range(10)]


async def test_openai_style_keywords() -> None:
    client = polyfuse.Client()
    r = await client.complete(model="mock/echo", messages=[{"role": "user", "content": "kw"}], temperature=0)
    assert r.text == "kw"
    events = [e async for e in client.stream(model="mock/echo", messages="kw2")]
    assert isinstance(events[-1], polyfuse.Final) and events[-1].response.text == "kw2"


async def test_caller_mistakes_are_named_with_what_is_accepted() -> None:
    client = polyfuse.Client()
    cases = [
        ({"temperature": -5}, r"parameter `temperature`: expected a number from 0 to 2, got -5"),
        ({"top_p": 3}, r"top_p"),
        ({"max_tokens": 0}, r"max_tokens"),
        ({"seed": 2**70}, r"seed.*1180591620717411303424 out of range"),
        ({"temperature": float("nan")}, r"temperature.*NaN is not a finite number"),
        ({"stop": 5}, r"parameter `stop`: .*expected a string or a list of strings"),
    ]
    for params, pattern in cases:
        with pytest.raises(polyfuse.InvalidRequestError, match=pattern):
            await client.complete("mock/echo", "hi", **params)
    with pytest.raises(polyfuse.InvalidRequestError, match=r"\[0\]\.content.*expected a string or a list of content parts"):
        await client.complete("mock/echo", [{"role": "user", "content": 5}])
    with pytest.raises(polyfuse.InvalidRequestError, match=r"\[0\]\.content\[0\]\.type.*`video`.*`text` or `image_url`"):
        await client.complete("mock/echo", [{"role": "user", "content": [{"type": "video"}]}])
    with pytest.raises(TypeError, match=r"argument `model`: expected a string .* got `int`"):
        await client.complete(5, "hi")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"argument `model`.*got `NoneType`"):
        polyfuse.SyncClient().stream(None, "hi")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"argument `on_usage`: expected a function .* got int"):
        polyfuse.Client(on_usage=5)  # type: ignore[arg-type]
    with pytest.raises(polyfuse.ConfigError, match=r"policy\.total_timeout_ms.*out of range"):
        polyfuse.Client({"policy": {"total_timeout_ms": 2**70}})
