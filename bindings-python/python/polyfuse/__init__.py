"""polyfuse: one LLM client layer written once in Rust.

    import asyncio, polyfuse

    async def main():
        client = polyfuse.Client()
        r = await client.complete("mock/echo", "Hello")
        print(r.text, r.usage.output_tokens)

    asyncio.run(main())

Process lifecycle: an ``atexit`` hook delivers pending usage events and stops the native runtime
before the interpreter finalizes. After ``os.fork()`` the child gets a fresh runtime; clients must
be created in the process that uses them (a client created before a fork raises RuntimeError in
the child: create it in the worker, e.g. in gunicorn's ``post_fork``).
"""

from __future__ import annotations

import atexit as _atexit
import sys as _sys
import os as _os

from typing import TYPE_CHECKING as _TYPE_CHECKING

from . import _polyfuse, ledger
from ._client import AsyncStream, Client, ConfigArg, Messages, SyncClient, SyncStream, UsageCallback
from ._types import (
    Attempt,
    Final,
    LedgerStats,
    ReasoningDelta,
    ReportSummary,
    Response,
    Restart,
    StreamEvent,
    TargetHealth,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
    UsageEvent,
    UsageSummary,
    UsageTotals,
    Percentiles,
)

if _TYPE_CHECKING:
    from ._config import ConfigDocument
    from ._openai import AsyncChatCompletionStream, ChatCompletion, ChatCompletionChunk, ChatCompletionStream
    from ._fusion_types import (
        Candidate,
        DebateRound,
        FusionEvent,
        FusionFinal,
        FusionMode,
        FusionRestart,
        FusionResult,
        FusionStarted,
        Judging,
        JudgeCall,
        MemberDone,
        SwapCheck,
        VoteCount,
        VoteTally,
    )

# Imported on first use (PEP 562), to keep `import polyfuse` fast: the config's TypedDicts, the
# OpenAI drop-in's classes and the fusion types.
_LAZY = {
    "ConfigDocument": "_config",
    **dict.fromkeys(["AsyncChatCompletionStream", "ChatCompletion", "ChatCompletionChunk", "ChatCompletionStream"], "_openai"),
    **dict.fromkeys(
        [
            "Candidate",
            "DebateRound",
            "FusionEvent",
            "FusionFinal",
            "FusionMode",
            "FusionRestart",
            "FusionResult",
            "FusionStarted",
            "Judging",
            "JudgeCall",
            "MemberDone",
            "SwapCheck",
            "VoteCount",
            "VoteTally",
        ],
        "_fusion_types",
    ),
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'polyfuse' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> "list[str]":
    return sorted(set(globals()) | set(__all__))


from .exceptions import (
    AllAttemptsFailedError,
    AuthenticationError,
    BudgetExceededError,
    CancelledError,
    ConfigError,
    ConnectionError,
    ContentFilteredError,
    ContextWindowExceededError,
    InternalError,
    InvalidRequestError,
    InvalidResponseError,
    ResponseTooLargeError,
    OverloadedError,
    PermissionDeniedError,
    PolyfuseError,
    QuotaExceededError,
    RateLimitError,
    ServerError,
    TimeoutError,
)

__version__: str = _polyfuse.__version__

__all__ = [
    "Client",
    "SyncClient",
    "AsyncStream",
    "SyncStream",
    "ConfigArg",
    "ConfigDocument",
    "Messages",
    "UsageCallback",
    "Response",
    "Usage",
    "UsageSummary",
    "UsageTotals",
    "Percentiles",
    "Attempt",
    "ToolCall",
    "UsageEvent",
    "StreamEvent",
    "TargetHealth",
    "LedgerStats",
    "ReportSummary",
    "ledger",
    "TextDelta",
    "ReasoningDelta",
    "ToolCallDelta",
    "Restart",
    "Final",
    "Candidate",
    "DebateRound",
    "FusionEvent",
    "FusionFinal",
    "FusionMode",
    "FusionRestart",
    "FusionResult",
    "FusionStarted",
    "Judging",
    "JudgeCall",
    "MemberDone",
    "SwapCheck",
    "VoteCount",
    "VoteTally",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionStream",
    "AsyncChatCompletionStream",
    "PolyfuseError",
    "RateLimitError",
    "OverloadedError",
    "ServerError",
    "TimeoutError",
    "ConnectionError",
    "AuthenticationError",
    "PermissionDeniedError",
    "QuotaExceededError",
    "InvalidRequestError",
    "ContextWindowExceededError",
    "ContentFilteredError",
    "BudgetExceededError",
    "ConfigError",
    "CancelledError",
    "InvalidResponseError",
    "ResponseTooLargeError",
    "AllAttemptsFailedError",
    "InternalError",
]


def _shutdown() -> None:
    """atexit: deliver the usage events every client queued (also clients already garbage
    collected) for at most ``usage.exit_flush_ms`` (5 s; Ctrl-C stops the wait), say on stderr
    what could not be delivered, then stop the native runtime (no Rust thread may touch Python
    while the interpreter finalizes)."""
    from ._client import _iter_live

    try:
        report = _polyfuse._drain_usage_at_exit()
        if report:
            print(report, file=_sys.stderr)
    except BaseException:  # noqa: BLE001 - exiting; nothing to report to
        pass
    for client in _iter_live():
        try:
            if client._usage is not None:
                client._usage.recover()
        except BaseException:  # noqa: BLE001 - exiting; nothing to report to
            pass
    _polyfuse._shutdown()


_atexit.register(_shutdown)
if hasattr(_os, "register_at_fork"):
    _os.register_at_fork(after_in_child=_polyfuse._after_fork_child)
