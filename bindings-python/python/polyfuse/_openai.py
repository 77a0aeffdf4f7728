"""The OpenAI-shaped drop-in: ``client.chat.completions.create(model=..., messages=..., ...)`` on
:class:`polyfuse.Client` (awaitable) and :class:`polyfuse.SyncClient` (blocking), returning objects
shaped like openai-python's: a :class:`ChatCompletion`, or with ``stream=True`` a stream of
:class:`ChatCompletionChunk`. polyfuse's routing, retries, deadlines and usage events are behind
every call; errors are polyfuse's own classes (see the README's table of the openai-python names).

The arguments are read, and the objects' contents produced, by the Rust core
(``polyfuse_core::openai``); this module only turns the dicts into objects with attribute
access (``r.choices[0].message.content``), ``model_dump()`` / ``model_dump_json()`` /
``to_dict()`` / ``to_json()`` as the official SDK's models have them."""

from __future__ import annotations

import copy
import json
from typing import (
    TYPE_CHECKING,
    Any,
    ClassVar,
    Dict,
    Iterable,
    List,
    Literal,
    Mapping,
    Optional,
    Tuple,
    Type,
    TypeVar,
    Union,
    overload,
)

from . import _polyfuse
from ._stream import AsyncStream, SyncStream, _await_call

if TYPE_CHECKING:
    from ._client import Client, SyncClient, _UsageAdapter

__all__ = [
    "OpenAIObject",
    "ChatCompletion",
    "Choice",
    "ChatCompletionMessage",
    "ChatCompletionMessageToolCall",
    "ChatCompletionMessageFunctionToolCall",
    "Function",
    "CompletionUsage",
    "CompletionTokensDetails",
    "PromptTokensDetails",
    "ChatCompletionChunk",
    "ChunkChoice",
    "ChoiceDelta",
    "ChoiceDeltaToolCall",
    "ChoiceDeltaToolCallFunction",
    "ChatCompletionStream",
    "AsyncChatCompletionStream",
    "Chat",
    "AsyncChat",
    "Completions",
    "AsyncCompletions",
]

_M = TypeVar("_M", bound="OpenAIObject")


class OpenAIObject:
    """Base of the response objects: the fields the official SDK's model declares are attributes
    (``None`` when the answer has no value for them), keys beyond them (polyfuse's
    ``reasoning_content``, a ``polyfuse`` restart marker) are attributes too, as the official
    models allow extra keys."""

    _nested: ClassVar[Dict[str, Type["OpenAIObject"]]] = {}
    """Fields holding an object (or a list of objects) of the given class."""
    _set: Tuple[str, ...]

    def __init__(self, data: Mapping[str, Any]) -> None:
        names = self._field_names()
        for name in names:
            object.__setattr__(self, name, None)
        for key, value in data.items():
            cls = self._nested.get(key)
            if cls is not None and isinstance(value, list):
                value = [cls(v) if isinstance(v, Mapping) else v for v in value]
            elif cls is not None and isinstance(value, Mapping):
                value = cls(value)
            object.__setattr__(self, key, value)
        object.__setattr__(self, "_set", tuple(data.keys()))

    @classmethod
    def _field_names(cls) -> Tuple[str, ...]:
        return tuple(n for n in cls.__annotations__ if not n.startswith("_"))

    @classmethod
    def construct(cls: Type[_M], **data: Any) -> _M:
        """Builds one from keyword arguments (nested objects may be given as dicts)."""
        return cls(data)

    def _keys(self, exclude_unset: bool) -> List[str]:
        keys = list(self._set) if exclude_unset else list(self._field_names())
        keys += [k for k in self._set if k not in keys]
        return keys

    def model_dump(
        self,
        *,
        mode: Literal["json", "python"] = "python",
        exclude_none: bool = False,
        exclude_unset: bool = False,
        by_alias: bool = False,
    ) -> Dict[str, Any]:
        """The object as a dict, nested objects included (the official models' ``model_dump``;
        every value is JSON-compatible, so ``mode`` makes no difference)."""

        def dump(v: Any) -> Any:
            if isinstance(v, OpenAIObject):
                return v.model_dump(exclude_none=exclude_none, exclude_unset=exclude_unset)
            if isinstance(v, list):
                return [dump(x) for x in v]
            return copy.deepcopy(v)

        out: Dict[str, Any] = {}
        for k in self._keys(exclude_unset):
            v = getattr(self, k, None)
            if v is None and exclude_none:
                continue
            out[k] = dump(v)
        return out

    def model_dump_json(self, *, indent: Optional[int] = None, exclude_none: bool = False, exclude_unset: bool = False) -> str:
        """The object as JSON text."""
        return json.dumps(self.model_dump(exclude_none=exclude_none, exclude_unset=exclude_unset), indent=indent)

    def to_dict(self, *, exclude_unset: bool = True, exclude_none: bool = False) -> Dict[str, Any]:
        """As the official SDK's ``to_dict``: the keys the answer had (``exclude_unset``)."""
        return self.model_dump(exclude_unset=exclude_unset, exclude_none=exclude_none)

    def to_json(self, *, indent: Optional[int] = 2, exclude_unset: bool = True, exclude_none: bool = False) -> str:
        """As the official SDK's ``to_json``."""
        return json.dumps(self.to_dict(exclude_unset=exclude_unset, exclude_none=exclude_none), indent=indent)

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        if name not in self._set:
            object.__setattr__(self, "_set", self._set + (name,))

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.model_dump() == other.model_dump()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={getattr(self, k, None)!r}" for k in self._keys(False))
        return f"{type(self).__name__}({fields})"


