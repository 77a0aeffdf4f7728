"""``Client`` (async) and ``SyncClient`` (blocking): thin typed wrappers over the native
``_polyfuse._Client``. They pass arguments through, turn result dicts into dataclasses, and run
usage callbacks (plain or ``async def``); every decision about a call is made by the Rust core."""

from __future__ import annotations

import functools
import os
import sys
import threading
import weakref
from types import TracebackType
from typing import (
    TYPE_CHECKING,
    Any,
    Awaitable,
    Callable,
    Coroutine,
    Dict,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
    Set,
    Type,
    TypeVar,
    Union,
)

from . import _polyfuse
from ._fusion import AsyncFusion, SyncFusion
from ._stream import AsyncStream, SyncStream, _await_call
from ._types import LedgerStats, Response, StreamEvent, TargetHealth, UsageEvent, UsageSummary, _event_from_dict

if TYPE_CHECKING:  # asyncio, concurrent.futures and the drop-in are imported when first used
    import asyncio
    import concurrent.futures

    from ._config import ConfigDocument
    from ._openai import AsyncChat, Chat

__all__ = ["Client", "SyncClient", "AsyncStream", "SyncStream", "ConfigArg", "Messages", "UsageCallback"]

ConfigArg = Union[None, "ConfigDocument", str, "os.PathLike[str]"]
"""A config: None (defaults and environment), a dict (typed: `polyfuse.ConfigDocument`), or a
path to a .json / .toml file."""
Messages = Union[str, Sequence[Mapping[str, Any]]]
"""A prompt string or a list of OpenAI-style messages (``{"role": ..., "content": ...}``)."""
UsageCallback = Callable[[UsageEvent], Union[None, Awaitable[None]]]
"""A usage callback: a plain function or an ``async def`` function."""

_T = TypeVar("_T", bound="_BaseClient")

# This process, as an object replaced in a forked child (comparing it costs no getpid()).
_process: List[object] = [object()]


def _forked() -> None:
    _process[0] = object()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forked)

# Live clients, flushed by the atexit hook in __init__.py.
_live: "weakref.WeakSet[_BaseClient]" = weakref.WeakSet()


def _running_loop() -> Optional[asyncio.AbstractEventLoop]:
    aio = sys.modules.get("asyncio")
    if aio is None:  # not even imported: no loop runs
        return None
    try:
        return aio.get_running_loop()  # type: ignore[no-any-return]
    except RuntimeError:
        return None


class _UsageAdapter:
    """Receives each usage event (a dict) on the core's usage thread, builds a ``UsageEvent`` and
    calls the user's callbacks. Awaitables they return run on the event loop the client was last
    used from (``run_coroutine_threadsafe``) or, with no running loop, to completion right here
    with ``asyncio.run``. Exceptions go to ``sys.unraisablehook``."""

    def __init__(self, callbacks: Sequence[UsageCallback]) -> None:
        self.callbacks = list(callbacks)
        self.loop: Optional[asyncio.AbstractEventLoop] = None
        self.pending: Dict["concurrent.futures.Future[Any]", "_Scheduled"] = {}
        self.lock = threading.Lock()

    def __call__(self, event: Dict[str, Any]) -> None:
        ev = UsageEvent._from_dict(event)
        for cb in self.callbacks:
            try:
                if _is_async_callable(cb):
                    self._run_async(lambda cb=cb: cb(ev), cb)  # type: ignore[misc]
                else:
                    result = cb(ev)
                    if _isawaitable(result):
                        self._run_async(lambda r=result: r, cb)  # type: ignore[misc]
            except BaseException as exc:  # noqa: BLE001 - reported, never lost, never fatal
                _polyfuse._report_unraisable(exc, cb)
        self.recover()

    def _run_async(self, make: Callable[[], Awaitable[Any]], cb: UsageCallback) -> None:
        import asyncio

        loop = self.loop
        if loop is not None and loop.is_running() and not loop.is_closed():
            state = _Scheduled(make, cb, loop)
            wrapper = state.run()
            try:
                fut = asyncio.run_coroutine_threadsafe(wrapper, loop)
            except RuntimeError:  # the loop closed meanwhile: run it here instead
                wrapper.close()
            else:
                with self.lock:
                    self.pending[fut] = state
                fut.add_done_callback(self._done)
                return
        asyncio.run(_call(make))

    def _done(self, fut: "concurrent.futures.Future[Any]") -> None:
        with self.lock:
            state = self.pending.get(fut)
            if state is None or (fut.cancelled() and not state.started):
                return  # left for recover(): the loop dropped it before it started
            del self.pending[fut]
        if not fut.cancelled():
            exc = fut.exception()
            if exc is not None:
                _polyfuse._report_unraisable(exc, state.cb)

    def take_pending(self) -> List["concurrent.futures.Future[Any]"]:
        with self.lock:
            return [f for f, s in self.pending.items() if not f.done()]

    def recover(self) -> None:
        """Runs here (with ``asyncio.run``) the callbacks whose loop closed or dropped them before
        starting them, so that each event is still delivered once. Needs no running loop here."""
        if not self.pending or _running_loop() is not None:
            return
        with self.lock:
            stranded = [
                (f, s) for f, s in self.pending.items() if not s.started and (f.cancelled() or s.loop.is_closed())
            ]
            for f, _ in stranded:
                del self.pending[f]
        if not stranded:
            return
        import asyncio

        for _, state in stranded:
            try:
                asyncio.run(_call(state.make))
            except BaseException as exc:  # noqa: BLE001 - reported, never lost, never fatal
                _polyfuse._report_unraisable(exc, state.cb)


