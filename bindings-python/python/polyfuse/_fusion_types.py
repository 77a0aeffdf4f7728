"""Fusion result types: frozen dataclasses built from the dicts of the core's ``FusionResult`` and
``FusionEvent`` (every figure, label and flag comes from the core). ``FusionResult.to_dict()``
gives the core's dict back."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, Dict, List, Literal, Mapping, Optional, Union

if TYPE_CHECKING:
    from dataclasses import dataclass, field

    class _Record:
        pass

else:  # processed on first use (polyfuse/_record.py): keeps `import polyfuse` fast
    from ._record import Record as _Record, dataclass, field

from ._types import Attempt, TextDelta, Usage

__all__ = [
    "FusionMode",
    "CandidateStatus",
    "ParsePath",
    "Candidate",
    "VoteCount",
    "VoteTally",
    "SwapCheck",
    "JudgeCall",
    "DebateRound",
    "FusionResult",
    "FusionStarted",
    "MemberDone",
    "Judging",
    "FusionRestart",
    "FusionFinal",
    "FusionEvent",
]

FusionMode = Literal["merge", "best-of", "debate", "vote"]
CandidateStatus = Literal["ok", "truncated", "failed", "cancelled"]
"""``ok`` and ``truncated`` (cut at the token limit) are usable; ``failed`` (after the member's own
retries and fallbacks, or no text); ``cancelled`` by the fusion (a straggler after quorum and grace,
or at the phase deadline)."""
ParsePath = Literal[
    "json",
    "fenced_json",
    "repair",
    "pattern",
    "marker",
    "no_marker",
    "raw",
    "agreement",
    "single",
    "vote",
    "fallback_vote",
    "fallback_similarity",
    "fallback_primary",
]
"""How the fusion reached its answer: which judge output was read and how, why no judge was needed
(``agreement``, ``single``, ``vote``), or which fallback stood in for a failed judge."""


@dataclass(frozen=True)
class Candidate(_Record):
    """One member's answer (in a debate, its latest)."""

    index: int
    """Its seat in the pool (0-based)."""
    model: str
    """The member as configured (a model or route)."""
    text: str
    status: CandidateStatus
    usage: Usage
    latency_ms: float
    label: Optional[str] = None
    """The label the judge saw (usable candidates only)."""
    answered_by: Optional[str] = None
    """``provider/model`` that answered (a route's target)."""
    error_kind: Optional[str] = None
    error: Optional[str] = None
    request_id: Optional[str] = None
    """The id of its (latest) call, as in its usage events."""
    score: Optional[float] = None
    """The judge's score (best-of)."""
    answer: Optional[str] = None
    """The final answer read out of its text (vote, a debate's vote)."""
    round: int = 0

    @property
    def usable(self) -> bool:
        return self.status in ("ok", "truncated")

    @classmethod
    def _from_dict(cls, d: Mapping[str, Any]) -> "Candidate":
        return cls(
            index=d["index"],
            model=d["model"],
            text=d.get("text", ""),
            status=d["status"],
            usage=Usage._from_dict(d.get("usage") or {}),
            latency_ms=d.get("latency_ms", 0.0),
            label=d.get("label"),
            answered_by=d.get("answered_by"),
            error_kind=d.get("error_kind"),
            error=d.get("error"),
            request_id=d.get("request_id"),
            score=d.get("score"),
            answer=d.get("answer"),
            round=d.get("round", 0),
        )


@dataclass(frozen=True)
class VoteCount(_Record):
    """One answer's share of a vote."""

    answer: str
    """The answer, normalized."""
    votes: int
    share: float
    """Votes over usable candidates."""
    labels: List[str]

    @classmethod
    def _from_dict(cls, d: Mapping[str, Any]) -> "VoteCount":
        return cls(d["answer"], d["votes"], d["share"], list(d.get("labels") or []))


