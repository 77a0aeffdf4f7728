"""What the Python runner and its clients share: the job an op runs, the answer check, and the
process memory readings (/proc/self/status; the peak is reset per phase via clear_refs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Dict, Optional

KEY = "sk-bench-123"
MESSAGES = [{"role": "user", "content": "Say the words."}]


@dataclass
class Job:
    """One call's inputs: the mock model string (options after `;`), the answer every call must
    produce, an optional hook run when a stream's first text arrives, and op-specific params."""

    model: str
    expect: str
    on_first: Optional[Callable[[], None]] = None
    params: Dict[str, Any] = field(default_factory=dict)


Op = Callable[[Job], Awaitable[Optional[float]]]
"""An op makes one call and checks its answer; it returns the time to first text (s) for a
stream, None otherwise, and raises on a wrong answer."""


def check(text: Optional[str], job: Job) -> None:
    if text != job.expect:
        raise ValueError(f"unexpected answer {text!r:.80} (expected {job.expect!r:.80})")


def mem() -> Dict[str, float]:
    """Current (VmRSS) and peak (VmHWM) resident memory of this process, in MB."""
    out = {"rss_mb": 0.0, "hwm_mb": 0.0}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                out["rss_mb"] = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                out["hwm_mb"] = int(line.split()[1]) / 1024
    return out


def reset_peak_rss() -> bool:
    """Resets VmHWM to the current RSS (Linux >= 4.0), so a phase reports its own peak."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False