def _is_async_callable(cb: Any) -> bool:
    import inspect

    return inspect.iscoroutinefunction(cb) or inspect.iscoroutinefunction(getattr(cb, "__call__", None))


def _isawaitable(obj: Any) -> bool:
    import inspect

    return inspect.isawaitable(obj)


async def _call(make: Callable[[], Awaitable[Any]]) -> Any:
    return await make()


class _Scheduled:
    """An async callback scheduled on a loop; ``started`` once the loop began running it."""

    def __init__(self, make: Callable[[], Awaitable[Any]], cb: UsageCallback, loop: asyncio.AbstractEventLoop) -> None:
        self.make = make
        self.cb = cb
        self.loop = loop
        self.started = False

    async def run(self) -> Any:
        self.started = True
        return await self.make()


def _config_arg(config: ConfigArg) -> Any:
    if isinstance(config, os.PathLike):
        return os.fsdecode(os.fspath(config))
    return config


class _BaseClient:
    def __init__(
        self,
        config: ConfigArg = None,
        on_usage: Union[None, UsageCallback, Sequence[UsageCallback]] = None,
    ) -> None:
        callbacks: List[UsageCallback]
        if on_usage is None:
            callbacks = []
        elif callable(on_usage):
            callbacks = [on_usage]
        elif isinstance(on_usage, (str, bytes)) or not hasattr(on_usage, "__iter__"):
            raise TypeError(
                f"argument `on_usage`: expected a function (or async function) called with each usage event, "
                f"or a list of them, got {type(on_usage).__name__}"
            )
        else:
            callbacks = list(on_usage)
            for cb in callbacks:
                if not callable(cb):
                    raise TypeError(f"argument `on_usage`: expected a callable or a list of callables, got {type(cb).__name__}")
        self._usage: Optional[_UsageAdapter] = _UsageAdapter(callbacks) if callbacks else None
        self._process = _process[0]
        self._native = _polyfuse._Client(_config_arg(config), self._usage)
        _live.add(self)

    def _check_process(self) -> None:
        if self._process is not _process[0]:
            raise RuntimeError(
                "polyfuse: this client was created in another process (before os.fork()); "
                "create the client in the child process (e.g. in a gunicorn post_fork hook or the worker function)"
            )

    @property
    def provider_names(self) -> List[str]:
        """The names of the configured providers (``mock`` is always there)."""
        return self._native.provider_names()

    def health(self) -> List[TargetHealth]:
        """The circuit-breaker state of every target called so far (``closed``, ``open`` or
        ``half_open``), sorted by target. Empty before the first call (or with the breaker off)."""
        return [TargetHealth._from_dict(d) for d in self._native.health()]

    def usage(self, reset: bool = False) -> UsageSummary:
        """Usage totals of this client since it was built (or last reset): calls, errors by kind,
        tokens by kind, cost, retries, fallbacks, hedges, latency and TTFT p50 / p95 / p99,
        overall and by model, provider, route and tag. ``reset=True`` starts them again."""
        return UsageSummary._from_dict(self._native.usage(reset))

    def delivery_stats(self) -> Dict[str, int]:
        """Usage event delivery counters: ``emitted``, ``delivered``, ``dropped`` (the queue was
        full), ``pending``."""
        return self._native.delivery_stats()

    def flush_usage(self) -> None:
        """Blocks until every usage event of the calls made so far was delivered to the callbacks
        (``async def`` callbacks scheduled on another thread's loop included)."""
        self._native.flush_usage()
        if self._usage is not None:
            loop = _running_loop()
            pending = [f for f in self._usage.take_pending() if loop is None or self._usage.loop is not loop]
            if pending:
                import concurrent.futures

                concurrent.futures.wait(pending)

    def ledger_stats(self) -> LedgerStats:
        """The usage ledger's counters (``usage = {"ledger": ...}`` in the config): events
        written, failed (the calls went on), dropped, pending."""
        return LedgerStats._from_dict(self._native.ledger_stats())

    def close(self) -> None:
        """Delivers pending usage events and stops the usage thread. Calls made afterwards still
        work but their usage events are dropped."""
        self._native.close()

    def __repr__(self) -> str:
        native = getattr(self, "_native", None)
        providers = native.provider_names() if native is not None else []
        return f"{type(self).__name__}(providers={providers!r})"


