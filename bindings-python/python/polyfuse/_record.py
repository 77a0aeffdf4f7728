"""Frozen dataclasses whose processing waits until the class is first used, so that
``import polyfuse`` does not pay for turning its 28 result types into dataclasses (nor for
importing ``dataclasses`` and ``inspect``): about 20 ms of the import, paid instead a few
milliseconds at a time by the first instance of each type.

A class is processed (``dataclasses.dataclass(frozen=True)``, exactly as if it had been written
so) the first time an instance is made (``__init__``, or ``_types._build``), compared, hashed or
printed, or a dataclass attribute is looked up on it: ``dataclasses.fields``, ``asdict``,
``is_dataclass``, ``replace`` and positional ``match`` patterns all see a normal dataclass. Type
checkers see ``@dataclass(frozen=True)`` (``_types.py`` imports the real one for them)."""

from __future__ import annotations

import threading
from typing import Any, Callable, Dict, TypeVar

_T = TypeVar("_T")
_lock = threading.RLock()


class _Field:
    """``dataclasses.field(...)``'s arguments, until the class is processed."""

    __slots__ = ("kwargs",)

    def __init__(self, kwargs: Dict[str, Any]) -> None:
        self.kwargs = kwargs


def field(**kwargs: Any) -> Any:
    return _Field(kwargs)


def dataclass(frozen: bool) -> Callable[[_T], _T]:
    """``@dataclass(frozen=True)``, processed on first use (the class must derive from ``Record``)."""
    if not frozen:
        raise ValueError("polyfuse._record: only frozen dataclasses are deferred")
    return lambda cls: cls


def ready(cls: type) -> None:
    """Processes ``cls`` now as a frozen dataclass (once; thread-safe)."""
    if "__dataclass_fields__" in cls.__dict__:
        return
    with _lock:
        if "__dataclass_fields__" in cls.__dict__:
            return
        import dataclasses

        for name, value in list(cls.__dict__.items()):
            if isinstance(value, _Field):
                setattr(cls, name, dataclasses.field(**value.kwargs))
        dataclasses.dataclass(frozen=True)(cls)


class _Deferred(type):
    def __getattr__(cls, name: str) -> Any:
        # Only reached when the attribute is missing: a dataclass attribute of a class not
        # processed yet. `Record` itself is never processed (dataclass() looks its bases' fields
        # up: a processed base would lend its empty fields to every class not processed yet).
        if (name.startswith("__dataclass_") or name == "__match_args__") and cls is not Record:
            ready(cls)
            if name in cls.__dict__:
                return cls.__dict__[name]
        raise AttributeError(f"type object {cls.__name__!r} has no attribute {name!r}")


class Record(metaclass=_Deferred):
    """The base of the deferred dataclasses. Processing a class gives it its own ``__init__``,
    ``__repr__``, ``__eq__``, ``__hash__``, ``__setattr__`` and ``__delattr__``; until then these
    stand-ins process it and call the real ones."""

    __slots__ = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        ready(type(self))
        type(self).__init__(self, *args, **kwargs)

    def __repr__(self) -> str:
        ready(type(self))
        return type(self).__repr__(self)

    def __eq__(self, other: object) -> bool:
        ready(type(self))
        return type(self).__eq__(self, other)

    def __hash__(self) -> int:
        ready(type(self))
        return type(self).__hash__(self)
