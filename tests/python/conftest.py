"""Shared fixtures: the mock provider server (a real HTTP server on loopback, built from
tests/mock-server) and client configs pointing at it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "sk-test-123"


def _target_dir() -> Path:
    return Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")


def _server_binary() -> Path:
    explicit = os.environ.get("POLYFUSE_MOCK_SERVER")
    if explicit:
        return Path(explicit)
    binary = _target_dir() / "debug" / "polyfuse-mock-server"
    if not binary.exists():
        subprocess.run(["cargo", "build", "-q", "-p", "polyfuse-mock-server"], cwd=ROOT, check=True)
    return binary


class MockServer:
    """A running polyfuse-mock-server and its control endpoints."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [str(_server_binary())], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("LISTENING "):
            self.proc.kill()
            raise RuntimeError(f"mock server did not start: {line!r}")
        self.url = line.split()[1]
        self.base_url = self.url + "/v1"

    def _get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=10) as r:
            return json.loads(r.read())

    def stats(self) -> Dict[str, Any]:
        return self._get("/_mock/stats")  # type: ignore[no-any-return]

    def requests(self) -> List[Dict[str, Any]]:
        return self._get("/_mock/requests")  # type: ignore[no-any-return]

    def wait_for(self, predicate: Callable[[Dict[str, Any]], bool], timeout: float = 5.0) -> Dict[str, Any]:
        """Polls the stats until `predicate(stats)` holds (bounded); returns the last stats."""
        deadline = time.monotonic() + timeout
        while True:
            stats = self.stats()
            if predicate(stats) or time.monotonic() > deadline:
                return stats
            time.sleep(0.01)

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture(scope="session")
def mock_server() -> Iterator[MockServer]:
    server = MockServer()
    yield server
    server.stop()


def make_config(base_url: str, api_key: str = API_KEY, **policy: Any) -> Dict[str, Any]:
    """A config with the mock server as provider `mockhttp`; no retries and no circuit breaker,
    so every scripted fault surfaces as it is."""
    return {
        "env_providers": False,
        "providers": {"mockhttp": {"format": "openai", "base_url": base_url, "api_key": api_key}},
        "policy": {"max_attempts_per_target": 1, "breaker": {"enabled": False}, **policy},
    }


@pytest.fixture
def config(mock_server: MockServer) -> Dict[str, Any]:
    return make_config(mock_server.base_url)


class UsageLog:
    """A usage callback that records events: `all` of them, `events` the call-level ones."""

    def __init__(self) -> None:
        self.all: List[Any] = []

    def __call__(self, event: Any) -> None:
        self.all.append(event)

    @property
    def events(self) -> List[Any]:
        return [e for e in self.all if e.level == "call"]

    @property
    def attempts(self) -> List[Any]:
        return [e for e in self.all if e.level == "attempt"]

    def by_request(self) -> Dict[str, int]:
        counts: Dict[str, int] = {}
        for ev in self.events:
            counts[ev.request_id] = counts.get(ev.request_id, 0) + 1
        return counts


@pytest.fixture
def usage_log() -> UsageLog:
    return UsageLog()


def run_python(code: str, timeout: float = 60, env: Optional[Dict[str, str]] = None) -> "subprocess.CompletedProcess[str]":
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}
    )
