"""Redis Cluster through django-redis: a client class whose raw client is redis-py's RedisCluster.

django-redis ships no cluster client, and its ``DefaultClient`` works on a ``RedisCluster``
for every single-key command. Only the connection and the multi-key reads and writes that span
slots differ, so that is all this overrides::

    CACHES = {
        "cachefresh": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://10.0.0.1:7000/0",  # any node; the rest are discovered
            "OPTIONS": {
                "CLIENT_CLASS": "cachefresh.store.cluster.RedisClusterClient",
                "SOCKET_CONNECT_TIMEOUT": 0.2,
                "SOCKET_TIMEOUT": 0.2,
            },
        },
    }

Every command goes to the primary owning the key's slot (``read_from_replicas`` stays off):
cachefresh never validates or fills from a replica. The keys of one row share a hash tag, so
one row's entry, token and lock always live on one primary.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from django_redis.client import DefaultClient  # type: ignore[import-untyped]
from django_redis.exceptions import ConnectionInterrupted  # type: ignore[import-untyped]
from redis.cluster import RedisCluster
from redis.exceptions import RedisError


class RedisClusterClient(DefaultClient):  # type: ignore[misc]
    def connect(self, index: int = 0) -> RedisCluster:
        options = self._options
        kwargs: dict[str, Any] = {
            key.lower(): options[key]
            for key in ("SOCKET_TIMEOUT", "SOCKET_CONNECT_TIMEOUT", "USERNAME", "PASSWORD")
            if options.get(key)
        }
        kwargs.update(options.get("CLUSTER_KWARGS", {}))
        return RedisCluster.from_url(self._server[index], **kwargs)

    def get_many(
        self, keys: Collection[str], version: int | None = None, client: Any = None
    ) -> dict[str, Any]:
        client = client or self.get_client(write=True)
        full = {self.make_key(key, version=version): key for key in keys}
        if not full:
            return {}
        try:
            values = client.mget_nonatomic(list(full))
        except RedisError as exc:
            raise ConnectionInterrupted(connection=client) from exc
        return {
            full[key]: self.decode(value)
            for key, value in zip(full, values, strict=True)
            if value is not None
        }
