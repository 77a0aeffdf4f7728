"""Errors: each provider failure maps to its class with its attributes; no API key ever shows."""

from __future__ import annotations

import builtins
import pickle
from typing import Any, Dict, Type

import pytest

import polyfuse
from conftest import MockServer, make_config

MODEL = "mockhttp/gpt-4o-mini"
SECRET = "bad-key-secret-123456"


async def test_bad_key_is_authentication_error_without_the_key(mock_server: MockServer) -> None:
    client = polyfuse.Client(make_config(mock_server.base_url, api_key=SECRET))
    with pytest.raises(polyfuse.AuthenticationError) as info:
        await client.complete(MODEL, "hi")
    err = info.value
    assert err.status_code == 401 and err.kind == "authentication"
    assert err.provider == "mockhttp"
    # The mock echoes the full key in its message; the core redacts it.
    texts = [str(err), repr(err), repr(err.args), err.message, repr(err.__dict__), repr(err.attempts)]
    for text in texts:
        for part in ("secret-123456", "bad-key-secret", "123456", SECRET):
            assert part not in text, text
    for part in ("secret-123456", "123456"):
        assert part.encode() not in pickle.dumps(err)
    with pytest.raises(polyfuse.AuthenticationError):
        await collect_stream(client.stream(MODEL, "hi"))


async def collect_stream(stream: polyfuse.AsyncStream) -> None:
    async for _ in stream:
        pass


async def test_rate_limit_carries_retry_after(config: Dict[str, Any]) -> None:
    with pytest.raises(polyfuse.RateLimitError) as info:
        await polyfuse.Client(config).complete(f"{MODEL};status=429;retry_after=2", "hi")
    err = info.value
    assert err.retry_after == 2.0
    assert err.status_code == 429
    assert err.model == f"{MODEL};status=429;retry_after=2"
    assert len(err.attempts) == 1 and err.attempts[0].error_kind == "rate_limited"
    assert err.attempts[0].status == 429


@pytest.mark.parametrize(
    "options, cls, status",
    [
        ("status=500", polyfuse.ServerError, 500),
        ("status=503", polyfuse.OverloadedError, 503),
        ("error=insufficient_quota", polyfuse.QuotaExceededError, 429),
        ("error=context_length", polyfuse.ContextWindowExceededError, 400),
        ("error=content_filter", polyfuse.ContentFilteredError, 400),
        ("status=403", polyfuse.PermissionDeniedError, 403),
        ("error=model_not_found", polyfuse.InvalidRequestError, 404),
    ],
)
async def test_error_classes(config: Dict[str, Any], options: str, cls: Type[polyfuse.PolyfuseError], status: int) -> None:
    with pytest.raises(cls) as info:
        await polyfuse.Client(config).complete(f"{MODEL};{options}", "hi")
    assert type(info.value) is cls
    assert info.value.status_code == status
    assert info.value.provider == "mockhttp"
    assert isinstance(info.value, polyfuse.PolyfuseError)


async def test_timeout_and_connection_errors_are_builtin_subclasses(config: Dict[str, Any]) -> None:
    client = polyfuse.Client(config)
    with pytest.raises(builtins.TimeoutError) as t:
        await client.complete(f"{MODEL};hang=1", "hi", timeout_ms=200)
    assert isinstance(t.value, polyfuse.TimeoutError)
    with pytest.raises(builtins.ConnectionError) as c:
        await client.complete(f"{MODEL};reset=1", "hi")
    assert isinstance(c.value, polyfuse.ConnectionError)


async def test_errors_pickle(config: Dict[str, Any]) -> None:
    with pytest.raises(polyfuse.RateLimitError) as info:
        await polyfuse.Client(config).complete(f"{MODEL};status=429;retry_after=2", "hi")
    err = info.value
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is polyfuse.RateLimitError
    assert str(copy) == str(err)
    assert (copy.kind, copy.retry_after, copy.status_code, copy.model) == (err.kind, 2.0, 429, err.model)
    assert copy.attempts == err.attempts


def test_every_kind_has_a_class() -> None:
    kinds = {
        "rate_limited": polyfuse.RateLimitError,
        "overloaded": polyfuse.OverloadedError,
        "server": polyfuse.ServerError,
        "timeout": polyfuse.TimeoutError,
        "connection": polyfuse.ConnectionError,
        "authentication": polyfuse.AuthenticationError,
        "permission": polyfuse.PermissionDeniedError,
        "quota": polyfuse.QuotaExceededError,
        "invalid_request": polyfuse.InvalidRequestError,
        "context_window_exceeded": polyfuse.ContextWindowExceededError,
        "content_filtered": polyfuse.ContentFilteredError,
        "budget_exceeded": polyfuse.BudgetExceededError,
        "config": polyfuse.ConfigError,
        "cancelled": polyfuse.CancelledError,
        "invalid_response": polyfuse.InvalidResponseError,
        "response_too_large": polyfuse.ResponseTooLargeError,
        "all_attempts_failed": polyfuse.AllAttemptsFailedError,
        "internal": polyfuse.InternalError,
    }
    from polyfuse.exceptions import _BY_KIND, _from_native

    assert _BY_KIND == kinds
    for kind, cls in kinds.items():
        err = _from_native("msg", kind=kind, message="msg")
        assert type(err) is cls and err.kind == kind and str(err) == "msg"
        assert type(pickle.loads(pickle.dumps(err))) is cls


def test_internal_error_is_also_a_runtime_error() -> None:
    from polyfuse.exceptions import _from_native

    err = _from_native("polyfuse internal error (Rust panic): boom", kind="internal", message="boom")
    assert isinstance(err, polyfuse.InternalError) and isinstance(err, RuntimeError)
    assert isinstance(err, polyfuse.PolyfuseError) and err.kind == "internal"


def test_error_classes_are_the_cores() -> None:
    # One class per core error kind, named as the core names it (the same names as in Node).
    from polyfuse import _polyfuse, exceptions

    kinds = _polyfuse._error_classes()
    assert len(kinds) == len(exceptions._BY_KIND)
    for kind, name in kinds:
        cls = getattr(polyfuse, name)
        assert cls is exceptions._BY_KIND[kind], (kind, name)
        assert cls.kind == kind and issubclass(cls, polyfuse.PolyfuseError)


@pytest.mark.asyncio
async def test_retry_after_names_its_unit(config: Dict[str, Any]) -> None:
    with pytest.raises(polyfuse.RateLimitError) as info:
        await polyfuse.Client(config).complete(f"{MODEL};status=429;retry_after=3", "hi", timeout_ms=2500)
    assert info.value.retry_after_s == 3.0
    assert info.value.retry_after == 3.0
