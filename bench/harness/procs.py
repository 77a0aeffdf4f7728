"""The processes the harness drives: the mock provider server (one per runner, so no runner sees
another's connections) and the runners (one process per client and language), which answer
JSON-line commands on stdout lines starting with ``@@bench ``."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time
from pathlib import Path
from typing import IO, Any, Dict, List, Optional

BENCH = Path(__file__).resolve().parents[1]
MARK = "@@bench "


class BenchError(RuntimeError):
    """A runner or server misbehaved; the message names which one and what happened."""


class MockServer:
    """``polyfuse-mock-server`` on an ephemeral loopback port; it exits when its stdin closes."""

    def __init__(self, binary: Path, log: IO[str]) -> None:
        self.proc = subprocess.Popen(
            [str(binary)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("LISTENING "):
            self.proc.kill()
            raise BenchError(f"mock server {binary} did not start (first line {line!r})")
        self.base_url = line.split()[1] + "/v1"

    def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


class Runner:
    """One client in its own process, with its own mock server. ``start()`` spawns it;
    ``ready()`` waits for its hello (ops it supports, versions); ``cmd()`` sends a command and
    waits for the answer."""

    def __init__(self, lang: str, client: str, argv: List[str], server_bin: Path, logdir: Path, env: Dict[str, str]):
        self.lang, self.client = lang, client
        self.key = f"{lang}:{client}"
        self.argv, self.server_bin, self.env = argv, server_bin, env
        self.log = open(logdir / f"{lang}-{client}.log", "a")
        self.lines: "queue.Queue[Optional[str]]" = queue.Queue()
        self.proc: Optional[subprocess.Popen] = None
        self.server: Optional[MockServer] = None
        self.ops: List[str] = []
        self.versions: Dict[str, str] = {}

    def start(self) -> None:
        self.server = MockServer(self.server_bin, self.log)
        self.proc = subprocess.Popen(
            [*self.argv, "--base-url", self.server.base_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env=self.env,
            cwd=BENCH,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(MARK):
                self.lines.put(line[len(MARK):])
            else:
                self.log.write("[stdout] " + line)
        self.lines.put(None)

    def _answer(self, timeout: float, what: str) -> Dict[str, Any]:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise BenchError(f"{self.key}: no answer to {what} within {timeout:.0f} s (log: {self.log.name})") from None
        if line is None:
            code = self.proc.wait(5) if self.proc else None
            raise BenchError(f"{self.key}: the runner exited (code {code}) during {what} (log: {self.log.name})")
        return json.loads(line)

    def ready(self, timeout: float = 120) -> None:
        hello = self._answer(timeout, "start-up")
        self.ops, self.versions = hello["ops"], hello.get("versions", {})

    def cmd(self, command: Dict[str, Any], timeout: float) -> Dict[str, Any]:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        answer = self._answer(timeout, f"{command.get('cmd')} {command.get('op', '')}")
        if not answer.get("ok"):
            raise BenchError(f"{self.key}: {command.get('cmd')} failed: {answer.get('error')}\n{answer.get('trace', '')}")
        return answer

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
                self.proc.stdin.flush()
                self.proc.stdin.close()
                self.proc.wait(15)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(5)
        if self.server is not None:
            self.server.stop()
        self.log.close()


def start_all(runners: List[Runner]) -> None:
    """Starts the runners side by side (LiteLLM alone imports for seconds) and waits for each."""
    for r in runners:
        r.start()
    for r in runners:
        r.ready()


def loadavg() -> List[float]:
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def wait_quiet(max_load: float, max_wait_s: float) -> List[float]:
    """Waits (bounded) for the 1-minute load average to fall under `max_load`; returns it."""
    deadline = time.monotonic() + max_wait_s
    while loadavg()[0] > max_load and time.monotonic() < deadline:
        time.sleep(5)
    return loadavg()
