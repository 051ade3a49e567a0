"""The few cache operations the protocol needs, on Django's cache API.

Works on any Django cache backend. Subclasses override single methods with faster paths
for a particular server, as Django's own cache backends do with ``BaseCache``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from django.core.cache.backends.base import BaseCache

from cachefresh.codec import TOKEN_SIZE


def new_token() -> bytes:
    # os.urandom, not random: forked workers share the random module's state.
    return os.urandom(TOKEN_SIZE)


def is_token(value: Any) -> bool:
    return type(value) is bytes and len(value) == TOKEN_SIZE


class Store:
    """Any Django cache: the protocol's operations on the cache API alone."""

    #: Whether the server tells a connection when a key it read changes (Redis client
    #: tracking): what the near cache needs to hold rows in the process.
    pushes_invalidations: ClassVar[bool] = False
    #: Whether each node pushes invalidations of its own keys only (a cluster), so that one
    #: tracking connection does not cover the cache.
    pushes_per_node: ClassVar[bool] = False
    #: What kind of cache this is, as checks and reports name it.
    kind: ClassVar[str] = "Django cache"
    #: Whether a retirement can wait until replicas hold it (``WAIT_FOR_REPLICAS``).
    waits_for_replicas: ClassVar[bool] = False

    def __init__(self, cache: BaseCache, timeout: int) -> None:
        self.cache = cache
        self.timeout = timeout
        #: Replicas each retirement waits for (``CACHEFRESH['WAIT_FOR_REPLICAS']``).
        self.replicas = 0

    @classmethod
    def serves(cls, cache: BaseCache) -> bool:
        """Whether this store runs the protocol on ``cache`` (the first that does is used)."""
        return True

    @classmethod
    def create(cls, cache: BaseCache, timeout: int) -> Store:
        return cls(cache, timeout)

    def get_many(self, keys: Sequence[str]) -> list[Any]:
        """The values under ``keys``, in order, ``None`` where absent: one round trip."""
        found = self.cache.get_many(keys)
        return [found.get(key) for key in keys]

    def ensure_tokens(self, keys: Sequence[str]) -> list[bytes]:
        """The token under each key, creating a fresh one where there is none (or garbage)."""
        current = self.get_many(keys)
        for index, key in enumerate(keys):
            if is_token(current[index]):
                continue
            token = new_token()
            if self.cache.add(key, token, self.timeout):
                current[index] = token
                continue
            raced = self.cache.get(key)
            if not is_token(raced):
                # Replacing garbage with a fresh token only ever retires entries: safe.
                self.cache.set(key, token, self.timeout)
                raced = token
            current[index] = raced
        return current

    def begin_fill(
        self, token_keys: Sequence[str], lock_key: str, ttl: float, entry_key: str
    ) -> tuple[list[bytes], bool, Any]:
        """A fill's first steps: its tokens, its lock, and the entry as it is once locked.

        The entry is read after the lock is taken: a fill that landed since the caller's miss
        is served instead of repeated. Backends that can send the three at once override this.
        """
        tokens = self.ensure_tokens(token_keys)
        locked = self.try_lock(lock_key, ttl)
        entry = self.get_many([entry_key])[0] if locked else None
        return tokens, locked, entry

    def try_lock(self, key: str, ttl: float) -> bool:
        return bool(self.cache.add(key, b"1", ttl))

    def fill(self, entries: Mapping[str, bytes], unlock: Sequence[str]) -> None:
        """Store entries and release fill locks."""
        if entries:
            self.cache.set_many(dict(entries), self.timeout)
        if unlock:
            self.cache.delete_many(unlock)

    def retire(self, keys: Sequence[str]) -> None:
        """Delete tokens or generations: every entry that depended on them stops matching."""
        if keys:
            self.cache.delete_many(keys)

    def add_counters(self, deltas: Mapping[str, int], ttl: int) -> None:
        """Add to shared integer counters, each living ``ttl`` seconds after its last add."""
        cache = self.cache
        for key, count in deltas.items():
            if cache.add(key, count, ttl):
                continue
            try:
                cache.incr(key, count)
                cache.touch(key, ttl)
            except ValueError:  # expired between add and incr
                cache.set(key, count, ttl)

    def clear(self, keys: Sequence[str]) -> None:
        """Delete keys that are not part of the protocol (counters)."""
        self.cache.delete_many(keys)

    def connections_named(self, name: str) -> int | None:
        """How many connections to the cache carry ``name``; ``None`` where it cannot say."""
        return None
