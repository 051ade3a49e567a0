"""Which exceptions mean "the cache failed", as opposed to a bug of ours.

Only these are absorbed by the store facade (a miss, a dropped fill, a retirement held in the
outbox). Anything else is a programming error and propagates: turning it into a silent
database pass-through would hide it.
"""

from __future__ import annotations

import functools
import importlib


def _optional(module: str, name: str) -> list[type[BaseException]]:
    try:
        found = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return []
    return [found]


class NotReplicated(Exception):
    """Redis ``WAIT`` timed out before ``CACHEFRESH['WAIT_FOR_REPLICAS']`` replicas held a
    retirement: the primary has it, but a replica promoted now might not. A cache failure like
    any other: the retirement is held and replayed, and the breaker opens."""


@functools.cache
def cache_errors() -> tuple[type[BaseException], ...]:
    """Failures of the cache clients cachefresh can sit on: connections, timeouts, protocol."""
    return tuple(
        [
            NotReplicated,
            # Sockets refused, reset or timed out (ConnectionError, TimeoutError and the
            # socket errors of memcached clients are all OSErrors).
            OSError,
            *_optional("redis.exceptions", "RedisError"),
            *_optional("django_redis.exceptions", "ConnectionInterrupted"),
            *_optional("pymemcache.exceptions", "MemcacheError"),
            *_optional("pylibmc", "Error"),
        ]
    )
