"""SyncClient: the same calls, blocking."""

from __future__ import annotations

import threading
from typing import Any, Dict

import pytest

import polyfuse
from conftest import MockServer

MODEL = "mockhttp/gpt-4o-mini"


def test_sync_complete_and_stream(config: Dict[str, Any], usage_log: Any) -> None:
    with polyfuse.SyncClient(config, on_usage=usage_log) as client:
        r = client.complete(f"{MODEL};words=5", "hello there")
        assert r.text == "w1 w2 w3 w4 w5"
        assert r.usage.input_tokens == 2 + 3
        events = list(client.stream(f"{MODEL};words=6;chunks=3", "hello"))
        assert [e.type for e in events] == ["text_delta"] * 3 + ["final"]
        final = events[-1]
        assert isinstance(final, polyfuse.Final)
        assert final.response.text == "".join(e.text for e in events if isinstance(e, polyfuse.TextDelta))
        with pytest.raises(polyfuse.ServerError):
            client.complete(f"{MODEL};status=500", "hi")
        with pytest.raises(polyfuse.ServerError):
            list(client.stream(f"{MODEL};status=500", "hi"))
        client.flush_usage()
        assert [e.outcome for e in usage_log.events] == ["ok", "ok", "error", "error"]


def test_sync_client_from_threads_releases_the_gil(config: Dict[str, Any]) -> None:
    client = polyfuse.SyncClient(config)
    results: Dict[int, str] = {}

    def work(i: int) -> None:
        results[i] = client.complete(f"{MODEL};text=t{i};latency_ms=200", "hi").text

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    import time

    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 8 calls of 200 ms each overlap (loose bound: well under 8 x 200 ms in sequence).
    assert time.monotonic() - started < 1.2
    assert results == {i: f"t{i}" for i in range(8)}


def test_sync_mock_provider() -> None:
    client = polyfuse.SyncClient()
    assert client.complete("mock/echo", "ping").text == "ping"
    assert "mock" in client.provider_names


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_fork_child_gets_a_fresh_runtime(config: Dict[str, Any]) -> None:
    import multiprocessing

    parent = polyfuse.SyncClient(config)
    assert parent.complete(f"{MODEL};text=parent", "hi").text == "parent"  # runtime started before the fork
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(2) as pool:
        results = pool.map(_child_call, [(config, i) for i in range(4)])
    assert results == [f"child{i} | RuntimeError" for i in range(4)]
    assert parent.complete(f"{MODEL};text=again", "hi").text == "again"


def _child_call(arg: Any) -> str:
    config, i = arg
    text = polyfuse.SyncClient(config).complete(f"{MODEL};text=child{i}", "hi").text
    try:
        _parent_client.complete(f"{MODEL};text=x", "hi")
        inherited = "worked"
    except RuntimeError:
        inherited = "RuntimeError"
    return f"{text} | {inherited}"


_parent_client = polyfuse.SyncClient({"env_providers": False})
