"""The stream iterators: ``AsyncStream`` (``async for``) and ``SyncStream`` (``for``) over a native
``_polyfuse._EventStream``, each event converted by ``convert`` (the library's event dataclasses by
default; the OpenAI drop-in's chunk objects in ``_openai``)."""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Type

from . import _polyfuse
from ._types import StreamEvent, _event_from_dict

if TYPE_CHECKING:
    from ._client import _UsageAdapter

__all__ = ["AsyncStream", "SyncStream"]


class AsyncStream:
    """An async iterator of stream events (``TextDelta``, ``ReasoningDelta``, ``ToolCallDelta``,
    ``Restart``, ``Final``). Leaving an ``async for`` early (``break``, an exception, cancellation)
    drops the Rust stream at once and closes its connection; so does ``aclose()``."""

    __slots__ = ("_native", "_usage", "_convert")

    def __init__(
        self, native: _polyfuse._EventStream, usage: Optional[_UsageAdapter], convert: Callable[[Dict[str, Any]], Any] = _event_from_dict
    ) -> None:
        self._native: Optional[_polyfuse._EventStream] = native
        self._usage = usage
        self._convert = convert

    def __aiter__(self) -> "AsyncStream":
        return self

    async def __anext__(self) -> StreamEvent:
        native = self._native
        if native is None:
            raise StopAsyncIteration
        if self._usage is not None:
            self._usage.loop = asyncio.get_running_loop()
        try:
            d = await native.next()
        except BaseException:
            self._native = None
            native.close()
            raise
        if d is None:
            self._native = None
            raise StopAsyncIteration
        return self._convert(d)  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        """Stops the stream now (cancelling the call if it has not finished)."""
        native, self._native = self._native, None
        if native is not None:
            native.close()

    async def __aenter__(self) -> "AsyncStream":
        return self

    async def __aexit__(
        self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        await self.aclose()


class SyncStream:
    """A blocking iterator of stream events; ``close()`` (or leaving a ``with`` block) stops it."""

    __slots__ = ("_native", "_convert")

    def __init__(self, native: _polyfuse._EventStream, convert: Callable[[Dict[str, Any]], Any] = _event_from_dict) -> None:
        self._native: Optional[_polyfuse._EventStream] = native
        self._convert = convert

    def __iter__(self) -> "SyncStream":
        return self

    def __next__(self) -> StreamEvent:
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
        return self._convert(d)  # type: ignore[no-any-return]

    def close(self) -> None:
        """Stops the stream now (cancelling the call if it has not finished)."""
        native, self._native = self._native, None
        if native is not None:
            native.close()

    def __enter__(self) -> "SyncStream":
        return self

    def __exit__(
        self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        self.close()
