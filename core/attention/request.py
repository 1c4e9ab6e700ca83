"""What a request to the engine is: `Request`, a frozen dataclass that says what to compute (its
compared fields are its key) and how (`compute(engine)`), with optional hooks for a disk store;
`key_of`, how a field becomes part of a key. core.attention.engine answers requests;
core.requests holds the catalogue.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, ClassVar

from core.attention.result import AttentionResult

Engine = Any  # core.attention.engine.AttentionEngine (named, not imported: the engine imports this module)

Loading = Callable[[str], AbstractContextManager[Any]]  # a context entered while something slow happens (a spinner)


class _Same:
    """A key part for an unhashable object: equal only to itself, and holding it (so its id cannot
    be reused while a cache entry keyed by it lives)."""

    __slots__ = ("obj",)

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Same) and other.obj is self.obj

    def __hash__(self) -> int:
        return id(self.obj)


def key_of(value: Any) -> Hashable:
    """The key part of one request field: a request's own key, a result's identity (model, text,
    second text, token limit), tuples element by element, a hashable value itself, and any other
    object by identity (a finished run's counts)."""
    if isinstance(value, Request):
        return value.key
    if isinstance(value, AttentionResult):
        return ("result", value.model_id, value.text, value.text_pair, value.max_tokens)
    if isinstance(value, (tuple, list)):
        return tuple(key_of(v) for v in value)
    try:
        hash(value)
    except TypeError:
        return _Same(value)
    return value


@dataclass(frozen=True)
class Request:
    """What to compute, as a frozen dataclass; `AttentionEngine.get(request)` answers it.

    A subclass declares its inputs as fields and `compute(engine)`: everything it needs comes
    from its fields and from the engine (`engine.get(other request)`, `engine.loaded(model_id)`).
    Its key is its class and its compared fields (see `key_of`); fields that do not change the
    value (a progress callback, a spinner, a cancel event) are declared `field(compare=False)`.
    `cache` names the engine's bounded cache that holds its values: "derived" (things computed
    from a result), "results", or "runs" (corpus and probing runs and what is derived from them).
    A kind with a disk store overrides `load` (a stored value, or None) and `save`; `keep(value)`
    False leaves a value out of memory (a cancelled run is not the answer to its request).
    """

    cache: ClassVar[str] = "derived"

    @property
    def key(self) -> Hashable:
        parts = tuple(key_of(getattr(self, f.name)) for f in dataclasses.fields(self) if f.compare)
        return (type(self).__module__, type(self).__qualname__, *parts)

    def compute(self, engine: Engine) -> Any:
        raise NotImplementedError

    def load(self, engine: Engine) -> Any | None:
        return None

    def save(self, engine: Engine, value: Any) -> None:
        return None

    def keep(self, value: Any) -> bool:
        return True