class Function(OpenAIObject):
    """The function a tool call invokes; ``arguments`` is the JSON text the model wrote."""

    arguments: str
    name: str


class ChatCompletionMessageFunctionToolCall(OpenAIObject):
    id: str
    function: Function
    type: Literal["function"]
    _nested = {"function": Function}


ChatCompletionMessageToolCall = ChatCompletionMessageFunctionToolCall
"""The name older openai-python versions use."""


class ChatCompletionMessage(OpenAIObject):
    """The assistant message; ``messages.append(message)`` continues the conversation."""

    content: Optional[str]
    refusal: Optional[str]
    role: Literal["assistant"]
    annotations: Optional[List[Any]]
    audio: Optional[Any]
    function_call: Optional[Any]
    tool_calls: Optional[List[ChatCompletionMessageFunctionToolCall]]
    _nested = {"tool_calls": ChatCompletionMessageFunctionToolCall}


class Choice(OpenAIObject):
    finish_reason: str
    index: int
    logprobs: Optional[Any]
    message: ChatCompletionMessage
    _nested = {"message": ChatCompletionMessage}


class CompletionTokensDetails(OpenAIObject):
    accepted_prediction_tokens: Optional[int]
    audio_tokens: Optional[int]
    reasoning_tokens: Optional[int]
    rejected_prediction_tokens: Optional[int]
    text_tokens: Optional[int]


class PromptTokensDetails(OpenAIObject):
    audio_tokens: Optional[int]
    cache_write_tokens: Optional[int]
    cached_tokens: Optional[int]
    image_tokens: Optional[int]
    text_tokens: Optional[int]


class CompletionUsage(OpenAIObject):
    """Token counts (from the core: prompt = all input incl. cached, completion incl. reasoning)."""

    completion_tokens: int
    prompt_tokens: int
    total_tokens: int
    completion_tokens_details: Optional[CompletionTokensDetails]
    prompt_tokens_details: Optional[PromptTokensDetails]
    _nested = {"completion_tokens_details": CompletionTokensDetails, "prompt_tokens_details": PromptTokensDetails}


class ChatCompletion(OpenAIObject):
    """A ``chat.completion``: ``r.choices[0].message.content``, ``r.usage.prompt_tokens``."""

    id: str
    choices: List[Choice]
    created: int
    model: str
    object: Literal["chat.completion"]
    metadata: Optional[Dict[str, str]]
    moderation: Optional[Any]
    service_tier: Optional[str]
    system_fingerprint: Optional[str]
    usage: Optional[CompletionUsage]
    _nested = {"choices": Choice, "usage": CompletionUsage}


class ChoiceDeltaToolCallFunction(OpenAIObject):
    arguments: Optional[str]
    name: Optional[str]


class ChoiceDeltaToolCall(OpenAIObject):
    """A piece of a tool call: the first piece of an ``index`` has its ``id`` and name."""

    index: int
    id: Optional[str]
    function: Optional[ChoiceDeltaToolCallFunction]
    type: Optional[Literal["function"]]
    _nested = {"function": ChoiceDeltaToolCallFunction}


class ChoiceDelta(OpenAIObject):
    audio: Optional[Any]
    content: Optional[str]
    function_call: Optional[Any]
    refusal: Optional[str]
    role: Optional[str]
    tool_calls: Optional[List[ChoiceDeltaToolCall]]
    _nested = {"tool_calls": ChoiceDeltaToolCall}


class ChunkChoice(OpenAIObject):
    """``openai.types.chat.chat_completion_chunk.Choice``."""

    delta: ChoiceDelta
    finish_reason: Optional[str]
    index: int
    logprobs: Optional[Any]
    _nested = {"delta": ChoiceDelta}


class ChatCompletionChunk(OpenAIObject):
    """A ``chat.completion.chunk``: ``chunk.choices[0].delta.content``; with
    ``stream_options={"include_usage": True}`` the last chunk has no choices and the usage."""

    id: str
    choices: List[ChunkChoice]
    created: int
    model: str
    object: Literal["chat.completion.chunk"]
    moderation: Optional[Any]
    obfuscation: Optional[str]
    service_tier: Optional[str]
    system_fingerprint: Optional[str]
    usage: Optional[CompletionUsage]
    _nested = {"choices": ChunkChoice, "usage": CompletionUsage}


