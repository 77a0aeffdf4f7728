"""Result types: plain dataclasses built from the dicts the native module returns (the core's serde
shapes). ``to_dict()`` gives the dict back."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, Dict, List, Literal, Mapping, Optional, Union

if TYPE_CHECKING:
    from dataclasses import dataclass, field

    class _Record:
        pass

else:  # processed on first use (polyfuse/_record.py): keeps `import polyfuse` fast
    from ._record import Record as _Record, dataclass, field

from . import _polyfuse as _native
from ._record import ready as _ready

_new = object.__new__
_set = object.__setattr__


def _build(cls: Any, fields: Dict[str, Any]) -> Any:
    """An instance of the frozen dataclass ``cls`` whose attributes are ``fields`` (every field,
    no other), without running ``__init__``: it sets each field through ``object.__setattr__``,
    which made building a Response and its Usage and Attempts cost ~14 us (a test checks that
    every ``_from_dict`` sets exactly the declared fields)."""
    if "__dataclass_fields__" not in cls.__dict__:
        _ready(cls)
    obj = _new(cls)
    _set(obj, "__dict__", fields)
    return obj

if TYPE_CHECKING:
    from ._fusion_types import FusionResult

UsageSource = Literal["reported", "estimated", "unknown", "none"]
"""Where a :class:`Usage`'s figures come from."""

__all__ = [
    "UsageSource",
    "Usage",
    "Attempt",
    "ToolCall",
    "Response",
    "UsageEvent",
    "TextDelta",
    "ReasoningDelta",
    "ToolCallDelta",
    "Restart",
    "Final",
    "StreamEvent",
    "TargetHealth",
    "Percentiles",
    "UsageTotals",
    "UsageSummary",
    "LedgerStats",
    "ReportSummary",
]


@dataclass(frozen=True)
class Usage(_Record):
    """Token counts with one meaning for every provider (all figures come from the core)."""

    input_tokens: int = 0
    """All input tokens, cached ones included."""
    output_tokens: int = 0
    """All output tokens, reasoning included."""
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    cost_usd: Optional[float] = None
    """Cost in USD, when known (never a made-up 0)."""
    cache_write_1h_tokens: int = 0
    """Of ``cache_write_tokens``, those written with a 1-hour lifetime (Anthropic)."""
    total_tokens: int = 0
    """``input_tokens + output_tokens``."""
    source: UsageSource = "unknown"
    """Where the figures come from: ``"reported"`` by the provider, ``"estimated"`` by polyfuse
    (the provider reported none for a completed answer), ``"unknown"`` (nothing reported for an
    exchange that may have used tokens: the figures are 0 and mean unknown), or ``"none"``
    (nothing was consumed: the attempt was rejected before generation)."""

    @classmethod
    def _from_dict(cls, d: Mapping[str, Any]) -> "Usage":
        g = d.get
        return _build(  # type: ignore[no-any-return]
            cls,
            {
                "input_tokens": g("input_tokens", 0),
                "output_tokens": g("output_tokens", 0),
                "cached_input_tokens": g("cached_input_tokens", 0),
                "cache_write_tokens": g("cache_write_tokens", 0),
                "reasoning_tokens": g("reasoning_tokens", 0),
                "cost_usd": g("cost_usd"),
                "cache_write_1h_tokens": g("cache_write_1h_tokens", 0),
                "total_tokens": g("total_tokens", 0),
                "source": g("source", "unknown"),
            },
        )

    def to_dict(self) -> Dict[str, Any]:
        d: Dict[str, Any] = {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cached_input_tokens": self.cached_input_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "cache_write_1h_tokens": self.cache_write_1h_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "total_tokens": self.total_tokens,
            "source": self.source,
        }
        if self.cost_usd is not None:
            d["cost_usd"] = self.cost_usd
        return d


