"""The config document's TypedDicts (polyfuse.ConfigDocument, generated from config.d.ts, which
tests/node/config-types.test.mjs checks against the core) under mypy --strict: a good document
passes, and each mistake in typing/config_bad.py (`polcy`, `targetz`, `fail.kind: 'boom'`, a bad
format, a string timeout) is reported on its line."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent / "typing"

pytest.importorskip("mypy")


def mypy(file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--hide-error-context", str(file)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_good_document_type_checks() -> None:
    r = mypy(HERE / "config_good.py")
    assert r.returncode == 0, r.stdout + r.stderr


def test_each_mistake_is_an_error_on_its_line() -> None:
    bad = HERE / "config_bad.py"
    r = mypy(bad)
    assert r.returncode == 1, r.stdout + r.stderr
    flagged = {int(m.group(1)) for m in re.finditer(r"config_bad\.py:(\d+): error", r.stdout)}
    for number, line in enumerate(bad.read_text().splitlines(), start=1):
        match = re.search(r"# error: (\S+)", line)
        if match:
            assert number in flagged, f"line {number} ({match.group(1)}) is not an error:\n{r.stdout}"
            assert match.group(1) in r.stdout