def _plain(value: Any) -> Any:
    """Arguments as plain data: response objects given back (``messages.append(message)``),
    ours or pydantic models, become dicts."""
    if isinstance(value, OpenAIObject):
        return value.model_dump(exclude_none=True)
    dump = getattr(value, "model_dump", None)
    if callable(dump) and not isinstance(value, type):
        return _plain(dump(exclude_none=True))
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _call(kwargs: Dict[str, Any]) -> _polyfuse._OpenAICall:
    return _polyfuse._openai_call(_plain(kwargs))


class AsyncChatCompletionStream(AsyncStream[ChatCompletionChunk]):
    """The chunks of a streamed call (openai-python's ``AsyncStream[ChatCompletionChunk]``):
    ``async for chunk in stream``. Leaving the loop early (``break``), ``await stream.close()``
    or ``async with`` cancels the call and closes its connection."""

    __slots__ = ()

    def __init__(self, native: _polyfuse._EventStream, usage: Optional[_UsageAdapter] = None) -> None:
        super().__init__(native, usage, ChatCompletionChunk)

    async def close(self) -> None:
        """Stops the stream (cancelling the call if it has not finished)."""
        await self.aclose()


class ChatCompletionStream(SyncStream[ChatCompletionChunk]):
    """The chunks of a streamed call (openai-python's ``Stream[ChatCompletionChunk]``):
    ``for chunk in stream``; ``close()`` or ``with`` stops it."""

    __slots__ = ()

    def __init__(self, native: _polyfuse._EventStream) -> None:
        super().__init__(native, ChatCompletionChunk)


Messages = Iterable[Union[Mapping[str, Any], OpenAIObject]]
"""OpenAI-style messages: dicts, or the ``message`` of an earlier answer."""


class AsyncCompletions:
    """``client.chat.completions`` of :class:`polyfuse.Client`."""

    def __init__(self, client: "Client") -> None:
        self._client = client

    @overload
    async def create(
        self, *, model: str, messages: Messages, stream: Literal[True], **params: Any
    ) -> AsyncChatCompletionStream: ...

    @overload
    async def create(
        self, *, model: str, messages: Messages, stream: Literal[False] = False, **params: Any
    ) -> ChatCompletion: ...

    @overload
    async def create(
        self, *, model: str, messages: Messages, stream: bool, **params: Any
    ) -> Union[ChatCompletion, AsyncChatCompletionStream]: ...

    async def create(self, **kwargs: Any) -> Union[ChatCompletion, AsyncChatCompletionStream]:
        """One chat completion, as openai-python's ``create``: ``model`` (``provider/model`` or a
        route name), ``messages``, ``stream``, ``stream_options``, ``tools``, ``tool_choice``,
        ``parallel_tool_calls``, ``response_format``, ``temperature``, ``top_p``,
        ``max_completion_tokens`` / ``max_tokens``, ``stop``, ``seed``, ``user``,
        ``reasoning_effort``, ``metadata``, ``n`` (1 only), ``timeout`` (seconds),
        ``extra_body``; OpenAI's other options (``frequency_penalty``, ``logprobs``, ...) are
        sent to the provider as given; polyfuse's ``tags`` and ``*_timeout_ms`` work too. An
        unknown or unsupported argument raises :class:`polyfuse.InvalidRequestError` naming it.
        With ``stream=True`` it returns once the stream has started (a failing call raises
        here). Cancelling the awaiting task cancels the call."""
        client = self._client
        client._check_process()
        call = _call(kwargs)
        if call.stream:
            if client._usage is not None:
                from asyncio import get_running_loop

                client._usage.loop = get_running_loop()
            return AsyncChatCompletionStream(await _polyfuse._openai_stream(client._native, call), client._usage)
        return ChatCompletion(await _await_call(_polyfuse._openai_complete(client._native, call), client._usage))


class Completions:
    """``client.chat.completions`` of :class:`polyfuse.SyncClient`."""

    def __init__(self, client: "SyncClient") -> None:
        self._client = client

    @overload
    def create(self, *, model: str, messages: Messages, stream: Literal[True], **params: Any) -> ChatCompletionStream: ...

    @overload
    def create(
        self, *, model: str, messages: Messages, stream: Literal[False] = False, **params: Any
    ) -> ChatCompletion: ...

    @overload
    def create(
        self, *, model: str, messages: Messages, stream: bool, **params: Any
    ) -> Union[ChatCompletion, ChatCompletionStream]: ...

    def create(self, **kwargs: Any) -> Union[ChatCompletion, ChatCompletionStream]:
        """As :meth:`AsyncCompletions.create`, blocking (Ctrl-C cancels the call)."""
        client = self._client
        client._check_process()
        call = _call(kwargs)
        if call.stream:
            return ChatCompletionStream(_polyfuse._openai_stream_blocking(client._native, call))
        return ChatCompletion(_polyfuse._openai_complete_blocking(client._native, call))


class AsyncChat:
    """``client.chat`` of :class:`polyfuse.Client`."""

    def __init__(self, client: "Client") -> None:
        self.completions = AsyncCompletions(client)


class Chat:
    """``client.chat`` of :class:`polyfuse.SyncClient`."""

    def __init__(self, client: "SyncClient") -> None:
        self.completions = Completions(client)
