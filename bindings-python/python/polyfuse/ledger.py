"""The usage ledger (``usage = {"ledger": "usage.db"}`` in the config, off by default): every usage
event written durably to SQLite, a call returning once its events are committed. ``query`` reads
events back; ``report`` writes the HTML usage report (``python -m polyfuse report usage.db``).
Both are the core's; this module only converts arguments and results.

    import polyfuse
    calls = polyfuse.ledger.query("usage.db", level="call", tags={"team": "search"}, limit=100)
    polyfuse.ledger.report("usage.db", "report.html")
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Literal, Mapping, Optional, Union

from . import _polyfuse
from ._types import ReportSummary, UsageEvent

__all__ = ["query", "report", "PathArg"]

PathArg = Union[str, "os.PathLike[str]"]
"""A file path."""


def _filter(
    since_ms: Optional[int],
    until_ms: Optional[int],
    model: Optional[str],
    route: Optional[str],
    level: Optional[Literal["attempt", "call"]],
    tags: Optional[Mapping[str, Any]],
    limit: Optional[int],
) -> Dict[str, Any]:
    given = {
        "since_ms": since_ms,
        "until_ms": until_ms,
        "model": model,
        "route": route,
        "level": level,
        "tags": dict(tags) if tags is not None else None,
        "limit": limit,
    }
    return {k: v for k, v in given.items() if v is not None}


def query(
    path: PathArg,
    *,
    since_ms: Optional[int] = None,
    until_ms: Optional[int] = None,
    model: Optional[str] = None,
    route: Optional[str] = None,
    level: Optional[Literal["attempt", "call"]] = None,
    tags: Optional[Mapping[str, Any]] = None,
    limit: Optional[int] = None,
) -> List[UsageEvent]:
    """The events of the ledger at ``path``, in the order they were written, that match every
    filter given: started in ``[since_ms, until_ms)`` (ms since the Unix epoch), on ``model`` or
    ``route`` exactly, of one ``level``, carrying each of ``tags`` with that value (JSON equality:
    ``"2"`` is not ``2``); at most ``limit`` of them. The file is opened read-only, so a running
    client may go on writing it."""
    f = _filter(since_ms, until_ms, model, route, level, tags, limit)
    return [UsageEvent._from_dict(d) for d in _polyfuse.ledger_query(os.fspath(path), f)]


def report(
    path: PathArg,
    out: PathArg = "usage-report.html",
    *,
    since_ms: Optional[int] = None,
    until_ms: Optional[int] = None,
    model: Optional[str] = None,
    route: Optional[str] = None,
    tags: Optional[Mapping[str, Any]] = None,
    limit: Optional[int] = None,
) -> ReportSummary:
    """Writes the usage report of the ledger at ``path`` to ``out``: its calls matching the
    filters (as in ``query``; each call carries its attempts) in one self-contained HTML file (no
    script, nothing loaded from the network) with the period's totals and charts of latency and
    time-to-first-token percentiles per model over time, cost by model / route / tag, calls and
    errors by kind, retries, fallbacks and hedges. The figures are those ``client.usage()``
    reports."""
    f = _filter(since_ms, until_ms, model, route, None, tags, limit)
    return ReportSummary._from_dict(_polyfuse.write_report(os.fspath(path), os.fspath(out), f))
