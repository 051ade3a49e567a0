"""Redis fast paths on the raw redis-py client.

Going around the Django backend's serializer is not only faster: django-redis and Django's
``RedisCache`` unpickle what they read, and an entry placed by someone else must never be
unpickled. Keys still go through the backend's ``make_key`` so ``KEY_PREFIX`` and ``VERSION``
in ``CACHES`` apply. Always the primary: fills and checks must not read a lagging replica.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django.core.cache.backends.base import BaseCache, default_key_func

from cachefresh.store.base import Store, is_token, new_token
from cachefresh.store.errors import NotReplicated

#: The longest a retirement waits for its replicas (``WAIT_FOR_REPLICAS``), in seconds.
MAX_WAIT = 1.0


def raw_client(cache: BaseCache) -> Any | None:
    """The primary's redis-py client behind a Redis cache backend, or ``None``."""
    module = type(cache).__module__
    if module.startswith("django_redis"):
        from django_redis.client import DefaultClient, ShardClient  # type: ignore[import-untyped]

        client = getattr(cache, "client", None)
        # Sharding spreads one row's keys over servers by key; every other client (plain,
        # sentinel, herd, our cluster client) has one primary: index 0 of LOCATION.
        if isinstance(client, DefaultClient) and not isinstance(client, ShardClient):
            return client.get_client(write=True)
        return None
    if module == "django.core.cache.backends.redis":
        return cache._cache.get_client(write=True)  # type: ignore[attr-defined]
    return None


def wait_timeout_ms(socket_timeout: float | None) -> int:
    """How long ``WAIT`` may block a retirement: a quarter of the socket timeout, so its reply
    comes before the socket gives up (Redis ends a timed-out WAIT on its next clock tick, up to
    100 ms late at the default ``hz 10``), and at most :data:`MAX_WAIT` (a commit waits for it)."""
    seconds = MAX_WAIT if not socket_timeout else min(socket_timeout / 4, MAX_WAIT)
    return max(1, int(seconds * 1000))