@dataclass(frozen=True)
class VoteTally(_Record):
    """A vote: the answers counted (most votes first), the winner's share as confidence."""

    counts: List[VoteCount]
    confidence: float
    tie: bool
    answer: Optional[str] = None
    abstained: List[str] = field(default_factory=list)

    @classmethod
    def _from_dict(cls, d: Mapping[str, Any]) -> "VoteTally":
        return cls(
            counts=[VoteCount._from_dict(c) for c in d.get("counts") or []],
            confidence=d.get("confidence", 0.0),
            tie=d.get("tie", False),
            answer=d.get("answer"),
            abstained=list(d.get("abstained") or []),
        )


@dataclass(frozen=True)
class SwapCheck(_Record):
    """Best-of's order-swapped second pass, under the first pass's labels."""

    consistent: bool
    winner: Optional[str] = None
    scores: Dict[str, float] = field(default_factory=dict)
    parse_path: Optional[ParsePath] = None

    @classmethod
    def _from_dict(cls, d: Mapping[str, Any]) -> "SwapCheck":
        return cls(d["consistent"], d.get("winner"), dict(d.get("scores") or {}), d.get("parse_path"))


@dataclass(frozen=True)
class JudgeCall(_Record):
    """One judge call: its raw output, or why it failed."""

    purpose: Literal["verdict", "swap", "repair", "analysis", "synthesis", "merge", "tie_break"]
    model: str
    text: str
    ok: bool
    usage: Usage
    latency_ms: float
    error_kind: Optional[str] = None
    error: Optional[str] = None

    @classmethod
    def _from_dict(cls, d: Mapping[str, Any]) -> "JudgeCall":
        return cls(
            purpose=d["purpose"],
            model=d["model"],
            text=d.get("text", ""),
            ok=d["ok"],
            usage=Usage._from_dict(d.get("usage") or {}),
            latency_ms=d.get("latency_ms", 0.0),
            error_kind=d.get("error_kind"),
            error=d.get("error"),
        )


@dataclass(frozen=True)
class DebateRound(_Record):
    round: int
    candidates: List[Candidate]

    @classmethod
    def _from_dict(cls, d: Mapping[str, Any]) -> "DebateRound":
        return cls(d["round"], [Candidate._from_dict(c) for c in d.get("candidates") or []])


