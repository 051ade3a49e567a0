"""Tiers: where a lookup finds entries. The shared cache (the store) is always there; a local
tier may stand in front of it, holding decoded rows in this process.

The entry protocol (:mod:`cachefresh.entries`) knows this interface, not what implements it. A
local tier must keep only rows that no invalidation has overtaken: it marks the rows it wants
*before* the shared read is sent (:meth:`LocalTier.begin`), reads through a connection the cache
tells of later changes (:meth:`LocalTier.read`), and keeps a validated row only if nothing
killed its mark meanwhile (:meth:`LocalTier.keep`). ``CACHEFRESH["NEAR_CACHE"]``
(:mod:`cachefresh.near`) is the one implementation; it registers itself with :func:`provide`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from cachefresh.store import GuardedStore


class LocalTier(Protocol):
    #: The events a lookup counts for rows this tier served and rows it had to ask for.
    hit_event: str
    miss_event: str

    def get(self, entry: str) -> list[Any] | None:
        """The row held under ``entry``, or ``None`` (not held, or not serving)."""

    def get_many(self, entries: Sequence[str]) -> list[list[Any] | None] | None:
        """The rows held under ``entries`` (``None`` where not held); ``None`` when the tier
        must not serve at all (then nothing read now may be kept either)."""

    def begin(self, wanted: Sequence[tuple[str, str, str]]) -> Any | None:
        """Mark fills of ``(entry, row token, table generation)`` keys before the shared read
        is sent; ``None``: keep nothing read now."""

    def read(self, store: GuardedStore, keys: Sequence[str]) -> list[Any] | None:
        """The shared read of ``keys``, made so that this tier hears of their later changes."""

    def keep(self, fill: Any, position: int, values: list[Any]) -> None:
        """Keep the validated row of the ``position``-th fill of ``fill`` if its mark lives."""

    def end(self, fill: Any) -> None:
        """The fills of ``fill`` are over, kept or not."""

    def retire(self, keys: Iterable[str]) -> None:
        """A write of this process retired these keys: drop what depends on them now."""


_provider: Callable[[], LocalTier | None] | None = None


def provide(provider: Callable[[], LocalTier | None]) -> None:
    """Register what :func:`local` asks: the local tier of this process, if one runs."""
    global _provider
    _provider = provider


def local() -> LocalTier | None:
    """The local tier in front of the shared cache, or ``None``."""
    provider = _provider
    return None if provider is None else provider()