@dataclass(frozen=True)
class Attempt(_Record):
    """One try at one target."""

    model: str
    provider: str
    outcome: str
    """``"ok"``, ``"error"`` or ``"cancelled"``."""
    latency_ms: float
    usage: Usage
    error_kind: Optional[str] = None
    error_message: Optional[str] = None
    status: Optional[int] = None
    ttft_ms: Optional[float] = None
    number: int = 0
    """1-based number of the attempt within its call."""
    hedge: bool = False
    """Started as a hedge's backup request."""
    fallback: bool = False
    """Made on a target other than the call's first."""

    @classmethod
    def _from_dict(cls, d: Mapping[str, Any]) -> "Attempt":
        g = d.get
        return _build(  # type: ignore[no-any-return]
            cls,
            {
                "model": d["model"],
                "provider": d["provider"],
                "outcome": d["outcome"],
                "latency_ms": d["latency_ms"],
                "usage": Usage._from_dict(g("usage") or {}),
                "error_kind": g("error_kind"),
                "error_message": g("error_message"),
                "status": g("status"),
                "ttft_ms": g("ttft_ms"),
                "number": g("number", 0),
                "hedge": g("hedge", False),
                "fallback": g("fallback", False),
            },
        )

    def to_dict(self) -> Dict[str, Any]:
        d: Dict[str, Any] = {
            "model": self.model,
            "provider": self.provider,
            "outcome": self.outcome,
            "latency_ms": self.latency_ms,
            "usage": self.usage.to_dict(),
            "number": self.number,
            "hedge": self.hedge,
            "fallback": self.fallback,
        }
        for k in ("error_kind", "error_message", "status", "ttft_ms"):
            v = getattr(self, k)
            if v is not None:
                d[k] = v
        return d


@dataclass(frozen=True)
class ToolCall(_Record):
    """A tool call made by the assistant. ``arguments`` is the JSON text the model wrote."""

    id: str
    name: str
    arguments: str
    type: str = "function"

    @property
    def parsed_arguments(self) -> Any:
        """``arguments`` parsed as JSON: ``{}`` for a call without arguments, ``None`` when the
        model wrote invalid JSON (the text stays in ``arguments``)."""
        return _native.parse_tool_arguments(self.arguments)

    @classmethod
    def _from_dict(cls, d: Mapping[str, Any]) -> "ToolCall":
        fn = d.get("function") or {}
        return _build(  # type: ignore[no-any-return]
            cls, {"id": d.get("id", ""), "name": fn.get("name", ""), "arguments": fn.get("arguments", ""), "type": d.get("type", "function")}
        )

    def to_dict(self) -> Dict[str, Any]:
        return {"id": self.id, "type": self.type, "function": {"name": self.name, "arguments": self.arguments}}


@dataclass(frozen=True)
class Response(_Record):
    """The result of a successful call."""

    id: str
    """polyfuse's id for this call (also in usage events)."""
    text: str
    message: Dict[str, Any]
    """The assistant message, OpenAI shape (``role``, ``content``, ``tool_calls``)."""
    finish_reason: str
    """``"stop"``, ``"length"``, ``"tool_calls"``, ``"content_filter"`` or the provider's own value."""
    usage: Usage
    model: str
    """``provider/model`` that answered."""
    provider: str
    latency_ms: float
    attempts: List[Attempt]
    tool_calls: List[ToolCall]
    provider_model: Optional[str] = None
    provider_response_id: Optional[str] = None
    route: Optional[str] = None
    ttft_ms: Optional[float] = None
    raw: Any = None
    """The provider's raw body (non-streaming calls with ``include_raw=True``): the parsed JSON, or
    the body's text when it is nested too deeply to be parsed as a tree."""
    reasoning: Optional[str] = None
    """The model's reasoning / thinking text, when the provider exposes it."""
    fusion: Optional["FusionResult"] = None
    """The whole fusion result, when the model was ``fusion/<name>``."""

    @classmethod
    def _from_dict(cls, d: Dict[str, Any]) -> "Response":
        message = d.get("message") or {}
        fusion = d.get("fusion")
        if fusion is not None:
            from ._fusion_types import FusionResult

            fusion = FusionResult._from_dict(fusion)
        g = d.get
        return _build(  # type: ignore[no-any-return]
            cls,
            {
                "id": d["id"],
                "text": g("text", ""),
                "message": message,
                "finish_reason": g("finish_reason", ""),
                "usage": Usage._from_dict(g("usage") or {}),
                "model": g("model", ""),
                "provider": g("provider", ""),
                "latency_ms": g("latency_ms", 0.0),
                "attempts": [Attempt._from_dict(a) for a in g("attempts") or []],
                "tool_calls": [ToolCall._from_dict(t) for t in message.get("tool_calls") or []],
                "provider_model": g("provider_model"),
                "provider_response_id": g("provider_response_id"),
                "route": g("route"),
                "ttft_ms": g("ttft_ms"),
                "raw": g("raw"),
                "reasoning": g("reasoning"),
                "fusion": fusion,
            },
        )

    def to_dict(self) -> Dict[str, Any]:
        """The response as a plain dict (the core's serialized shape)."""
        d: Dict[str, Any] = {
            "id": self.id,
            "text": self.text,
            "message": copy.deepcopy(self.message),
            "finish_reason": self.finish_reason,
            "usage": self.usage.to_dict(),
            "model": self.model,
            "provider": self.provider,
            "latency_ms": self.latency_ms,
            "attempts": [a.to_dict() for a in self.attempts],
        }
        for k in ("provider_response_id", "provider_model", "route", "ttft_ms", "reasoning"):
            v = getattr(self, k)
            if v is not None:
                d[k] = v
        if self.raw is not None:
            d["raw"] = copy.deepcopy(self.raw)
        if self.fusion is not None:
            d["fusion"] = self.fusion.to_dict()
        return d

    def to_openai(self) -> Dict[str, Any]:
        """The response as an OpenAI ``chat.completion`` dict (computed by the core)."""
        from . import _polyfuse

        return _polyfuse.response_to_openai(self.to_dict())


