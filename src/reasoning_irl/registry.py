"""A small name -> object registry.

Everything researchers swap (datasets, habits, probes, rewards, perturbations, losses, advantage estimators, selectors,
metrics) lives in one of these, and every one is added the same way: a function with one
``@REGISTRY.register("name")`` line above it. A registry whose entries hold more than the function (a metric's
summary key, a dataset's config class) builds them from that line's keyword fields, e.g.
``@METRICS.register("pass@k", key="pass@{k}")``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, Optional, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """Raised for a name that is not registered; the message lists the valid names."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain.
        return str(self.args[0])


def wrapped_in(cls: Callable[..., T]) -> Callable[..., T]:
    """A registry ``entry`` that stores ``cls(function, **fields)``: the decorated function as the first field of a
    dataclass, the decorator's keyword fields as the others."""

    def entry(name: str, function: Any, **fields: Any) -> T:
        return cls(function, **fields)

    return entry


class Registry(Generic[T]):
    def __init__(self, kind: str, entry: Optional[Callable[..., T]] = None):
        """``entry(name, obj, **fields)`` builds what is stored from what :meth:`register` decorates and the
        decorator's keyword fields; without one, the decorated object itself is stored."""
        self.kind = kind
        self._entry = entry
        self._items: dict[str, T] = {}
        self._opt_in: set[str] = set()

    def register(self, name: str, opt_in: bool = False, **fields: Any) -> Callable[[Any], Any]:
        """Decorator: register what it decorates as ``name`` and return it unchanged. An ``opt_in`` entry is valid
        wherever a name is asked for but left out of :meth:`registered`, so a config default meaning "all of them"
        (and every result it gave) stays as it was."""
        if fields and self._entry is None:
            raise TypeError(f"a {self.kind} is registered without fields, got {', '.join(sorted(fields))}")

        def decorator(obj: Any) -> Any:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._items[name] = obj if self._entry is None else self._entry(name, obj, **fields)
            if opt_in:
                self._opt_in.add(name)
            return obj

        return decorator

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}; choose one of: {', '.join(sorted(self._items))}"
            ) from None

    def remove(self, name: str) -> T:
        """Unregister ``name`` (a variant registered for a while, e.g. by a test); returns its object."""
        self.get(name)  # the usual error for an unknown name
        self._opt_in.discard(name)
        return self._items.pop(name)

    def items(self) -> list[tuple[str, T]]:
        """(name, object) pairs in registration order (where order matters, e.g. the rows of a table)."""
        return list(self._items.items())

    def names(self) -> list[str]:
        return sorted(self._items)

    def registered(self) -> list[str]:
        """Names in registration order, opt-in ones left out: a config default meaning "all of them" keeps the
        order the module defines."""
        return [name for name in self._items if name not in self._opt_in]

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)
