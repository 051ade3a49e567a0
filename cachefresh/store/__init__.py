"""The store facade: every cache call of cachefresh passes through :class:`GuardedStore`.

The cache is an optimisation, so its failures stop here: a failed read is a miss, a failed fill
is dropped, and a failed retirement (an invalidation) is kept in an outbox and replayed from a
background thread until the cache takes it. A circuit breaker makes callers pay a cache timeout
at most once per ``RETRY_INTERVAL`` while the cache is unreachable.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ParamSpec, TypeVar

from django.core.cache import caches

from cachefresh.conf import get_settings
from cachefresh.store.base import Store
from cachefresh.store.redis import RedisStore, raw_client

logger = logging.getLogger("cachefresh")

P = ParamSpec("P")
R = TypeVar("R")


class Outbox:
    """Retirements the cache has not taken yet, replayed until it does."""

    def __init__(self, store: Store, breaker: Breaker, interval: float) -> None:
        self.store = store
        self.breaker = breaker
        self.interval = interval
        self.pending: set[str] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, keys: Sequence[str]) -> None:
        with self._lock:
            self.pending.update(keys)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._replay, name="cachefresh-outbox", daemon=True
                )
                self._thread.start()

    def _replay(self) -> None:
        while True:
            time.sleep(self.interval)
            with self._lock:
                keys = list(self.pending)
            if not keys:
                return
            try:
                self.store.retire(keys)
            except Exception as exc:
                logger.debug("cachefresh: cache still unreachable, %d retirements held: %s",
                             len(keys), exc)
                continue
            with self._lock:
                self.pending.difference_update(keys)
            self.breaker.close()
            logger.warning("cachefresh: cache reachable again, replayed %d retirements", len(keys))


class Breaker:
    def __init__(self, retry_interval: float) -> None:
        self.retry_interval = retry_interval
        self.open_until = 0.0

    def allows(self) -> bool:
        return time.monotonic() >= self.open_until

    def trip(self, exc: BaseException) -> None:
        if self.allows():
            logger.warning(
                "cachefresh: cache unreachable (%s: %s); reading from the database for %.1fs",
                type(exc).__name__, exc, self.retry_interval,
            )
        self.open_until = time.monotonic() + self.retry_interval

    def close(self) -> None:
        self.open_until = 0.0


def _guarded(default: Any) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Turn a store call into ``default`` when the cache fails or the breaker is open."""

    def decorate(method: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(method)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            self: GuardedStore = args[0]  # type: ignore[assignment]
            if not self.breaker.allows():
                return default  # type: ignore[no-any-return]
            try:
                return method(*args, **kwargs)
            except Exception as exc:
                self.breaker.trip(exc)
                return default  # type: ignore[no-any-return]

        return wrapper

    return decorate


class GuardedStore:
    def __init__(self, store: Store, retry_interval: float) -> None:
        self.store = store
        self.breaker = Breaker(retry_interval)
        self.outbox = Outbox(store, self.breaker, min(retry_interval, 0.25))

    @_guarded(None)
    def get_many(self, keys: Sequence[str]) -> list[Any] | None:
        return self.store.get_many(keys)

    @_guarded(None)
    def ensure_tokens(self, keys: Sequence[str]) -> list[bytes] | None:
        return self.store.ensure_tokens(keys)

    @_guarded(False)
    def try_lock(self, key: str, ttl: float) -> bool:
        return self.store.try_lock(key, ttl)

    @_guarded(None)
    def fill(self, entries: Mapping[str, bytes], unlock: Sequence[str]) -> None:
        self.store.fill(entries, unlock)

    def retire(self, keys: Sequence[str]) -> None:
        if not keys:
            return
        if self.breaker.allows():
            try:
                self.store.retire(keys)
                return
            except Exception as exc:
                self.breaker.trip(exc)
        self.outbox.add(keys)

    def is_pending(self, key: str) -> bool:
        """Whether a retirement of ``key`` is still waiting in the outbox."""
        return bool(self.outbox.pending) and key in self.outbox.pending


_store: GuardedStore | None = None


def get_store() -> GuardedStore:
    global _store
    if _store is None:
        conf = get_settings()
        cache = caches[conf.cache_alias]
        client = raw_client(cache)
        store = (
            RedisStore(cache, conf.timeout, client)
            if client is not None
            else Store(cache, conf.timeout)
        )
        _store = GuardedStore(store, conf.retry_interval)
    return _store


def reset() -> None:
    global _store
    _store = None
