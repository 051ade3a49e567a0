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

cachefresh's own commands go through :class:`ClusterStore`, which sends one plain pipeline per
primary. Every command goes to the primary owning the key's slot (``read_from_replicas`` stays off):
cachefresh never validates or fills from a replica. The keys of one row share a hash tag, so
one row's entry, token and lock always live on one primary.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from django_redis.client import DefaultClient  # type: ignore[import-untyped]
from django_redis.exceptions import ConnectionInterrupted  # type: ignore[import-untyped]
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.exceptions import RedisError
from redis.retry import Retry

from cachefresh.store.redis import RedisStore, raw_client, refuses_tracking


class RedisClusterClient(DefaultClient):  # type: ignore[misc]
    def connect(self, index: int = 0) -> RedisCluster:
        options = self._options
        kwargs: dict[str, Any] = {
            key.lower(): options[key]
            for key in ("SOCKET_TIMEOUT", "SOCKET_CONNECT_TIMEOUT", "USERNAME", "PASSWORD")
            if options.get(key)
        }
        # redis-py retries a timed-out cluster command with backoff (23 s for one call with a
        # master stopped, measured): fail at once instead, and let cachefresh's breaker retry.
        kwargs["retry"] = Retry(NoBackoff(), 0)
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


class ClusterStore(RedisStore):
    """The Redis fast paths on a cluster: one pipeline per primary, failing fast.

    redis-py's ``ClusterPipeline`` re-sends the commands of a failed pipeline one at a time, so
    a stopped master cost one call 0.2 s per key (3 s for 30 rows, measured); here a failing
    primary costs one timeout and the breaker takes over. After any failure the slot map is
    reloaded before the next call, which follows a failover or a resharding.
    """

    # Each node pushes invalidations of its own keys only: the near cache tracks every primary
    # (cachefresh.near.cluster).
    pushes_invalidations = True
    pushes_per_node = True
    kind = "Redis Cluster"

    @classmethod
    def serves(cls, cache: Any) -> bool:
        return isinstance(raw_client(cache), RedisCluster)

    def __init__(self, cache: Any, timeout: int, client: RedisCluster) -> None:
        super().__init__(cache, timeout, client)
        self._reload_slots = False

    def _connection_kwargs(self) -> dict[str, Any]:
        return dict(self.client.get_connection_kwargs())

    def _run(self, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        return self._run_per_node(commands)[0]

    def _run_per_node(
        self,
        commands: Sequence[tuple[Any, ...]],
        then: tuple[Any, ...] | None = None,
        every_node: bool = False,
    ) -> tuple[list[Any], dict[str, Any]]:
        """The replies to ``commands``, and, when ``then`` is given, its reply on each node
        that took some of them (sent last in that node's pipeline). A node's failure raises at
        once, or, with ``every_node``, after every other node has had its commands."""
        client = self.client
        if self._reload_slots:
            client.nodes_manager.initialize()
            self._reload_slots = False
        groups: dict[str, tuple[Any, list[int]]] = {}
        for index, command in enumerate(commands):
            node = client.get_node_from_key(command[1])
            groups.setdefault(node.name, (node, []))[1].append(index)
        replies: list[Any] = [None] * len(commands)
        after: dict[str, Any] = {}
        failed: RedisError | None = None
        for name, (node, indexes) in groups.items():
            pipe = client.get_redis_connection(node).pipeline(transaction=False)
            for index in indexes:
                pipe.execute_command(*commands[index])
            if then is not None:
                pipe.execute_command(*then)
            try:
                found = pipe.execute()
            except RedisError as exc:
                self._reload_slots = True
                if not every_node:
                    raise
                failed = failed or exc
                continue
            if then is not None:
                after[name] = found.pop()
            for index, reply in zip(indexes, found, strict=True):
                replies[index] = reply
        if failed is not None:
            raise failed
        return replies, after

    def get_many(self, keys: Sequence[str]) -> list[Any]:
        return self._run([("GET", key) for key in self._full(keys)])

    def connections_named(self, name: str) -> int | None:
        """Per primary, as each process of the near cache tracks every primary: the fewest."""
        counts = [
            sum(
                1
                for c in self.client.get_redis_connection(node).client_list()
                if c.get("name") == name
            )
            for node in self.client.get_primaries()
        ]
        return min(counts, default=0)

    def tracking_refusals(self) -> list[str]:
        client = self.client
        try:
            primaries = client.get_primaries()
        except RedisError:
            return []  # no node answered: an outage, reported by whatever needs the cache
        found = (refuses_tracking(client.get_redis_connection(node)) for node in primaries)
        return [refused for refused in found if refused is not None]

    def retire(self, keys: Sequence[str]) -> None:
        if not keys:
            return
        # Every node that answers takes its part at once: other processes read the rows of
        # the nodes that answer, and the outbox holds the whole retirement for the others.
        deletes = [("DEL", key) for key in self._full(keys)]
        if not self.replicas:
            self._run_per_node(deletes, every_node=True)
            return
        # Each primary replicates its own keys: WAIT on every one that took a retirement.
        wait = ("WAIT", self.replicas, self.wait_ms)
        self._replicated(self._run_per_node(deletes, wait, every_node=True)[1])
