"""A Redis primary found through Sentinel, with django-redis's Sentinel support::

    CACHES = {
        "cachefresh": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://mymaster/0",  # the service name Sentinel monitors
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.SentinelClient",
                "CONNECTION_FACTORY": "django_redis.pool.SentinelConnectionFactory",
                "SENTINELS": [("10.0.0.1", 26379), ("10.0.0.2", 26379), ("10.0.0.3", 26379)],
                "SOCKET_CONNECT_TIMEOUT": 0.2,
                "SOCKET_TIMEOUT": 0.2,
            },
        },
    }

The protocol is :class:`RedisStore`'s on the primary's client: each new connection asks the
Sentinels where the primary is, so after a failover the next connection reaches the promoted
replica (the failed calls in between are a cache outage: the breaker and the outbox). A
retirement the dead primary acknowledged but never replicated is lost with it, unless
``CACHEFRESH['WAIT_FOR_REPLICAS']`` made it wait for a replica (docs/guarantees.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlparse

from django import conf as django_conf
from django.core.cache.backends.base import BaseCache
from redis.sentinel import SentinelConnectionPool

from cachefresh.store.redis import RedisStore, raw_client

CLIENT = "django_redis.client.SentinelClient"
FACTORY = "django_redis.pool.SentinelConnectionFactory"


class SentinelStore(RedisStore):
    """The primary of a Sentinel-monitored Redis, followed across failovers."""

    kind = "Redis Sentinel"

    @classmethod
    def serves(cls, cache: BaseCache) -> bool:
        client = raw_client(cache)
        return client is not None and isinstance(client.connection_pool, SentinelConnectionPool)


def setup_problems(alias: str, config: Mapping[str, Any]) -> list[str]:
    """What is wrong with the ``CACHES`` entry ``config`` as a Sentinel setup, in words."""
    options = config.get("OPTIONS") or {}
    factory = options.get("CONNECTION_FACTORY") or getattr(
        django_conf.settings, "DJANGO_REDIS_CONNECTION_FACTORY", None
    )
    client = options.get("CLIENT_CLASS")
    if factory != FACTORY:
        if client == CLIENT:
            return [
                f"CACHES[{alias!r}] uses {CLIENT} without "
                f"OPTIONS['CONNECTION_FACTORY'] = {FACTORY!r}: django-redis cannot connect."
            ]
        return []
    problems = []
    sentinels = options.get("SENTINELS")
    if not _addresses(sentinels):
        problems.append(
            f"CACHES[{alias!r}]['OPTIONS']['SENTINELS'] must list the Sentinels as "
            f"(host, port) pairs, not {sentinels!r}."
        )
    # SentinelClient sets is_master itself; any other client writes through the first location.
    locations = config.get("LOCATION")
    first = locations if isinstance(locations, str) else (locations or [""])[0]
    is_master = parse_qs(urlparse(str(first)).query).get("is_master", ["1"])[0]
    if client != CLIENT and is_master.lower() in ("0", "false", "no", "off"):
        problems.append(
            f"CACHES[{alias!r}]['LOCATION'] {first!r} names the replicas (is_master=0): "
            "cachefresh validates and fills on the primary only."
        )
    return problems


def _addresses(sentinels: Any) -> bool:
    if isinstance(sentinels, str) or not isinstance(sentinels, list | tuple) or not sentinels:
        return False
    return all(
        isinstance(each, list | tuple)
        and len(each) == 2
        and isinstance(each[0], str)
        and isinstance(each[1], int)
        for each in sentinels
    )
