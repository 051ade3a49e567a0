"""The store facade: every cache call of cachefresh passes through :class:`GuardedStore`.

The cache is an optimisation, so its failures stop here: a failed read is a miss, a failed fill
is dropped, and a failed retirement (an invalidation) waits in the :class:`Outbox`, which
replays it from a background thread until the cache takes it. A :class:`Breaker` makes callers
pay a cache timeout at most once per ``RETRY_INTERVAL`` while the cache is unreachable.
Only the cache client's own failures (:func:`cache_errors`) are absorbed; any other exception
is a bug and reaches the caller.
"""

from __future__ import annotations

import atexit
import functools
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ParamSpec, TypeVar

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from cachefresh.conf import get_settings
from cachefresh.store.base import Store
from cachefresh.store.breaker import Breaker
from cachefresh.store.errors import cache_errors
from cachefresh.store.outbox import Outbox

P = ParamSpec("P")
R = TypeVar("R")

#: The outbox retries at least this often, so a cache that is back is caught up quickly even
#: with a long RETRY_INTERVAL.
MAX_REPLAY_INTERVAL = 0.25

_NONE: frozenset[str] = frozenset()


def _guarded(default: Any) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Turn a store call into ``default`` when the cache fails or the breaker is open."""

    def decorate(method: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(method)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            breaker = args[0].breaker  # type: ignore[attr-defined]
            if breaker.failing and not breaker.allows():  # no call while the cache is healthy
                return default  # type: ignore[no-any-return]
            try:
                result = method(*args, **kwargs)
            except cache_errors() as exc:
                breaker.trip(exc)
                return default  # type: ignore[no-any-return]
            if breaker.failing:
                breaker.close()  # this call was the probe, and it got through
            return result

        return wrapper

    return decorate


class GuardedStore:
    def __init__(self, store: Store, retry_interval: float) -> None:
        self.store = store
        self.breaker = Breaker(retry_interval)
        self.outbox = Outbox(store.retire, self.breaker, min(retry_interval, MAX_REPLAY_INTERVAL))

    @_guarded(None)
    def get_many(
        self, keys: Sequence[str], reader: Callable[[Sequence[str]], list[Any]] | None = None
    ) -> list[Any] | None:
        """The values under ``keys``; ``reader`` reads them instead of the store's own client,
        from the same cache on a connection of its own (a local tier's, which the cache tells
        of later changes)."""
        outbox = self.outbox
        # An undelivered retirement: in this process the key is already gone, so the writer
        # never reads its own write stale while the outbox catches up.
        before = outbox.held() if outbox.pending or outbox.sending else _NONE
        found = self.store.get_many(keys) if reader is None else reader(keys)
        if before or outbox.pending or outbox.sending:  # bool(outbox), without a call
            found = outbox.masked(keys, found, before)
        return found

    @_guarded(None)
    def ensure_tokens(self, keys: Sequence[str]) -> list[bytes] | None:
        return self.store.ensure_tokens(keys)

    @_guarded(None)
    def begin_fill(
        self, token_keys: Sequence[str], lock_key: str, ttl: float, entry_key: str
    ) -> tuple[list[bytes], bool, Any] | None:
        return self.store.begin_fill(token_keys, lock_key, ttl, entry_key)

    @_guarded(None)
    def fill(self, entries: Mapping[str, bytes], unlock: Sequence[str]) -> None:
        self.store.fill(entries, unlock)

    def retire(self, keys: Sequence[str]) -> None:
        if not keys:
            return
        if self.breaker.allows():
            try:
                self.store.retire(keys)
            except cache_errors() as exc:
                self.breaker.trip(exc)
            else:
                self.breaker.close()
                return
        self.outbox.add(keys)

    @_guarded(False)
    def add_counters(self, deltas: Mapping[str, int], ttl: int) -> bool:
        """Add to shared counters; ``False`` when the cache did not take them (try again)."""
        self.store.add_counters(deltas, ttl)
        return True

    def is_pending(self, key: str) -> bool:
        """Whether a retirement of ``key`` is still waiting in the outbox."""
        return bool(self.outbox) and self.outbox.holds(key)

    def close(self) -> None:
        self.outbox.stop()


#: The stores, most particular first: the first whose ``serves()`` accepts the cache runs the
#: protocol on it. A new backend is a module under ``store/`` and a line here.
BACKENDS = (
    "cachefresh.store.cluster.ClusterStore",
    "cachefresh.store.sentinel.SentinelStore",
    "cachefresh.store.redis.RedisStore",
    "cachefresh.store.base.Store",
)


def store_class(cache: BaseCache) -> type[Store]:
    """The store that runs the protocol on ``cache``."""
    for path in BACKENDS:
        try:
            found: type[Store] = import_string(path)
        except ModuleNotFoundError as exc:
            if (exc.name or "").startswith("cachefresh"):
                raise  # a bug of ours, not a client library that is not installed
            continue
        if found.serves(cache):
            return found
    raise AssertionError("the generic Store serves every cache")


def setup_problems(alias: str) -> list[str]:
    """What is wrong with ``CACHES[alias]`` for the store that would serve it (a Sentinel
    setup django-redis would refuse on the first call), read from the settings alone."""
    try:
        from cachefresh.store.sentinel import setup_problems as sentinel_problems
    except ModuleNotFoundError as exc:
        if (exc.name or "").startswith("cachefresh"):
            raise
        return []  # no redis client installed: no Sentinel setup to judge
    # Typed loosely: django-stubs infers CACHES' shape from whichever settings module it reads.
    config: Any = settings.CACHES[alias]
    return sentinel_problems(alias, config)


_store: GuardedStore | None = None


def get_store() -> GuardedStore:
    global _store
    if _store is None:
        conf = get_settings()
        cache = caches[conf.cache_alias]
        store = store_class(cache).create(cache, conf.timeout)
        if conf.wait_for_replicas:
            if not store.waits_for_replicas:
                raise ImproperlyConfigured(
                    f"CACHEFRESH['WAIT_FOR_REPLICAS'] needs a Redis cache; {conf.cache_alias!r} "
                    f"is a {store.kind} (check cachefresh.E009)."
                )
            store.replicas = conf.wait_for_replicas
        _store = GuardedStore(store, conf.retry_interval)
    return _store


def reset() -> None:
    global _store
    if _store is not None:
        _store.close()
    _store = None


def _deliver_at_exit() -> None:
    # The outbox thread is a daemon and dies with the interpreter: give what it holds one
    # last chance, bounded by the cache's socket timeout.
    if _store is not None:
        _store.outbox.deliver_now()


atexit.register(_deliver_at_exit)


def _forget_in_child() -> None:
    # A forked worker has no outbox thread and must not share the parent's breaker state;
    # the parent still delivers what it holds.
    global _store
    _store = None


os.register_at_fork(after_in_child=_forget_in_child)