@dataclass(frozen=True)
class UsageEvent(_Record):
    """One usage event, delivered once to ``on_usage``: one per attempt when it ends
    (``level == "attempt"``, ``parent_id`` = the call's id), then one for the call
    (``level == "call"``, its attempts summed)."""

    request_id: str
    model: str
    provider: str
    outcome: str
    """``"ok"``, ``"error"`` or ``"cancelled"``."""
    streamed: bool
    usage: Usage
    latency_ms: float
    attempts: List[Attempt]
    tags: Dict[str, Any]
    level: Literal["attempt", "call", "fusion"] = "call"
    parent_id: Optional[str] = None
    route: Optional[str] = None
    error_kind: Optional[str] = None
    error_message: Optional[str] = None
    ttft_ms: Optional[float] = None
    started_at_ms: int = 0
    """When the call or attempt started, in milliseconds since the Unix epoch."""
    attempt: Optional[int] = None
    """An attempt's number within its call."""
    hedge: bool = False
    fallback: bool = False
    metadata: Dict[str, Any] = field(default_factory=dict)

    @classmethod
    def _from_dict(cls, d: Mapping[str, Any]) -> "UsageEvent":
        return _build(  # type: ignore[no-any-return]
            cls,
            {
                "request_id": d["request_id"],
                "model": d["model"],
                "provider": d["provider"],
                "outcome": d["outcome"],
                "streamed": d["streamed"],
                "usage": Usage._from_dict(d.get("usage") or {}),
                "latency_ms": d["latency_ms"],
                "attempts": [Attempt._from_dict(a) for a in d.get("attempts") or []],
                "tags": dict(d.get("tags") or {}),
                "level": d.get("level", "call"),
                "parent_id": d.get("parent_id"),
                "route": d.get("route"),
                "error_kind": d.get("error_kind"),
                "error_message": d.get("error_message"),
                "ttft_ms": d.get("ttft_ms"),
                "started_at_ms": d.get("started_at_ms", 0),
                "attempt": d.get("attempt"),
                "hedge": d.get("hedge", False),
                "fallback": d.get("fallback", False),
                "metadata": dict(d.get("metadata") or {}),
            },
        )


@dataclass(frozen=True)
class TextDelta(_Record):
    """A piece of the answer's text."""

    text: str
    type: Literal["text_delta"] = "text_delta"


@dataclass(frozen=True)
class ReasoningDelta(_Record):
    """A piece of reasoning text."""

    text: str
    type: Literal["reasoning_delta"] = "reasoning_delta"


@dataclass(frozen=True)
class ToolCallDelta(_Record):
    """A piece of a tool call; ``id`` and ``name`` come with the first piece of each index."""

    index: int
    arguments: str
    id: Optional[str] = None
    name: Optional[str] = None
    type: Literal["tool_call_delta"] = "tool_call_delta"


@dataclass(frozen=True)
class Restart(_Record):
    """Another target took over mid-stream: discard what was shown so far."""

    model: str
    provider: str
    reason: str
    type: Literal["restart"] = "restart"


@dataclass(frozen=True)
class Final(_Record):
    """The complete response, with usage: always the last event of a successful stream."""

    response: Response
    type: Literal["final"] = "final"


@dataclass(frozen=True)
class Percentiles(_Record):
    """Latency percentiles in milliseconds, over ``count`` samples."""

    p50: float = 0.0
    p95: float = 0.0
    p99: float = 0.0
    count: int = 0

    @classmethod
    def _from_dict(cls, d: Mapping[str, Any]) -> "Percentiles":
        return cls(d.get("p50", 0.0), d.get("p95", 0.0), d.get("p99", 0.0), d.get("count", 0))


