"""Every provider family from Python with one model-string syntax (`provider/model;mock-options`):
Anthropic Messages, Gemini, Mistral and OpenRouter (OpenAI format at /api/v1), each served by the
mock server in its own wire format. Complete, stream, normalized usage, an error kind, a tool round
trip and structured output, checking what reached the wire in /_mock/requests (the Python twin of
tests/node/providers.test.mjs)."""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Iterator, List

import pytest

import polyfuse
from conftest import MockServer

# provider name → the model, and the wire path its requests go to.
FAMILIES: Dict[str, Dict[str, Any]] = {
    "anth": {"model": "claude-sonnet-4-5", "path": re.compile(r"^/v1/messages$")},
    "gem": {
        "model": "gemini-2.5-flash",
        "path": re.compile(r"^/v1beta/models/gemini-2\.5-flash[^:]*:(generateContent|streamGenerateContent)$"),
    },
    "mis": {"model": "mistral-small-latest", "path": re.compile(r"^/v1/chat/completions$")},
    "orr": {"model": "openai/gpt-4o-mini", "path": re.compile(r"^/api/v1/chat/completions$")},
}
PROVIDERS = list(FAMILIES)

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
            "required": ["city"],
        },
    },
}

SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
    "additionalProperties": False,
}
RESPONSE_FORMAT = {"type": "json_schema", "json_schema": {"name": "city", "strict": True, "schema": SCHEMA}}
# The answer text, %-encoded for the mock's option syntax (the same string works in a Gemini URL path).
JSON_TEXT = urllib.parse.quote('{"city":"Paris"}', safe="")

USAGE_OPTS = "prompt_tokens=30;completion_tokens=7;cached_tokens=10"
SECRET = "bad-secret-777"


def providers_config(server: MockServer, api_key: str) -> Dict[str, Any]:
    return {
        "env_providers": False,
        "policy": {"max_attempts_per_target": 1},
        "providers": {
            "anth": {"format": "anthropic", "base_url": f"{server.url}/v1", "api_key": api_key},
            "gem": {"format": "gemini", "base_url": f"{server.url}/v1beta", "api_key": api_key},
            "mis": {
                "format": "mistral",
                "base_url": f"{server.url}/v1",
                "api_key": api_key,
                "headers": {"x-mock-format": "mistral"},
            },
            "orr": {"format": "openai", "base_url": f"{server.url}/api/v1", "api_key": api_key},
        },
    }


@pytest.fixture(scope="module")
def client(mock_server: MockServer) -> polyfuse.Client:
    return polyfuse.Client(providers_config(mock_server, "k"))


def last_request(server: MockServer, provider: str) -> Dict[str, Any]:
    """The last request the mock server received, checked to be on `provider`'s wire path."""
    request = server.requests()[-1]
    assert FAMILIES[provider]["path"].match(request["path"]), request["path"]
    return request


async def collect(stream: polyfuse.AsyncStream) -> List[polyfuse.StreamEvent]:
    return [ev async for ev in stream]


def final_of(events: List[polyfuse.StreamEvent]) -> polyfuse.Response:
    final = events[-1]
    assert isinstance(final, polyfuse.Final), final
    return final.response


@pytest.mark.parametrize("p", PROVIDERS)
async def test_complete_text_model_finish_and_normalized_usage(client: polyfuse.Client, mock_server: MockServer, p: str) -> None:
    model = FAMILIES[p]["model"]
    r = await client.complete(f"{p}/{model};{USAGE_OPTS}", "Hello there", max_tokens=64)
    assert r.text == f"Mock answer from {model}: Hello there"
    assert r.provider == p
    assert r.model == f"{p}/{model};{USAGE_OPTS}"
    assert r.provider_model == model
    assert r.finish_reason == "stop"
    assert r.message == {"role": "assistant", "content": r.text}
    assert r.reasoning is None
    # Input counts cached tokens in every format (Anthropic's input_tokens excludes them on the wire).
    assert r.usage.input_tokens == 30
    assert r.usage.cached_input_tokens == 10
    assert r.usage.output_tokens == 7
    assert r.usage.total_tokens == 37
    assert r.to_openai()["choices"][0]["message"]["content"] == r.text
    # The key went in the provider's own header, and the mock redacted it in its log.
    headers = last_request(mock_server, p)["headers"]
    key_header = {"anth": "x-api-key", "gem": "x-goog-api-key", "mis": "authorization", "orr": "authorization"}[p]
    assert "<redacted>" in headers[key_header]
    if p == "anth":
        assert headers.get("anthropic-version")