@dataclass(frozen=True)
class FusionResult(_Record):
    """The result of a fusion (``client.fuse``, or ``response.fusion`` of ``complete("fusion/<name>")``)."""

    id: str
    """The fusion's id: the ``parent_id`` of its members' and judge's usage events."""
    mode: FusionMode
    answer: str
    finish_reason: str
    candidates: List[Candidate]
    """Every member, in pool order."""
    parse_path: ParsePath
    seed: int
    """The seed of the candidates' order: the same seed gives the same order."""
    order: List[int]
    """The seats (pool indices) in label order: ``order[0]`` was shown as A."""
    degraded: bool
    """Not a judged answer of a full panel: one usable answer, or a fallback for a failed judge."""
    usage: Usage
    """Every member's and judge's usage summed (cost ``None`` when a part is unknown)."""
    calls: int
    """Model calls made (members, every round, and judges)."""
    latency_ms: float
    name: Optional[str] = None
    winner: Optional[str] = None
    """The label of the candidate returned (best-of, vote, a fallback, agreement)."""
    scores: Dict[str, float] = field(default_factory=dict)
    """Scores by label (best-of)."""
    confidence: Optional[str] = None
    rationale: Optional[str] = None
    analysis: Any = None
    """A merge's analysis: the judge's JSON, or its text when it was not JSON."""
    rounds: List[DebateRound] = field(default_factory=list)
    stopped_early: Optional[str] = None
    vote: Optional[VoteTally] = None
    swap: Optional[SwapCheck] = None
    judge_model: Optional[str] = None
    judge: List[JudgeCall] = field(default_factory=list)
    """Every judge call, in order."""
    warnings: List[str] = field(default_factory=list)
    ttft_ms: Optional[float] = None
    call_log: List[Attempt] = field(default_factory=list)
    """The fusion's calls as attempts (members then judges, in the order they ended)."""
    _dict: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def winner_candidate(self) -> Optional[Candidate]:
        """The candidate returned, if one was."""
        return next((c for c in self.candidates if self.winner is not None and c.label == self.winner), None)

    @classmethod
    def _from_dict(cls, d: Mapping[str, Any]) -> "FusionResult":
        vote, swap = d.get("vote"), d.get("swap")
        return cls(
            id=d["id"],
            mode=d["mode"],
            answer=d.get("answer", ""),
            finish_reason=d.get("finish_reason", ""),
            candidates=[Candidate._from_dict(c) for c in d.get("candidates") or []],
            parse_path=d["parse_path"],
            seed=d["seed"],
            order=list(d.get("order") or []),
            degraded=d.get("degraded", False),
            usage=Usage._from_dict(d.get("usage") or {}),
            calls=d.get("calls", 0),
            latency_ms=d.get("latency_ms", 0.0),
            name=d.get("name"),
            winner=d.get("winner"),
            scores=dict(d.get("scores") or {}),
            confidence=d.get("confidence"),
            rationale=d.get("rationale"),
            analysis=d.get("analysis"),
            rounds=[DebateRound._from_dict(r) for r in d.get("rounds") or []],
            stopped_early=d.get("stopped_early"),
            vote=VoteTally._from_dict(vote) if vote else None,
            swap=SwapCheck._from_dict(swap) if swap else None,
            judge_model=d.get("judge_model"),
            judge=[JudgeCall._from_dict(j) for j in d.get("judge") or []],
            warnings=list(d.get("warnings") or []),
            ttft_ms=d.get("ttft_ms"),
            call_log=[Attempt._from_dict(a) for a in d.get("call_log") or []],
            _dict=copy.deepcopy(dict(d)),
        )

    def to_dict(self) -> Dict[str, Any]:
        """The result as a plain dict (the core's serialized shape)."""
        return copy.deepcopy(self._dict)


@dataclass(frozen=True)
class FusionStarted(_Record):
    """The fusion started: its id, mode, members (one per seat) and the seed of the order."""

    id: str
    mode: FusionMode
    members: List[str]
    seed: int
    type: Literal["started"] = "started"


@dataclass(frozen=True)
class MemberDone(_Record):
    """A member came back (answered, failed, or cancelled as a straggler); in a debate, once per round."""

    candidate: Candidate
    type: Literal["member"] = "member"


@dataclass(frozen=True)
class Judging(_Record):
    """A judge call starts."""

    purpose: str
    model: str
    type: Literal["judging"] = "judging"


@dataclass(frozen=True)
class FusionRestart(_Record):
    """The answer's text shown so far is void (the judge failed mid-answer): discard it."""

    reason: str
    type: Literal["restart"] = "restart"


@dataclass(frozen=True)
class FusionFinal(_Record):
    """The complete result: always the last event of a successful streamed fusion."""

    result: FusionResult
    type: Literal["final"] = "final"


FusionEvent = Union[FusionStarted, MemberDone, Judging, TextDelta, FusionRestart, FusionFinal]


def _fusion_event_from_dict(d: Dict[str, Any]) -> FusionEvent:
    t = d.get("type")
    if t == "text_delta":
        return TextDelta(d["text"])
    if t == "member":
        return MemberDone(Candidate._from_dict(d["candidate"]))
    if t == "started":
        return FusionStarted(d["id"], d["mode"], list(d.get("members") or []), d["seed"])
    if t == "judging":
        return Judging(d["purpose"], d["model"])
    if t == "restart":
        return FusionRestart(d["reason"])
    if t == "final":
        return FusionFinal(FusionResult._from_dict(d["result"]))
    raise ValueError(f"polyfuse: unknown fusion event type {t!r}")
