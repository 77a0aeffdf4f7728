"""The OpenAI-shaped drop-in, ``client.chat.completions.create``: calls written as openai-python's
documentation writes them (plain, streamed with ``async for``, tools and a tool result round trip,
streamed tool calls, ``response_format`` json_schema, ``stream_options.include_usage``, errors),
run on polyfuse's ``Client`` and ``SyncClient`` against the mock server. The objects are checked
against the real SDK's pydantic models (openai is installed in the test venv only, to compare
shapes): every dump validates as the SDK's model and dumps back the same, and the type names match.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Dict, List, Optional

import openai
import pytest
from openai.types import CompletionUsage as SDKCompletionUsage
from openai.types.chat import ChatCompletion as SDKChatCompletion
from openai.types.chat import ChatCompletionChunk as SDKChatCompletionChunk

import polyfuse
from conftest import API_KEY, MockServer, UsageLog

MODEL = "mockhttp/gpt-4o-mini"


def cfg(server: MockServer, routes: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    return {
        "env_providers": False,
        "providers": {"mockhttp": {"format": "openai", "base_url": server.base_url, "api_key": API_KEY}},
        "policy": {"max_attempts_per_target": 1, "breaker": {"enabled": False}},
        "routes": routes or {},
    }


@pytest.fixture
def client(mock_server: MockServer) -> polyfuse.Client:
    return polyfuse.Client(cfg(mock_server))


def same_as_sdk(obj: polyfuse.ChatCompletion | polyfuse.ChatCompletionChunk) -> None:
    """The object's dump is a valid instance of the SDK's model, which dumps back the same: the
    same fields, of the SDK's types."""
    model = SDKChatCompletion if isinstance(obj, polyfuse.ChatCompletion) else SDKChatCompletionChunk
    dumped = obj.model_dump()
    assert model.model_validate(dumped).model_dump() == dumped
    assert json.loads(obj.model_dump_json()) == dumped


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
            "required": ["city"],
        },
    },
}


async def test_plain_completion(client: polyfuse.Client, mock_server: MockServer) -> None:
    completion = await client.chat.completions.create(
        model=f"{MODEL};text=Hello%20there",
        messages=[
            {"role": "developer", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Hello!"},
        ],
        temperature=0.2,
        max_completion_tokens=50,
    )
    assert completion.choices[0].message.content == "Hello there"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.choices[0].index == 0
    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-")
    assert completion.model == "gpt-4o-mini"
    # The mock counts words + 3 per message for the prompt, the answer's words for the completion.
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == 5 + 1 + 3 + 3
    assert completion.usage.completion_tokens == 2
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + 2
    assert completion.usage.prompt_tokens_details is not None
    assert completion.usage.prompt_tokens_details.cached_tokens == 0
    assert completion.choices[0].message.tool_calls is None
    assert completion.system_fingerprint is None
    same_as_sdk(completion)
    body = mock_server.requests()[-1]["body"]
    assert body["temperature"] == 0.2
    assert body["messages"][0] == {"role": "developer", "content": "You are a helpful assistant."}


async def test_type_names_match_the_sdk(client: polyfuse.Client) -> None:
    r = await client.chat.completions.create(
        model=f"{MODEL};tools=1", messages=[{"role": "user", "content": "weather?"}], tools=[WEATHER_TOOL]
    )
    call = r.choices[0].message.tool_calls[0]  # type: ignore[index]
    pairs = [
        (r, SDKChatCompletion),
        (r.choices[0], openai.types.chat.chat_completion.Choice),
        (r.choices[0].message, openai.types.chat.ChatCompletionMessage),
        (call, openai.types.chat.ChatCompletionMessageFunctionToolCall),
        (call.function, openai.types.chat.chat_completion_message_function_tool_call.Function),
        (r.usage, SDKCompletionUsage),
    ]
    for ours, theirs in pairs:
        assert type(ours).__name__ == theirs.__name__
        # Every field the SDK declares is an attribute of ours.
        missing = [f for f in theirs.model_fields if not hasattr(ours, f)]
        assert not missing, f"{theirs.__name__}: {missing}"
    chunk_pairs = {
        polyfuse.ChatCompletionChunk: SDKChatCompletionChunk,
        polyfuse._openai.ChunkChoice: openai.types.chat.chat_completion_chunk.Choice,
        polyfuse._openai.ChoiceDelta: openai.types.chat.chat_completion_chunk.ChoiceDelta,
        polyfuse._openai.ChoiceDeltaToolCall: openai.types.chat.chat_completion_chunk.ChoiceDeltaToolCall,
        polyfuse._openai.ChoiceDeltaToolCallFunction: openai.types.chat.chat_completion_chunk.ChoiceDeltaToolCallFunction,
    }
    for ours_cls, theirs in chunk_pairs.items():
        assert set(ours_cls._field_names()) == set(theirs.model_fields), theirs.__name__


async def test_stream_with_async_for(client: polyfuse.Client) -> None:
    stream = await client.chat.completions.create(
        model=f"{MODEL};words=6", messages=[{"role": "user", "content": "Say this is a test"}], stream=True
    )
    chunks: List[polyfuse.ChatCompletionChunk] = []
    text = ""
    async for chunk in stream:
        chunks.append(chunk)
        text += chunk.choices[0].delta.content or ""
    assert text == "w1 w2 w3 w4 w5 w6"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks] == [None] * (len(chunks) - 1) + ["stop"]
    assert len({c.id for c in chunks}) == 1 and chunks[0].id.startswith("chatcmpl-")
    assert all(c.object == "chat.completion.chunk" and c.usage is None for c in chunks)
    for c in chunks:
        same_as_sdk(c)