@pytest.mark.parametrize("p", PROVIDERS)
async def test_stream_deltas_add_up_to_final_text_and_usage(client: polyfuse.Client, mock_server: MockServer, p: str) -> None:
    model = FAMILIES[p]["model"]
    events = await collect(client.stream(f"{p}/{model};words=9;{USAGE_OPTS}", "Hi"))
    deltas = [e for e in events if isinstance(e, polyfuse.TextDelta)]
    assert len(deltas) > 1, "several deltas"
    response = final_of(events)
    assert "".join(e.text for e in deltas) == "w1 w2 w3 w4 w5 w6 w7 w8 w9"
    assert response.text == "w1 w2 w3 w4 w5 w6 w7 w8 w9"
    assert response.finish_reason == "stop"
    assert response.usage.input_tokens == 30
    assert response.usage.cached_input_tokens == 10
    assert response.usage.output_tokens == 7
    assert response.ttft_ms is not None and response.ttft_ms >= 0
    request = last_request(mock_server, p)
    if p == "gem":
        assert request["path"].endswith(":streamGenerateContent")
    else:
        assert request["body"]["stream"] is True
    # Mistral rejects stream_options with a 422; the others get usage in the stream anyway.
    if p == "mis":
        assert "stream_options" not in request["body"]


@pytest.mark.parametrize("p", PROVIDERS)
async def test_429_is_rate_limit_error_with_retry_after(client: polyfuse.Client, p: str) -> None:
    m = f"{p}/{FAMILIES[p]['model']};status=429;retry_after=2"
    for how in ("complete", "stream"):
        with pytest.raises(polyfuse.RateLimitError) as info:
            if how == "complete":
                await client.complete(m, "x")
            else:
                await collect(client.stream(m, "x"))
        e = info.value
        assert isinstance(e, polyfuse.PolyfuseError)
        assert e.kind == "rate_limited", how
        assert e.status_code == 429, how
        assert e.retry_after == 2.0, how
        assert e.provider == p, how


@pytest.mark.parametrize("p", PROVIDERS)
async def test_tools_round_trip(client: polyfuse.Client, mock_server: MockServer, p: str) -> None:
    model = FAMILIES[p]["model"]
    messages: List[Dict[str, Any]] = [{"role": "user", "content": "Weather in Paris?"}]
    first = await client.complete(f"{p}/{model};tool_call=get_weather", messages, tools=[WEATHER_TOOL])
    assert first.finish_reason == "tool_calls"
    assert len(first.tool_calls) == 1
    [call] = first.tool_calls
    assert call.name == "get_weather"
    assert call.parsed_arguments == {"city": "Paris", "unit": "celsius"}
    assert call.id
    assert first.message["role"] == "assistant"
    assert first.message["tool_calls"][0]["id"] == call.id

    # The tool definition went out in the provider's own shape.
    sent = last_request(mock_server, p)["body"]
    if p == "anth":
        assert sent["tools"][0] == {
            "name": "get_weather",
            "description": "Current weather in a city",
            "input_schema": WEATHER_TOOL["function"]["parameters"],  # type: ignore[index]
        }
    elif p == "gem":
        decl = sent["tools"][0]["functionDeclarations"][0]
        assert decl["name"] == "get_weather"
        assert decl["parametersJsonSchema"] == WEATHER_TOOL["function"]["parameters"]  # type: ignore[index]
    else:
        assert sent["tools"] == [WEATHER_TOOL]

    # The streamed tool call assembles to the same call.
    events = await collect(client.stream(f"{p}/{model};tool_call=get_weather", messages, tools=[WEATHER_TOOL]))
    streamed = final_of(events)
    assert streamed.finish_reason == "tool_calls"
    assert streamed.tool_calls[0].name == "get_weather"
    assert streamed.tool_calls[0].parsed_arguments == {"city": "Paris", "unit": "celsius"}
    assert any(isinstance(e, polyfuse.ToolCallDelta) and e.name == "get_weather" for e in events)

    messages += [first.message, {"role": "tool", "tool_call_id": call.id, "content": '{"temperature":21}'}]
    second = await client.complete(f"{p}/{model}", messages, tools=[WEATHER_TOOL])
    assert second.finish_reason == "stop"
    assert second.tool_calls == []
    assert second.text.startswith("Mock answer from ")

    # The assistant's call and the tool result reached the provider in its own form.
    body = last_request(mock_server, p)["body"]
    if p == "anth":
        user, assistant, result = body["messages"]
        assert user["role"] == "user"
        assert assistant["role"] == "assistant"
        use = next(b for b in assistant["content"] if b["type"] == "tool_use")
        assert (use["id"], use["name"], use["input"]) == (call.id, "get_weather", {"city": "Paris", "unit": "celsius"})
        assert result["role"] == "user"
        tr = next(b for b in result["content"] if b["type"] == "tool_result")
        assert tr["tool_use_id"] == call.id
        assert "temperature" in json.dumps(tr["content"])
    elif p == "gem":
        parts = [x for c in body["contents"] for x in c["parts"]]
        fc = next(x for x in parts if "functionCall" in x)
        assert fc["functionCall"]["name"] == "get_weather"
        assert fc["functionCall"]["args"] == {"city": "Paris", "unit": "celsius"}
        fr = next(x for x in parts if "functionResponse" in x)
        assert fr["functionResponse"]["name"] == "get_weather"
        assert fr["functionResponse"]["response"] == {"temperature": 21}
    else:
        _, assistant, result = body["messages"]
        assert assistant["tool_calls"][0]["function"]["name"] == "get_weather"
        assert result["role"] == "tool"
        assert result["tool_call_id"] == assistant["tool_calls"][0]["id"]
        assert result["content"] == '{"temperature":21}'
        if p == "mis":
            assert re.fullmatch(r"[a-zA-Z0-9]{9}", result["tool_call_id"])
        else:
            assert result["tool_call_id"] == call.id