class RedisStore(Store):
    """One Redis server (or a primary with its replicas) behind django-redis or Django's
    RedisCache: the protocol on the raw client, and tracking for the near cache."""

    pushes_invalidations = True
    waits_for_replicas = True
    kind = "Redis"

    @classmethod
    def serves(cls, cache: BaseCache) -> bool:
        return raw_client(cache) is not None

    @classmethod
    def create(cls, cache: BaseCache, timeout: int) -> Store:
        return cls(cache, timeout, raw_client(cache))

    def __init__(self, cache: BaseCache, timeout: int, client: Any) -> None:
        super().__init__(cache, timeout)
        self.client = client
        self.make_key: Callable[[str], str] = cache.make_key
        if cache.key_func is default_key_func:
            # The same keys, without a call into the backend per key on the hit path.
            self.make_key = f"{cache.key_prefix}:{cache.version}:".__add__
        self.wait_ms = wait_timeout_ms(self._connection_kwargs().get("socket_timeout"))

    def _connection_kwargs(self) -> dict[str, Any]:
        return dict(self.client.connection_pool.connection_kwargs)

    def _full(self, keys: Sequence[str]) -> list[str]:
        make_key = self.make_key
        return [make_key(key) for key in keys]

    def _run(self, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        """Single-key commands (key second) in one round trip; their replies in order."""
        pipe = self.client.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        return list(pipe.execute())

    def get_many(self, keys: Sequence[str]) -> list[Any]:
        # map(): no Python frame per key when make_key is str.__add__ (the hit path).
        return list(self.client.mget(list(map(self.make_key, keys))))

    def _token_commands(self, full: Sequence[str]) -> list[tuple[Any, ...]]:
        """Create each token where missing, then read it: two commands a key."""
        commands: list[tuple[Any, ...]] = []
        for key in full:
            commands.append(("SET", key, new_token(), "NX", "EX", self.timeout))
            commands.append(("GET", key))
        return commands

    def _repair(self, full: Sequence[str], current: list[Any]) -> list[bytes]:
        # Garbage under a token key: a fresh token only ever retires entries.
        fresh = {index: new_token() for index, value in enumerate(current) if not is_token(value)}
        if fresh:
            self._run([("SET", full[i], token, "EX", self.timeout) for i, token in fresh.items()])
            for index, token in fresh.items():
                current[index] = token
        return current

    def ensure_tokens(self, keys: Sequence[str]) -> list[bytes]:
        full = self._full(keys)
        return self._repair(full, self._run(self._token_commands(full))[1::2])

    def begin_fill(
        self, token_keys: Sequence[str], lock_key: str, ttl: float, entry_key: str
    ) -> tuple[list[bytes], bool, Any]:
        # One round trip; the lock and the entry share the row's slot, so the entry is read
        # after the lock is taken even on a cluster.
        full = self._full(token_keys)
        commands = self._token_commands(full)
        commands.append(("SET", self.make_key(lock_key), b"1", "NX", "PX", int(ttl * 1000)))
        commands.append(("GET", self.make_key(entry_key)))
        replies = self._run(commands)
        tokens = self._repair(full, replies[1 : len(commands) - 2 : 2])
        locked = bool(replies[-2])
        return tokens, locked, replies[-1] if locked else None

    def fill(self, entries: Mapping[str, bytes], unlock: Sequence[str]) -> None:
        commands: list[tuple[Any, ...]] = [
            ("SET", self.make_key(key), value, "EX", self.timeout) for key, value in entries.items()
        ]
        commands.extend(("DEL", key) for key in self._full(unlock))
        self._run(commands)

    def retire(self, keys: Sequence[str]) -> None:
        if not keys:
            return
        if not self.replicas:
            self.client.delete(*self._full(keys))
            return
        # WAIT counts what this connection wrote: the DEL and the WAIT go in one pipeline.
        pipe = self.client.pipeline(transaction=False)
        pipe.delete(*self._full(keys))
        pipe.execute_command("WAIT", self.replicas, self.wait_ms)
        self._replicated({"the primary": pipe.execute()[-1]})

    def _replicated(self, acknowledged: Mapping[str, Any]) -> None:
        """Raise :class:`NotReplicated` unless every node's ``WAIT`` saw enough replicas take
        the retirement (``acknowledged``: each node's reply)."""
        short = {node: int(count) for node, count in acknowledged.items()}
        short = {node: count for node, count in short.items() if count < self.replicas}
        if short:
            counts = ", ".join(f"{count} of {node}" for node, count in sorted(short.items()))
            raise NotReplicated(
                f"fewer than CACHEFRESH['WAIT_FOR_REPLICAS'] = {self.replicas} replicas "
                f"acknowledged a retirement within {self.wait_ms} ms ({counts})"
            )

    def add_counters(self, deltas: Mapping[str, int], ttl: int) -> None:
        pipe = self.client.pipeline(transaction=False)
        for key, count in deltas.items():
            full = self.make_key(key)
            pipe.incrby(full, count)
            pipe.expire(full, ttl)
        # A key holding something other than an integer refuses INCRBY; the other keys are
        # counted all the same, so a retry must not add them twice.
        pipe.execute(raise_on_error=False)

    def tracking_refusals(self) -> list[str]:
        refused = refuses_tracking(self.client)
        return [] if refused is None else [refused]

    def connections_named(self, name: str) -> int | None:
        return sum(1 for client in self.client.client_list() if client.get("name") == name)


#: How long the tracking probe of the near cache's check waits for a server, in seconds.
PROBE_TIMEOUT = 1.0


def refuses_tracking(client: Any) -> str | None:
    """Why the server of ``client`` (redis-py's) refuses ``CLIENT TRACKING`` or ``CLIENT LIST``
    (renamed away, denied by an ACL), or ``None``: it tracks, or it did not answer (an outage
    is reported by whatever needs the cache). Asked on a connection of its own, closed after.
    The near cache lists the server's clients to know that its data connections, under whose
    ids Redis tracks what they read, still exist."""
    from redis.exceptions import ResponseError

    from cachefresh.store.errors import cache_errors

    pool = client.connection_pool
    # Bounded: system checks run before every management command, also while Redis is down.
    quick = {"socket_connect_timeout": PROBE_TIMEOUT, "socket_timeout": PROBE_TIMEOUT}
    connection = pool.connection_class(**dict(pool.connection_kwargs, **quick))
    where = f"{pool.connection_kwargs.get('host', '')}:{pool.connection_kwargs.get('port', '')}"
    try:
        connection.send_command("CLIENT", "ID")
        client_id = connection.read_response()
        connection.send_command("CLIENT", "TRACKING", "on", "REDIRECT", client_id)
        connection.read_response()
        connection.send_command("CLIENT", "LIST", "TYPE", "pubsub")
        connection.read_response()
    except ResponseError as exc:
        return f"{where} ({exc})"
    except cache_errors():
        return None
    finally:
        connection.disconnect()
    return None
