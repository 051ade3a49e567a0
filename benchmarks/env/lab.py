"""A throwaway laboratory for multi-process runs, driven from a process that needs no Django.

A :class:`Lab` creates its own PostgreSQL or MySQL/MariaDB database (``database["vendor"]``,
:mod:`benchmarks.env.labdb`; dropped afterwards) holding the hot rows,
uses its own key prefix on the shared Redis (every key under it is deleted afterwards; nothing
is ever flushed), and puts latency proxies in front of both. Its ``config`` is what worker
processes (:mod:`benchmarks.workers.crew`) need to reach them.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis

from benchmarks.env.backends import CACHEOPS_REDIS_DB, env_pg, env_redis_url
from benchmarks.env.labdb import Committed, server_for
from benchmarks.env.proxy import LatencyProxy

LIBRARIES = ("cachefresh", "cacheops", "cachalot")
#: The worker processes' Django settings read the lab's config from here.
CONFIG_ENV = "CACHEFRESH_STORM_CONFIG"


def default_database() -> dict[str, Any]:
    """Connection parameters of the server to create the lab database on."""
    return {**env_pg(), "dbname": "postgres"}


def unavailable(library: str) -> str | None:
    """Why ``library`` cannot run here, or ``None`` when it can."""
    if library not in LIBRARIES:
        raise ValueError(f"library must be one of {', '.join(LIBRARIES)}, not {library!r}")
    # find_spec, not import: a peer patches the ORM of whatever process imports it.
    if library != "cachefresh" and importlib.util.find_spec(library) is None:
        return f"django-{library} is not installed (pip install '.[bench]')"
    return None


def _with_address(url: str, host: str, port: int, db: int | None = None) -> str:
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@{host}:{port}" if userinfo else f"{host}:{port}"
    path = f"/{db}" if db is not None else parts.path
    return urlunsplit((parts.scheme, netloc, path, parts.query, parts.fragment))


@dataclass
class Lab:
    library: str
    rows: int
    db_latency_ms: float = 0.0
    redis_latency_ms: float = 0.0
    database: dict[str, Any] = field(default_factory=default_database)
    redis_url: str = field(default_factory=env_redis_url)
    key_prefix: str = ""
    db_jitter_ms: float = 0.0
    #: The writers' own one-way database latency, when it differs from the readers'.
    writer_db_latency_ms: float | None = None
    #: Merged into the workers' CACHEFRESH setting (a near cache switched on, say).
    cachefresh_settings: dict[str, Any] = field(default_factory=dict)
    name: str = field(init=False, default="")
    config: dict[str, Any] = field(init=False, default_factory=dict)
    writer_config: dict[str, Any] = field(init=False, default_factory=dict)
    _stack: contextlib.ExitStack = field(init=False, default_factory=contextlib.ExitStack)

    def __enter__(self) -> Lab:
        tag = f"{os.getpid()}_{uuid.uuid4().hex[:8]}"
        self.name = f"cachefresh_storm_{tag}"
        self.key_prefix = self.key_prefix or f"cfstorm-{tag}"
        try:
            self._create_database()
            self.config = self._worker_config(self.db_latency_ms)
            self.writer_config = self.config
            if self.writer_db_latency_ms not in (None, self.db_latency_ms):
                self.writer_config = self._worker_config(self.writer_db_latency_ms or 0.0)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._stack.close()
        finally:
            try:
                # An unreachable Redis keeps the keys: every one of them expires on its own.
                with contextlib.suppress(redis.RedisError):
                    self._delete_keys()
            finally:
                self._drop_database()

    def _create_database(self) -> None:
        server_for(self.database).create(self.name, self.pks)

    def _drop_database(self) -> None:
        if self.name:
            server_for(self.database).drop(self.name)

    def _redis_clients(self) -> Iterator[redis.Redis]:
        yield redis.Redis.from_url(self.redis_url)
        if self.library == "cacheops":
            parts = urlsplit(self.redis_url)
            url = _with_address(
                self.redis_url, parts.hostname or "", parts.port or 6379, CACHEOPS_REDIS_DB
            )
            yield redis.Redis.from_url(url)

    def _delete_keys(self) -> None:
        """Delete this lab's keys, and only them: the shared Redis is never flushed."""
        if not self.key_prefix:
            return
        for client in self._redis_clients():
            with client:
                batch = []
                for key in client.scan_iter(match=f"{self.key_prefix}:*", count=1000):
                    batch.append(key)
                    if len(batch) >= 500:
                        client.delete(*batch)
                        batch = []
                if batch:
                    client.delete(*batch)

    @property
    def pks(self) -> list[int]:
        return list(range(1, self.rows + 1))

    def connect(self) -> Any:
        """A direct connection (no proxy) to the lab database, in autocommit."""
        return contextlib.closing(server_for(self.database).connect(self.name))

    def committed(self, conn: Any) -> Committed:
        """Every row as committed, read by raw SQL."""
        return server_for(self.database).committed(conn)

    def _proxied(
        self, host: str, port: int, delay_ms: float, jitter_ms: float = 0.0
    ) -> tuple[str, int]:
        if delay_ms <= 0 and jitter_ms <= 0:
            return host, port
        proxy = self._stack.enter_context(LatencyProxy(host, port, delay_ms, jitter_ms=jitter_ms))
        return proxy.host, proxy.port

    def _worker_config(self, db_latency_ms: float) -> dict[str, Any]:
        db_host, db_port = self._proxied(
            self.database["host"], int(self.database["port"]), db_latency_ms, self.db_jitter_ms
        )
        parts = urlsplit(self.redis_url)
        redis_host, redis_port = self._proxied(
            parts.hostname or "127.0.0.1", parts.port or 6379, self.redis_latency_ms
        )
        return {
            "library": self.library,
            "database": {
                "ENGINE": server_for(self.database).engine,
                "HOST": db_host,
                "PORT": db_port,
                "NAME": self.name,
                "USER": self.database["user"],
                "PASSWORD": self.database.get("password", ""),
            },
            "redis_url": _with_address(self.redis_url, redis_host, redis_port),
            "cacheops_redis_url": _with_address(
                self.redis_url, redis_host, redis_port, CACHEOPS_REDIS_DB
            ),
            "key_prefix": self.key_prefix,
            "cachefresh_settings": self.cachefresh_settings,
        }

    def settings(self) -> dict[str, Any]:
        """What a result records about the lab."""
        return {
            "db_latency_ms": self.db_latency_ms,
            "db_jitter_ms": self.db_jitter_ms,
            "writer_db_latency_ms": (
                self.db_latency_ms
                if self.writer_db_latency_ms is None
                else self.writer_db_latency_ms
            ),
            "redis_latency_ms": self.redis_latency_ms,
            "latency_applies": "each direction, per chunk: a round trip adds twice the latency",
            "rows": self.rows,
            "cachefresh_settings": self.cachefresh_settings,
        }