async def test_stream_options_include_usage(client: polyfuse.Client) -> None:
    stream = await client.chat.completions.create(
        model=f"{MODEL};words=3;cached_tokens=2;reasoning_tokens=1",
        messages=[{"role": "user", "content": "one two"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [c async for c in stream]
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (5, 4)
    assert last.usage.prompt_tokens_details and last.usage.prompt_tokens_details.cached_tokens == 2
    assert last.usage.completion_tokens_details and last.usage.completion_tokens_details.reasoning_tokens == 1
    assert all(c.usage is None for c in chunks[:-1])
    assert "".join(c.choices[0].delta.content or "" for c in chunks[:-1]) == "w1 w2 w3"
    same_as_sdk(last)


async def test_tools_and_a_tool_result_round_trip(client: polyfuse.Client, mock_server: MockServer) -> None:
    messages: List[Any] = [{"role": "user", "content": "What's the weather like in Paris today?"}]
    completion = await client.chat.completions.create(
        model=f"{MODEL};tools=1", messages=messages, tools=[WEATHER_TOOL], tool_choice="auto"
    )
    message = completion.choices[0].message
    assert completion.choices[0].finish_reason == "tool_calls"
    assert message.content is None
    assert message.tool_calls is not None and len(message.tool_calls) == 1
    tool_call = message.tool_calls[0]
    assert tool_call.type == "function"
    assert tool_call.function.name == "get_weather"
    args = json.loads(tool_call.function.arguments)
    assert args == {"city": "Paris", "unit": "celsius"}
    same_as_sdk(completion)
    # The documented loop: append the assistant message as returned, then the tool's result.
    messages.append(message)
    messages.append({"role": "tool", "tool_call_id": tool_call.id, "content": json.dumps({"temperature": 21})})
    final = await client.chat.completions.create(
        model=f"{MODEL};text=It%20is%2021%20degrees", messages=messages, tools=[WEATHER_TOOL]
    )
    assert final.choices[0].message.content == "It is 21 degrees"
    sent = mock_server.requests()[-1]["body"]["messages"]
    assert sent[1]["role"] == "assistant"
    assert sent[1]["tool_calls"] == [tool_call.model_dump()]
    assert sent[2] == {"role": "tool", "tool_call_id": tool_call.id, "content": '{"temperature": 21}'}
    assert mock_server.requests()[-1]["body"]["tools"] == [WEATHER_TOOL]


async def test_streamed_tool_calls_accumulate_by_index(client: polyfuse.Client) -> None:
    stream = await client.chat.completions.create(
        model=f"{MODEL};tool_call=get_weather,get_time;chunks=3",
        messages=[{"role": "user", "content": "weather and time?"}],
        tools=[WEATHER_TOOL],
        stream=True,
    )
    calls: Dict[int, Dict[str, str]] = {}
    finish = None
    async for chunk in stream:
        for choice in chunk.choices:
            for tc in choice.delta.tool_calls or []:
                entry = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
                if tc.id:
                    entry["id"] = tc.id
                if tc.function and tc.function.name:
                    entry["name"] += tc.function.name
                if tc.function and tc.function.arguments:
                    entry["arguments"] += tc.function.arguments
            finish = choice.finish_reason or finish
        same_as_sdk(chunk)
    assert finish == "tool_calls"
    assert sorted(calls) == [0, 1]
    assert [calls[i]["name"] for i in (0, 1)] == ["get_weather", "get_time"]
    assert all(json.loads(c["arguments"]) == {"city": "Paris", "unit": "celsius"} for c in calls.values())
    assert all(c["id"] for c in calls.values())


async def test_response_format_json_schema(client: polyfuse.Client, mock_server: MockServer) -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
        "additionalProperties": False,
    }
    answer = json.dumps({"name": "Ada", "age": 36}).replace(" ", "%20").replace('"', "%22")
    completion = await client.chat.completions.create(
        model=f"{MODEL};text={answer}",
        messages=[{"role": "user", "content": "Extract: Ada is 36."}],
        response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": schema, "strict": True}},
    )
    assert json.loads(completion.choices[0].message.content or "") == {"name": "Ada", "age": 36}
    body = mock_server.requests()[-1]["body"]
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"] == schema


async def test_openai_only_options_are_sent_as_given(client: polyfuse.Client, mock_server: MockServer) -> None:
    await client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "hi"}],
        frequency_penalty=0.5,
        seed=7,
        stop=["END"],
        user="user-1",
        extra_body={"top_k": 3},
        n=1,
        logprobs=None,
    )
    body = mock_server.requests()[-1]["body"]
    assert (body["frequency_penalty"], body["seed"], body["stop"], body["top_k"]) == (0.5, 7, ["END"], 3)
    assert "logprobs" not in body and "n" not in body