@dataclass(frozen=True)
class UsageTotals(_Record):
    """The running totals of one group of calls (see :meth:`polyfuse.Client.usage`)."""

    calls: int = 0
    ok: int = 0
    errors: int = 0
    cancelled: int = 0
    errors_by_kind: Dict[str, int] = field(default_factory=dict)
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    cost_usd: float = 0.0
    """Over the calls whose cost is known."""
    unpriced_calls: int = 0
    """Calls whose cost is unknown."""
    retries: int = 0
    fallbacks: int = 0
    hedges: int = 0
    latency_ms: Percentiles = field(default_factory=Percentiles)
    ttft_ms: Percentiles = field(default_factory=Percentiles)

    @classmethod
    def _from_dict(cls, d: Mapping[str, Any]) -> "UsageTotals":
        plain = {k: v for k, v in d.items() if k not in ("latency_ms", "ttft_ms")}
        return cls(
            **plain,
            latency_ms=Percentiles._from_dict(d.get("latency_ms") or {}),
            ttft_ms=Percentiles._from_dict(d.get("ttft_ms") or {}),
        )


@dataclass(frozen=True)
class UsageSummary(_Record):
    """:meth:`polyfuse.Client.usage`: totals since ``since_ms`` (Unix ms), overall and by model
    (the one that answered), provider, route and tag (``"key=value"``)."""

    since_ms: int
    total: UsageTotals
    by_model: Dict[str, UsageTotals]
    by_provider: Dict[str, UsageTotals]
    by_route: Dict[str, UsageTotals]
    by_tag: Dict[str, UsageTotals]

    @classmethod
    def _from_dict(cls, d: Mapping[str, Any]) -> "UsageSummary":
        def group(g: str) -> Dict[str, UsageTotals]:
            return {k: UsageTotals._from_dict(v) for k, v in (d.get(g) or {}).items()}

        return cls(
            since_ms=d.get("since_ms", 0),
            total=UsageTotals._from_dict(d.get("total") or {}),
            by_model=group("by_model"),
            by_provider=group("by_provider"),
            by_route=group("by_route"),
            by_tag=group("by_tag"),
        )


@dataclass(frozen=True)
class TargetHealth(_Record):
    """A target's circuit-breaker state, as ``client.health()`` reports it."""

    target: str
    """``provider/model`` as configured (options included)."""
    state: Literal["closed", "open", "half_open"]
    consecutive_failures: int
    retry_in_ms: Optional[int] = None
    """Milliseconds until an open breaker lets a probe through (0 once it may; None when closed)."""

    @classmethod
    def _from_dict(cls, d: Mapping[str, Any]) -> "TargetHealth":
        return cls(d["target"], d["state"], d["consecutive_failures"], d.get("retry_in_ms"))


@dataclass(frozen=True)
class LedgerStats(_Record):
    """The usage ledger's counters, as ``client.ledger_stats()`` reports them (all 0 with the
    ledger off)."""

    written: int
    """Events committed to the ledger."""
    failed: int
    """Events whose write failed (disk full, the file locked): the calls went on; the first
    failure was reported on stderr."""
    dropped: int
    """Events dropped because the ledger's queue was full."""
    pending: int
    """Events queued, not yet written."""

    @classmethod
    def _from_dict(cls, d: Mapping[str, Any]) -> "LedgerStats":
        return cls(d["written"], d["failed"], d["dropped"], d["pending"])


@dataclass(frozen=True)
class ReportSummary(_Record):
    """What ``polyfuse.ledger.report`` wrote."""

    path: str
    """The HTML file."""
    calls: int
    """Calls in the report."""
    attempts: int
    """Their attempts."""
    charts: int
    """Charts in the page that have data."""

    @classmethod
    def _from_dict(cls, d: Mapping[str, Any]) -> "ReportSummary":
        return cls(d["path"], d["calls"], d["attempts"], d["charts"])


StreamEvent = Union[TextDelta, ReasoningDelta, ToolCallDelta, Restart, Final]


def _event_from_dict(d: Dict[str, Any]) -> StreamEvent:
    t = d.get("type")
    if t == "text_delta":
        # The core's dict is exactly {"type", "text"}: it becomes the event's attributes as is.
        return _build(TextDelta, d) if len(d) == 2 else _build(TextDelta, {"text": d["text"], "type": t})  # type: ignore[no-any-return]
    if t == "tool_call_delta":
        return ToolCallDelta(d["index"], d.get("arguments", ""), d.get("id"), d.get("name"))
    if t == "final":
        return Final(Response._from_dict(d["response"]))
    if t == "reasoning_delta":
        return _build(ReasoningDelta, {"text": d["text"], "type": t})  # type: ignore[no-any-return]
    if t == "restart":
        return Restart(d["model"], d["provider"], d["reason"])
    raise ValueError(f"polyfuse: unknown stream event type {t!r}")
