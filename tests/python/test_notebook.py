"""The notebook tests/notebooks/polyfuse.ipynb runs top to bottom in a real Jupyter kernel
(nbclient + ipykernel, installed by scripts/test.sh): top-level await, async for over a stream,
SyncClient inside the kernel's running loop, and cancelling a running call by cancelling its task
and by interrupting the kernel. Every cell asserts what it shows; a failing cell fails the test."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, List

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import ROOT, MockServer

NOTEBOOK = ROOT / "tests" / "notebooks" / "polyfuse.ipynb"


def _outputs(cell: Any) -> List[str]:
    return [o.get("data", {}).get("text/plain", "") for o in cell.get("outputs", []) if o.get("output_type") == "execute_result"]


def test_notebook_runs_in_a_kernel(mock_server: MockServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("POLYFUSE_MOCK_URL", mock_server.url)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") for c in code), "a cell did not run"
    results = [_outputs(c) for c in code]
    # The kernel ran this environment's Python (the one with polyfuse installed).
    assert results[0] == [repr(sys.executable)]
    assert results[1:] == [
        ["'Mock answer from gpt-4o-mini: hello from a notebook'"],
        ["'w1 w2 w3 w4 w5 w6'"],
        ["'w1 w2 w3'"],
        ["'cancelled, connection closed'"],
        ["'interrupted, connection closed'"],
        ["[('ok', False), ('ok', True), ('cancelled', False)]"],
    ]
