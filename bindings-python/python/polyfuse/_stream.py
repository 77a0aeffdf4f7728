"""The stream iterators: ``AsyncStream`` (``async for``) and ``SyncStream`` (``for``) over a native
``_polyfuse._EventStream``, each event converted by ``convert`` (the library's event dataclasses by
default; the OpenAI drop-in's chunk objects in ``_openai``); and ``_await_call`` /
``_wait_next``, how a coroutine waits for a native call's answer or a stream's next item.

The native side queues items as they arrive; ``try_next`` takes one without waiting. Only when
nothing is queued does a coroutine wait, on an ``asyncio.Future`` that its loop's ``_Hub``
resolves: the hub is a socket the loop watches (``add_reader``), written to at most once per loop
wake-up however many streams got data, so no item costs a task spawn or a cross-thread call."""

from __future__ import annotations

import weakref
from types import TracebackType
from typing import TYPE_CHECKING, Any, Callable, Dict, Generic, Optional, Type, TypeVar

from . import _polyfuse

if TYPE_CHECKING:
    import asyncio

    from ._client import _UsageAdapter

__all__ = ["AsyncStream", "SyncStream"]

_E = TypeVar("_E")

_PENDING: Any = object()
"""What a native ``try_next`` returns while nothing is queued."""

_hubs: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _polyfuse._Hub]" = weakref.WeakKeyDictionary()
_last_hub: Any = (None, None)


def _hub(loop: asyncio.AbstractEventLoop) -> _polyfuse._Hub:
    """The wake-up hub of ``loop``, watched by it from first use."""
    global _last_hub
    last_loop, hub = _last_hub
    if last_loop is loop:
        return hub  # type: ignore[no-any-return]
    hub = _hubs.get(loop)
    if hub is None:
        hub = _polyfuse._Hub()
        fd = hub.fileno()
        try:
            if fd < 0:
                raise NotImplementedError
            loop.add_reader(fd, hub.drain)
        except NotImplementedError:  # a loop that cannot watch sockets (e.g. Windows' proactor)
            hub.use_call_soon(loop.call_soon_threadsafe, hub.drain)
        _hubs[loop] = hub
    _last_hub = (loop, hub)
    return hub


async def _wait_next(native: Any, loop: asyncio.AbstractEventLoop) -> Any:
    """The next item of a native stream or call that had none queued (``None`` at the end),
    waiting on ``loop``."""
    hub = _hub(loop)
    item = _PENDING
    while item is _PENDING:
        fut = loop.create_future()
        if native.wait(hub, fut):
            await fut
        item = native.try_next(_PENDING)
    return item


async def _await_call(call: _polyfuse._Call, usage: Optional[_UsageAdapter]) -> Dict[str, Any]:
    """The answer of a started native call (a dict); cancelling the awaiting task cancels it."""
    from asyncio import get_running_loop  # imported by now: a coroutine is running

    loop = get_running_loop()
    if usage is not None:
        usage.loop = loop  # async usage callbacks run on the loop the client was last used from
    try:
        d = call.try_next(_PENDING)
        return await _wait_next(call, loop) if d is _PENDING else d  # type: ignore[no-any-return]
    except BaseException:
        call.close()
        raise


class AsyncStream(Generic[_E]):
    """An async iterator of stream events (``TextDelta``, ``ReasoningDelta``, ``ToolCallDelta``,
    ``Restart``, ``Final``). Leaving an ``async for`` early (``break``, an exception, cancellation)
    drops the Rust stream at once and closes its connection; so does ``aclose()``."""

    __slots__ = ("_native", "_usage", "_convert", "_loop")

    def __init__(
        self, native: _polyfuse._EventStream, usage: Optional[_UsageAdapter], convert: Callable[[Dict[str, Any]], _E]
    ) -> None:
        self._native: Optional[_polyfuse._EventStream] = native
        self._usage = usage
        self._convert = convert
        self._loop: Optional[asyncio.AbstractEventLoop] = None

    def __aiter__(self) -> "AsyncStream[_E]":
        return self

    async def __anext__(self) -> _E:
        native = self._native
        if native is None:
            raise StopAsyncIteration
        loop = self._loop
        if loop is None:
            from asyncio import get_running_loop

            loop = self._loop = get_running_loop()
            if self._usage is not None:
                self._usage.loop = loop
        try:
            d = native.try_next(_PENDING)
            if d is _PENDING:
                d = await _wait_next(native, loop)
        except BaseException:
            self._native = None
            native.close()
            raise
        if d is None:
            self._native = None
            raise StopAsyncIteration
        return self._convert(d)

    async def aclose(self) -> None:
        """Stops the stream now (cancelling the call if it has not finished)."""
        native, self._native = self._native, None
        if native is not None:
            native.close()

    async def __aenter__(self) -> "AsyncStream[_E]":
        return self

    async def __aexit__(
        self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        await self.aclose()


class SyncStream(Generic[_E]):
    """A blocking iterator of stream events; ``close()`` (or leaving a ``with`` block) stops it."""

    __slots__ = ("_native", "_convert")

    def __init__(self, native: _polyfuse._EventStream, convert: Callable[[Dict[str, Any]], _E]) -> None:
        self._native: Optional[_polyfuse._EventStream] = native
        self._convert = convert

    def __iter__(self) -> "SyncStream[_E]":
        return self

    def __next__(self) -> _E:
        native = self._native
        if native is None:
            raise StopIteration
        try:
            d = native.next_blocking()
        except BaseException:
            self._native = None
            native.close()
            raise
        if d is None:
            self._native = None
            raise StopIteration
        return self._convert(d)

    def close(self) -> None:
        """Stops the stream now (cancelling the call if it has not finished)."""
        native, self._native = self._native, None
        if native is not None:
            native.close()

    def __enter__(self) -> "SyncStream[_E]":
        return self

    def __exit__(
        self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        self.close()