async def test_mistakes_raise_invalid_request_naming_them(client: polyfuse.Client) -> None:
    msgs = [{"role": "user", "content": "hi"}]
    cases = [
        ({"n": 3}, "`n` = 3"),
        ({"temprature": 1}, "unknown argument `temprature`"),
        ({"functions": []}, "`functions`"),
        ({"stream_options": {"include_usage": True}}, "`stream_options` is only allowed with `stream: true`"),
        ({"extra_headers": {"x": "1"}}, "`extra_headers`"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "robot"),
    ]
    for extra, expected in cases:
        kwargs: Dict[str, Any] = {"model": MODEL, "messages": msgs, **extra}
        with pytest.raises(polyfuse.InvalidRequestError) as info:
            await client.chat.completions.create(**kwargs)
        assert expected in str(info.value), str(info.value)
    with pytest.raises(polyfuse.InvalidRequestError, match="`model` is missing"):
        await client.chat.completions.create(messages=msgs)  # type: ignore[call-overload]


async def test_provider_errors_are_polyfuse_classes_also_for_streams(client: polyfuse.Client) -> None:
    msgs = [{"role": "user", "content": "hi"}]
    with pytest.raises(polyfuse.RateLimitError) as info:
        await client.chat.completions.create(model=f"{MODEL};status=429", messages=msgs)
    assert info.value.status_code == 429 and info.value.kind == "rate_limited"
    # A streamed call that fails before it starts raises from create(), as the SDK's does.
    with pytest.raises(polyfuse.AuthenticationError) as auth:
        await client.chat.completions.create(model=f"{MODEL};status=401", messages=msgs, stream=True)
    assert auth.value.status_code == 401
    assert API_KEY not in str(auth.value)


