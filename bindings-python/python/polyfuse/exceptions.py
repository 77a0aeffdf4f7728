"""polyfuse's exceptions: one base class, :class:`PolyfuseError`, and one subclass per error kind.

Every error carries ``kind``, ``message``, ``provider``, ``model``, ``status_code``,
``retry_after_s`` (seconds; ``retry_after`` is the same value), ``request_id``, ``provider_code``
and ``attempts``. The classes are those of the core's error kinds (``_polyfuse._error_classes()``),
the same names as in the Node package. Messages come from
the Rust core, which removes API keys from them; nothing here adds configuration to a message.
Errors pickle (``args`` holds the message, the attributes travel in ``__dict__``).
"""

from __future__ import annotations

import builtins
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Type, Union

from ._types import Attempt

__all__ = [
    "PolyfuseError",
    "RateLimitError",
    "OverloadedError",
    "ServerError",
    "TimeoutError",
    "ConnectionError",
    "AuthenticationError",
    "PermissionDeniedError",
    "QuotaExceededError",
    "InvalidRequestError",
    "ContextWindowExceededError",
    "ContentFilteredError",
    "BudgetExceededError",
    "ConfigError",
    "CancelledError",
    "InvalidResponseError",
    "ResponseTooLargeError",
    "AllAttemptsFailedError",
    "InternalError",
]


class PolyfuseError(Exception):
    """Base class of every error polyfuse raises."""

    kind: str = "unknown"
    message: str
    provider: Optional[str]
    model: Optional[str]
    status_code: Optional[int]
    retry_after_s: Optional[float]
    """How long the provider asked to wait before retrying, in seconds."""
    request_id: Optional[str]
    provider_code: Optional[str]
    attempts: List[Attempt]

    def __init__(
        self,
        *args: object,
        message: Optional[str] = None,
        kind: Optional[str] = None,
        provider: Optional[str] = None,
        model: Optional[str] = None,
        status_code: Optional[int] = None,
        retry_after_s: Optional[float] = None,
        request_id: Optional[str] = None,
        provider_code: Optional[str] = None,
        attempts: Optional[Sequence[Union[Attempt, Mapping[str, Any]]]] = None,
        retry_after: Optional[float] = None,
    ) -> None:
        super().__init__(*args)
        if kind is not None:
            self.kind = kind
        self.message = message if message is not None else (str(args[0]) if args else "")
        self.provider = provider
        self.model = model
        self.status_code = status_code
        self.retry_after_s = retry_after_s if retry_after_s is not None else retry_after
        self.request_id = request_id
        self.provider_code = provider_code
        self.attempts = [a if isinstance(a, Attempt) else Attempt._from_dict(a) for a in (attempts or [])]

    @property
    def retry_after(self) -> Optional[float]:
        """``retry_after_s`` (seconds), under its earlier name."""
        return self.retry_after_s

    def __reduce__(self) -> Any:
        return (_restore, (type(self), self.args, self.__dict__))


def _restore(cls: Type[PolyfuseError], args: Tuple[Any, ...], state: Dict[str, Any]) -> PolyfuseError:
    err = cls.__new__(cls)
    Exception.__init__(err, *args)
    err.__dict__.update(state)
    return err


class RateLimitError(PolyfuseError):
    """The provider rate-limited the call (429); see ``retry_after_s``."""

    kind = "rate_limited"


class OverloadedError(PolyfuseError):
    """The provider is overloaded (503, 529)."""

    kind = "overloaded"


class ServerError(PolyfuseError):
    """The provider failed (5xx)."""

    kind = "server"


class TimeoutError(PolyfuseError, builtins.TimeoutError):
    """A deadline ran out (connect, first token, stream idle, attempt or total)."""

    kind = "timeout"


class ConnectionError(PolyfuseError, builtins.ConnectionError):
    """The connection failed, was reset, or a stream ended before it was complete."""

    kind = "connection"


class AuthenticationError(PolyfuseError):
    """The API key was rejected (401)."""

    kind = "authentication"


class PermissionDeniedError(PolyfuseError):
    """The key may not do this (403)."""

    kind = "permission"


class QuotaExceededError(PolyfuseError):
    """Billing or quota exhausted (e.g. 429 ``insufficient_quota``, 402); never retried."""

    kind = "quota"


class InvalidRequestError(PolyfuseError, ValueError):
    """The request is invalid (a bad argument or parameter, or the provider's 400/404/422)."""

    kind = "invalid_request"


class ContextWindowExceededError(InvalidRequestError):
    """The prompt does not fit the model's context window."""

    kind = "context_window_exceeded"


class ContentFilteredError(PolyfuseError):
    """The provider's content filter refused the request or the answer."""

    kind = "content_filtered"


class BudgetExceededError(PolyfuseError):
    """A polyfuse budget would be exceeded."""

    kind = "budget_exceeded"


class ConfigError(PolyfuseError, ValueError):
    """The configuration document or the client setup is wrong; the message names the key path."""

    kind = "config"


class CancelledError(PolyfuseError):
    """The call was cancelled."""

    kind = "cancelled"


class InvalidResponseError(PolyfuseError):
    """The provider answered with something polyfuse could not understand."""

    kind = "invalid_response"


class ResponseTooLargeError(PolyfuseError):
    """The provider sent more than a ``policy.limits`` allows (the message names the limit)."""

    kind = "response_too_large"


class AllAttemptsFailedError(PolyfuseError):
    """Every attempt of a routed call failed; see ``attempts``."""

    kind = "all_attempts_failed"


class InternalError(PolyfuseError, builtins.RuntimeError):
    """A bug in polyfuse (a caught Rust panic): please report it. Also a ``RuntimeError``."""

    kind = "internal"


_BY_KIND: Dict[str, Type[PolyfuseError]] = {
    cls.kind: cls
    for cls in (
        RateLimitError,
        OverloadedError,
        ServerError,
        TimeoutError,
        ConnectionError,
        AuthenticationError,
        PermissionDeniedError,
        QuotaExceededError,
        InvalidRequestError,
        ContextWindowExceededError,
        ContentFilteredError,
        BudgetExceededError,
        ConfigError,
        CancelledError,
        InvalidResponseError,
        ResponseTooLargeError,
        AllAttemptsFailedError,
        InternalError,
    )
}


def _from_native(text: str, **fields: Any) -> PolyfuseError:
    """Called by the native module to build the exception for a core error."""
    cls = _BY_KIND.get(fields.get("kind") or "", PolyfuseError)
    return cls(text, **fields)