@pytest.mark.parametrize("p", PROVIDERS)
async def test_structured_output_reaches_the_body_in_the_providers_form(client: polyfuse.Client, mock_server: MockServer, p: str) -> None:
    model = FAMILIES[p]["model"]
    r = await client.complete(f"{p}/{model};text={JSON_TEXT}", "City?", response_format=RESPONSE_FORMAT)
    assert json.loads(r.text) == {"city": "Paris"}
    body = last_request(mock_server, p)["body"]
    if p == "gem":
        assert body["generationConfig"]["responseMimeType"] == "application/json"
        assert body["generationConfig"]["responseJsonSchema"] == SCHEMA
    elif p == "anth":
        # Anthropic structured outputs: output_config.format = {type: "json_schema", schema}.
        assert (body.get("output_config") or {}).get("format") == {"type": "json_schema", "schema": SCHEMA}
    else:
        assert body["response_format"] == RESPONSE_FORMAT


async def test_bad_key_is_authentication_error_in_every_format_without_the_key(mock_server: MockServer) -> None:
    bad = polyfuse.Client(providers_config(mock_server, SECRET))
    for p, family in FAMILIES.items():
        with pytest.raises(polyfuse.AuthenticationError) as info:
            await bad.complete(f"{p}/{family['model']}", "x")
        e = info.value
        assert e.kind == "authentication", f"{p}: {e.kind} {e.message}"
        assert e.provider == p
        views = [str(e), repr(e), e.message, repr(e.args), repr(e.__dict__), repr(e.attempts)]
        for view in views:
            assert "secret-777" not in view, f"{p} leaked the key: {view}"


def test_sync_client_speaks_every_format(mock_server: MockServer) -> None:
    client = polyfuse.SyncClient(providers_config(mock_server, "k"))
    for p, family in FAMILIES.items():
        model = family["model"]
        r = client.complete(f"{p}/{model}", "Hi")
        assert r.text == f"Mock answer from {model}: Hi" and r.provider == p
        events = list(client.stream(f"{p}/{model};words=3", "Hi"))
        assert final_of(events).text == "w1 w2 w3"


# The reasoning text some OpenAI-compatible providers send (DeepSeek `reasoning_content`), from a
# minimal hand-written server: the mock server has no reasoning text.

_USAGE = {"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14, "completion_tokens_details": {"reasoning_tokens": 6}}


def _chunk(delta: Dict[str, Any], finish: Any = None, **extra: Any) -> bytes:
    doc = {
        "id": "r1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "deepseek-reasoner",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }
    return f"data: {json.dumps(doc)}\n\n".encode()


class _ReasoningHandler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)))
        if not body.get("stream"):
            data = json.dumps(
                {
                    "id": "r1",
                    "object": "chat.completion",
                    "created": 1,
                    "model": "deepseek-reasoner",
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": "42", "reasoning_content": "Think. Then answer."},
                        }
                    ],
                    "usage": _USAGE,
                }
            ).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.end_headers()
        self.wfile.write(_chunk({"role": "assistant", "reasoning_content": "Think. "}))
        self.wfile.write(_chunk({"reasoning_content": "Then answer."}))
        self.wfile.write(_chunk({"content": "42"}))
        self.wfile.write(_chunk({}, "stop", usage=_USAGE))
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


@pytest.fixture(scope="module")
def reasoning_base_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ReasoningHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


async def test_response_reasoning_and_reasoning_deltas(reasoning_base_url: str) -> None:
    client = polyfuse.Client(
        {"env_providers": False, "providers": {"ds": {"format": "openai", "base_url": reasoning_base_url, "api_key": "k"}}}
    )
    r = await client.complete("ds/deepseek-reasoner", "Answer?")
    assert r.text == "42"
    assert r.reasoning == "Think. Then answer."
    assert r.usage.reasoning_tokens == 6
    assert r.to_dict()["reasoning"] == "Think. Then answer."
    events = await collect(client.stream("ds/deepseek-reasoner", "Answer?"))
    reasoning = "".join(e.text for e in events if isinstance(e, polyfuse.ReasoningDelta))
    assert reasoning == "Think. Then answer."
    response = final_of(events)
    assert response.reasoning == "Think. Then answer."
    assert response.text == "42"


async def test_no_reasoning_is_none() -> None:
    r = await polyfuse.Client({"env_providers": False}).complete("mock/echo", "hi")
    assert r.reasoning is None
    assert "reasoning" not in r.to_dict()
