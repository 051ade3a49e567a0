"""The near cache (``CACHEFRESH["NEAR_CACHE"]``): decoded rows in this process, kept fresh by
Redis pushing invalidations (:mod:`cachefresh.near.tracking`) into the tier
(:mod:`cachefresh.near.tier`).

:func:`current` is what the entry protocol asks on every lookup; it is ``None`` when the near
cache is off, and costs one global read when it is on. The tier and its listener thread start
with the first lookup of a process, and again in a forked child (whose parent's thread did
not come along).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, cast

from cachefresh import tiers
from cachefresh.conf import get_settings
from cachefresh.near.tier import Link, Marker, NearTier
from cachefresh.near.tracking import CLIENT_NAME, STATS_NAME, Tracker
from cachefresh.store import GuardedStore, get_store
from cachefresh.store.redis import RedisStore

if TYPE_CHECKING:
    from cachefresh.near.cluster import ClusterTracking

logger = logging.getLogger("cachefresh")

__all__ = ["CLIENT_NAME", "STATS_NAME", "Marker", "NearCache", "current", "reset"]


class NearCache:
    """The tier, its tracker, and the mapping from cachefresh's keys to full Redis keys: the
    local tier (:class:`cachefresh.tiers.LocalTier`) in front of Redis."""

    hit_event = "near_hit"
    miss_event = "near_miss"

    def __init__(self, store: RedisStore, max_entries: int, max_lag: float) -> None:
        self.full_key = store.make_key
        self.tier = NearTier(max_entries, max_lag, ttl=store.timeout)
        conf = get_settings()
        name = CLIENT_NAME + conf.key_prefix
        self.tracker: Tracker | ClusterTracking
        if store.pushes_per_node:
            from cachefresh.near.cluster import ClusterTracking

            self.tracker = ClusterTracking(self.tier, store.client, conf.retry_interval, name)
        else:
            link = Link("redis")
            self.tier.links.append(link)
            self.tracker = Tracker(self.tier, store.client, conf.retry_interval, name, link)
        # The tier's own methods answer reads (held rows are keyed by cachefresh's keys).
        self.get = self.tier.get
        self.get_many = self.tier.get_many

    def begin(self, wanted: Sequence[tuple[str, str, str]]) -> list[Marker] | None:
        full_key, links_of = self.full_key, self.tracker.links_of
        deps = [
            (entry, (full_key(token), full_key(generation))) for entry, token, generation in wanted
        ]
        return self.tier.begin((entry, keys, links_of(*keys)) for entry, keys in deps)

    def read(self, store: GuardedStore, keys: Sequence[str]) -> list[Any] | None:
        """Read ``keys`` on a tracked connection: what is read here will be invalidated."""
        return store.get_many(keys, reader=self._tracked_read)

    def _tracked_read(self, keys: Sequence[str]) -> list[Any]:
        full_key = self.full_key
        return self.tracker.read([full_key(key) for key in keys])

    def keep(self, fill: list[Marker], position: int, values: list[Any]) -> None:
        self.tier.keep(fill[position], values)

    def end(self, fill: list[Marker]) -> None:
        self.tier.abandon(fill)

    def retire(self, keys: Iterable[str]) -> None:
        """A write of this process retired these keys: drop what depends on them now."""
        full_key = self.full_key
        self.tier.invalidate([full_key(key) for key in keys])

    def wait_serving(self, timeout: float) -> bool:
        """Whether tracking came up within ``timeout`` seconds (for tests and benchmarks)."""
        deadline = time.monotonic() + timeout
        while not self.tier.serving():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True


_UNSET: Any = object()
_near: Any = _UNSET
_lock = threading.Lock()


def current() -> NearCache | None:
    near = _near
    return _start() if near is _UNSET else near


def _start() -> NearCache | None:
    global _near
    with _lock:
        if _near is not _UNSET:
            return _near  # type: ignore[no-any-return]
        conf = get_settings()
        near: NearCache | None = None
        if conf.near_cache is not None:
            store = get_store().store
            if store.pushes_invalidations:
                near = NearCache(
                    cast(RedisStore, store), conf.near_cache.max_entries, conf.near_cache.max_lag
                )
                near.tracker.start()
            else:
                # The system check (cachefresh.E006) says so at start-up; never serve unpushed.
                logger.error("cachefresh: NEAR_CACHE needs a Redis cache; off")
        _near = near
        return near


def reset() -> None:
    """Stop the listener and forget the tier (the settings changed)."""
    global _near
    with _lock:
        near, _near = _near, _UNSET
    if near is not _UNSET and near is not None:
        near.tracker.stop()


def _forget_in_child() -> None:
    # The child has no listener thread: the parent's rows would never be invalidated there.
    global _near, _lock
    _near = _UNSET
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_in_child)


tiers.provide(current)