class Client(AsyncFusion, _BaseClient):
    """The async client.

    ``config``: None (built-in providers from environment keys, and ``mock``), a dict, or a path
    to a .json / .toml file; a bad document raises :class:`polyfuse.ConfigError` naming the key path.
    ``on_usage``: a function or ``async def`` function (or a list of them) called exactly once per
    call with a :class:`polyfuse.UsageEvent`, off the request's path.
    """

    def complete(self, model: str, messages: Messages, **params: Any) -> "Coroutine[Any, Any, Response]":
        """One completion (``await client.complete(...)``). ``messages``: a prompt string or a list
        of OpenAI-style messages (``model`` and ``messages`` may be passed by keyword, as with the
        OpenAI SDK). ``params``: temperature, top_p, max_tokens, stop, seed, tools, tool_choice,
        parallel_tool_calls, response_format, reasoning_effort, user, extra (provider fields),
        tags and metadata (copied to usage events), timeout_ms, first_token_timeout_ms,
        stream_idle_timeout_ms, attempt_timeout_ms, include_raw. Unknown names raise
        :class:`polyfuse.InvalidRequestError`. The call starts (and is accounted for) when this is
        called; cancelling the awaiting task, or never awaiting it, cancels the request."""
        self._check_process()
        return self._finish(self._native.start_complete(model, messages, params or None))

    async def _finish(self, call: Any) -> Response:
        return Response._from_dict(await _await_call(call, self._usage))

    def stream(self, model: str, messages: Messages, **params: Any) -> AsyncStream[StreamEvent]:
        """A streamed completion: ``async for event in client.stream(...)``. Lazy: the request is
        sent on the first iteration. Takes the same parameters as :meth:`complete`."""
        self._check_process()
        return AsyncStream(self._native.stream(model, messages, params or None), self._usage, _event_from_dict)

    @functools.cached_property
    def chat(self) -> AsyncChat:
        """The OpenAI-shaped drop-in: ``await client.chat.completions.create(model=...,
        messages=...)`` returns objects shaped like openai-python's (see ``polyfuse._openai``)."""
        from ._openai import AsyncChat

        return AsyncChat(self)

    async def aflush_usage(self) -> None:
        """Waits until every usage event of the calls made so far was delivered to the callbacks
        (``async def`` callbacks included)."""
        await self._native.aflush_usage()
        if self._usage is not None:
            import asyncio

            for fut in self._usage.take_pending():
                try:
                    await asyncio.wrap_future(fut)
                except BaseException:  # noqa: BLE001 - already reported by the adapter
                    pass

    async def __aenter__(self) -> "Client":
        return self

    async def __aexit__(
        self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        await self.aflush_usage()
        self.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(
        self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        self.close()


class SyncClient(SyncFusion, _BaseClient):
    """The blocking client: the same methods as :class:`Client`, for scripts. Calls release the
    GIL while they wait and stay responsive to Ctrl-C (which cancels the request)."""

    def complete(self, model: str, messages: Messages, **params: Any) -> Response:
        """One completion; see :meth:`Client.complete`."""
        self._check_process()
        return Response._from_dict(self._native.complete_blocking(model, messages, params or None))

    def stream(self, model: str, messages: Messages, **params: Any) -> SyncStream[StreamEvent]:
        """A streamed completion: ``for event in client.stream(...)``."""
        self._check_process()
        return SyncStream(self._native.stream(model, messages, params or None), _event_from_dict)

    @functools.cached_property
    def chat(self) -> Chat:
        """The OpenAI-shaped drop-in: ``client.chat.completions.create(model=..., messages=...)``
        (blocking), shaped like openai-python's ``OpenAI`` client."""
        from ._openai import Chat

        return Chat(self)

    def __enter__(self) -> "SyncClient":
        return self

    def __exit__(
        self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        self.close()


def _iter_live() -> Iterator[_BaseClient]:
    return iter(list(_live))
