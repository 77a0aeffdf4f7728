"""``fuse`` and ``fuse_stream``, mixed into :class:`polyfuse.Client` (async) and
:class:`polyfuse.SyncClient` (blocking). They pass the prompt and the options to the core's fusion
(``_polyfuse._fuse_*``), which validates them and does all the work, and turn its dicts into
:mod:`polyfuse._fusion_types` dataclasses."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Coroutine, Dict, Mapping, Optional, Sequence, Union

from . import _polyfuse
from ._stream import AsyncStream, SyncStream, _await_call

if TYPE_CHECKING:  # the fusion types are imported when a fusion is first made
    from ._client import Messages
    from ._fusion_types import FusionEvent, FusionMode, FusionResult

__all__ = ["AsyncFusion", "SyncFusion", "Pool"]

Pool = Union[Sequence[str], Mapping[str, Any]]
"""The members: model strings or routes, or ``{"model": ..., "samples": N}`` for self-fusion (one
model sampled N times, at temperature 0.7 unless one is given)."""


def _options(pool: Pool, judge: Optional[str], mode: Optional[FusionMode], options: Dict[str, Any]) -> Dict[str, Any]:
    return {"pool": pool, "judge": judge, "mode": mode, **options}


class AsyncFusion:
    """``fuse`` and ``fuse_stream`` of the async :class:`polyfuse.Client`."""

    _native: Any

    def fuse(
        self,
        messages: "Messages",
        *,
        pool: Pool,
        judge: Optional[str] = None,
        mode: Optional[FusionMode] = None,
        **options: Any,
    ) -> "Coroutine[Any, Any, FusionResult]":
        """Runs one prompt through ``pool`` in parallel, then one answer: ``mode`` ``"merge"``
        (default: the judge analyses the candidates, then writes one answer), ``"best-of"`` (the
        judge scores them, the winner is returned verbatim), ``"debate"`` (members revise after
        seeing the others' answers) or ``"vote"`` (extracted answers counted; the judge only on a
        tie). ``options``: ``quorum``, ``grace_ms``, ``deadline_ms`` (a number, or
        ``{"panel": ..., "judge": ...}``), ``rounds``, ``seed``, ``rubric``, ``judge_prompt``,
        ``extractor``, ``order_swap``, ``single_call``, ``agreement_shortcut``, ``finalize``; any
        other name is a call parameter every member gets (``temperature``, ``max_tokens``,
        ``tags``, ...). Bad options raise :class:`polyfuse.InvalidRequestError` naming them.
        Cancelling the awaiting task cancels every member and judge call still running."""
        self._check_process()  # type: ignore[attr-defined]
        call = _polyfuse._fuse_start(self._native, messages, _options(pool, judge, mode, options))
        return self._finish_fusion(call)

    async def _finish_fusion(self, call: Any) -> FusionResult:
        from ._fusion_types import FusionResult

        return FusionResult._from_dict(await _await_call(call, getattr(self, "_usage", None)))

    def fuse_stream(
        self,
        messages: "Messages",
        *,
        pool: Pool,
        judge: Optional[str] = None,
        mode: Optional[FusionMode] = None,
        **options: Any,
    ) -> "AsyncStream[FusionEvent]":
        """A streamed fusion: ``async for event in client.fuse_stream(...)`` gives
        ``FusionStarted``, a ``MemberDone`` per member, ``Judging`` per judge call, the final
        answer's ``TextDelta``s as it is produced (``FusionRestart``: discard what was shown), then
        ``FusionFinal`` with the :class:`FusionResult`. Lazy; leaving the loop cancels every call
        still running. Takes the same options as :meth:`fuse`."""
        self._check_process()  # type: ignore[attr-defined]
        from ._fusion_types import _fusion_event_from_dict

        native = _polyfuse._fuse_stream(self._native, messages, _options(pool, judge, mode, options))
        return AsyncStream(native, getattr(self, "_usage", None), _fusion_event_from_dict)


class SyncFusion:
    """``fuse`` and ``fuse_stream`` of the blocking :class:`polyfuse.SyncClient`."""

    _native: Any

    def fuse(
        self,
        messages: "Messages",
        *,
        pool: Pool,
        judge: Optional[str] = None,
        mode: Optional[FusionMode] = None,
        **options: Any,
    ) -> FusionResult:
        """A fusion, blocking (Ctrl-C cancels every member); see :meth:`Client.fuse`."""
        from ._fusion_types import FusionResult

        self._check_process()  # type: ignore[attr-defined]
        return FusionResult._from_dict(
            _polyfuse._fuse_blocking(self._native, messages, _options(pool, judge, mode, options))
        )

    def fuse_stream(
        self,
        messages: "Messages",
        *,
        pool: Pool,
        judge: Optional[str] = None,
        mode: Optional[FusionMode] = None,
        **options: Any,
    ) -> "SyncStream[FusionEvent]":
        """A streamed fusion: ``for event in client.fuse_stream(...)``; see :meth:`Client.fuse_stream`."""
        self._check_process()  # type: ignore[attr-defined]
        from ._fusion_types import _fusion_event_from_dict

        native = _polyfuse._fuse_stream(self._native, messages, _options(pool, judge, mode, options))
        return SyncStream(native, _fusion_event_from_dict)
