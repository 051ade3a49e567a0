"""Wrapping methods of Django's classes, once per process, and telling when a wrap is gone."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Wrap = Callable[[Callable[..., Any]], Callable[..., Any]]

#: How many times any hooks were installed: what was checked intact stays comparable until
#: this moves (:mod:`cachefresh.hooks` checks every wrapper of every class in one loop).
installs = 0


class MethodHooks:
    """Wrappers of some methods of one class: each installed at most once, each checkable."""

    def __init__(self, owner: type, wraps: dict[str, Wrap]) -> None:
        self.owner = owner
        self.wraps = wraps
        self.installed: dict[str, Callable[..., Any]] = {}
        self._expected: tuple[tuple[str, Callable[..., Any]], ...] = ()

    def install(self) -> None:
        global installs
        for name, wrap in self.wraps.items():
            current = getattr(self.owner, name)
            if self.installed.get(name) is not current:
                self.installed[name] = wrap(current)
                setattr(self.owner, name, self.installed[name])
        self._expected = tuple(self.installed.items())
        installs += 1

    def expected(self) -> tuple[tuple[type, str, Callable[..., Any]], ...]:
        """``(class, name, wrapper)`` of each wrapper installed."""
        return tuple((self.owner, name, installed) for name, installed in self._expected)

    def intact(self) -> bool:
        """Whether every wrapper is still in place: a few attribute reads, for every cached read."""
        owner = self.owner
        for name, installed in self._expected:
            if getattr(owner, name) is not installed:
                return False
        return len(self._expected) == len(self.wraps)

    def replacements(self) -> list[str]:
        """Where each replacement of a wrapper comes from (``module.qualname``): what to look
        for in the project."""
        found = []
        for name in self.wraps:
            current = getattr(self.owner, name)
            if current is not self.installed.get(name):
                module = getattr(current, "__module__", None) or "?"
                found.append(f"{module}.{getattr(current, '__qualname__', name)}")
        return found

    def missing(self) -> list[str]:
        """The methods whose wrapper something else replaced since :meth:`install`."""
        return [
            f"{self.owner.__name__}.{name}"
            for name in self.wraps
            if getattr(self.owner, name) is not self.installed.get(name)
        ]