async def test_routing_and_usage_are_behind_it(mock_server: MockServer) -> None:
    usage = UsageLog()
    client = polyfuse.Client(cfg(mock_server, routes={"chat": {"targets": [f"{MODEL};status=503", "mockhttp/backup"]}}), on_usage=usage)
    r = await client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}])
    assert r.choices[0].message.content == "Mock answer from backup: hi"
    stream = await client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}], stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "Mock answer from backup: hi"
    await client.aflush_usage()
    assert [(e.route, e.outcome, e.streamed, len(e.attempts)) for e in usage.events] == [
        ("chat", "ok", False, 2),
        ("chat", "ok", True, 2),
    ]


async def test_a_mid_stream_restart_is_marked(mock_server: MockServer) -> None:
    cut, healthy = f"{MODEL};words=6;cut_after=3", f"{MODEL};words=6"
    client = polyfuse.Client(cfg(mock_server, routes={"c": {"targets": [cut, healthy]}}))
    stream = await client.chat.completions.create(model="c", messages=[{"role": "user", "content": "hi"}], stream=True)
    chunks = [c async for c in stream]
    marks = [i for i, c in enumerate(chunks) if getattr(c, "polyfuse", None)]
    assert len(marks) == 1
    restart = chunks[marks[0]].polyfuse["restart"]  # type: ignore[attr-defined]
    assert restart["model"] == healthy
    after = "".join(c.choices[0].delta.content or "" for c in chunks[marks[0] + 1 :])
    assert after == "w1 w2 w3 w4 w5 w6"
    same_as_sdk(chunks[marks[0]])


async def test_break_cancels_the_call_and_closes_the_connection(client: polyfuse.Client, mock_server: MockServer) -> None:
    before = mock_server.stats()["client_disconnects"]
    stream = await client.chat.completions.create(
        model=f"{MODEL};words=50;chunk_delay_ms=50", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            break
    await stream.close()
    stats = await asyncio.to_thread(
        mock_server.wait_for, lambda s: s["client_disconnects"] > before and s["in_flight"] == 0, 5.0
    )
    assert stats["client_disconnects"] == before + 1


def test_sync_client(mock_server: MockServer) -> None:
    client = polyfuse.SyncClient(cfg(mock_server))
    completion = client.chat.completions.create(model=f"{MODEL};words=2", messages=[{"role": "user", "content": "hi"}])
    assert completion.choices[0].message.content == "w1 w2"
    same_as_sdk(completion)
    with client.chat.completions.create(
        model=f"{MODEL};words=3", messages=[{"role": "user", "content": "hi"}], stream=True, stream_options={"include_usage": True}
    ) as stream:
        chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "w1 w2 w3"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3
    with pytest.raises(polyfuse.ServerError):
        client.chat.completions.create(model=f"{MODEL};status=500", messages=[{"role": "user", "content": "hi"}], stream=True)


async def test_objects_behave_like_the_sdks(client: polyfuse.Client) -> None:
    r = await client.chat.completions.create(model=f"{MODEL};words=2", messages=[{"role": "user", "content": "hi"}])
    d = r.to_dict()
    assert d["choices"][0]["message"]["content"] == "w1 w2"
    assert "moderation" not in d, "to_dict leaves out what the answer did not have (exclude_unset)"
    assert "moderation" in r.model_dump() and r.model_dump()["moderation"] is None
    assert "moderation" not in r.model_dump(exclude_none=True)
    assert json.loads(r.to_json()) == d
    assert polyfuse.ChatCompletion(r.model_dump()) == r
    assert repr(r).startswith("ChatCompletion(id=")
    message = r.choices[0].message
    message.content = "edited"
    assert message.model_dump(exclude_unset=True)["content"] == "edited"
