"""A throwaway laboratory for multi-process runs, driven from a process that has no Django.

A :class:`Lab` creates its own PostgreSQL database (dropped afterwards) holding the hot rows,
uses its own key prefix on the shared Redis (its keys are deleted afterwards; nothing is ever
flushed), and puts latency proxies in front of both. :class:`Crew` starts worker processes
with the ``spawn`` context, each configuring Django from ``benchmarks.storm_settings`` with the
library under test, so no peer ever patches the ORM of the calling process.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import multiprocessing
import os
import threading
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.synchronize import Barrier
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis

from benchmarks.proxy import LatencyProxy

LIBRARIES = ("cachefresh", "cacheops", "cachalot")
#: cacheops keeps its keys in a whole Redis database; this one, never flushed, prefixed keys.
CACHEOPS_REDIS_DB = 13
SETTINGS_MODULE = "benchmarks.storm_settings"
CONFIG_ENV = "CACHEFRESH_STORM_CONFIG"
#: How long any phase may take before the run is declared stuck.
PHASE_TIMEOUT = 120.0
# Mirrors benchmarks.stormapp.models.Row.
TABLE_SQL = (
    "CREATE TABLE stormapp_row (id integer PRIMARY KEY, value bigint NOT NULL, "
    "note varchar(64) NOT NULL, writes integer NOT NULL)"
)
Committed = dict[int, tuple[int, str, int]]


def default_database() -> dict[str, Any]:
    """Connection parameters of the server to create the lab database on."""
    return {
        "host": os.environ.get("CACHEFRESH_PG_HOST", "127.0.0.1"),
        "port": int(os.environ.get("CACHEFRESH_PG_PORT", "5432")),
        "user": os.environ.get("CACHEFRESH_PG_USER", "postgres"),
        "password": os.environ.get("CACHEFRESH_PG_PASSWORD", ""),
        "dbname": "postgres",
    }


def default_redis_url() -> str:
    return os.environ.get("CACHEFRESH_REDIS_URL", "redis://127.0.0.1:6379/0")


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
    redis_url: str = field(default_factory=default_redis_url)
    key_prefix: str = ""
    db_jitter_ms: float = 0.0
    #: The writers' own one-way database latency, when it differs from the readers'.
    writer_db_latency_ms: float | None = None
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
        self._stack.close()
        self._delete_keys()
        self._drop_database()

    def _server(self, **overrides: Any) -> psycopg.Connection[Any]:
        params = {**self.database, **overrides}
        return psycopg.connect(**params, autocommit=True, connect_timeout=5)

    def _create_database(self) -> None:
        with self._server() as server:
            server.execute(f'CREATE DATABASE "{self.name}"')
        with self.connect() as conn:
            conn.execute(TABLE_SQL)
            conn.cursor().executemany(
                "INSERT INTO stormapp_row (id, value, note, writes) VALUES (%s, 0, 'initial', 0)",
                [(pk,) for pk in self.pks],
            )

    def _drop_database(self) -> None:
        if self.name:
            with self._server() as server:
                server.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

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

    def connect(self) -> psycopg.Connection[Any]:
        """A direct connection (no proxy) to the lab database, in autocommit."""
        return self._server(dbname=self.name)

    def committed(self, conn: psycopg.Connection[Any]) -> Committed:
        """Every row as committed, read by raw SQL."""
        cursor = conn.execute("SELECT id, value, note, writes FROM stormapp_row ORDER BY id")
        return {pk: (value, note, writes) for pk, value, note, writes in cursor}

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
            "latency_applies": "each way, on every worker connection (a round trip adds twice)",
            "rows": self.rows,
        }


def setup_worker(config: dict[str, Any]) -> None:
    """Configure Django in a worker process for the lab ``config`` describes."""
    os.environ[CONFIG_ENV] = json.dumps(config)
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS_MODULE
    import django

    django.setup()


class Crew:
    """Worker processes (``spawn``), with barriers that any failing worker breaks for all."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.context = multiprocessing.get_context("spawn")
        self.errors = self.context.Queue()
        self.results = self.context.Queue()
        self.barriers: list[Barrier] = []
        self.processes: list[multiprocessing.process.BaseProcess] = []

    def barrier(self, parties: int) -> Barrier:
        barrier = self.context.Barrier(parties)
        self.barriers.append(barrier)
        return barrier

    def start(
        self, target: Callable[..., Any], *args: Any, config: dict[str, Any] | None = None
    ) -> None:
        process = self.context.Process(
            target=_work,
            args=(target, config or self.config, self.errors, self.results, self.barriers, *args),
            daemon=True,
        )
        process.start()
        self.processes.append(process)

    def wait(self, barrier: Barrier) -> None:
        """Wait at ``barrier`` as the parent; a broken or stuck phase raises the workers' errors."""
        try:
            barrier.wait(timeout=PHASE_TIMEOUT)
        except threading.BrokenBarrierError:
            self.abort()
            raise RuntimeError(self.failure()) from None

    def receive(self, queue: Any) -> Any:
        """The next item on ``queue``; a failed or stuck worker raises instead."""
        try:
            return queue.get(timeout=PHASE_TIMEOUT)
        except Exception:
            self.abort()
            raise RuntimeError(self.failure()) from None

    def collect(self, count: int) -> list[Any]:
        """What each of ``count`` workers returned."""
        return [self.receive(self.results) for _ in range(count)]

    def failure(self) -> str:
        messages = []
        with contextlib.suppress(Exception):
            while not self.errors.empty():
                messages.append(self.errors.get(timeout=1))
        dead = [p.exitcode for p in self.processes if p.exitcode not in (None, 0)]
        return (
            "a worker failed or got stuck"
            + (f" (exit codes {dead})" if dead else "")
            + "".join(f"\n{m}" for m in messages)
        )

    def abort(self) -> None:
        for barrier in self.barriers:
            barrier.abort()

    def close(self) -> None:
        """Join the workers; stop any that does not end (only processes this crew started)."""
        for process in self.processes:
            process.join(timeout=PHASE_TIMEOUT / 4)
        for process in self.processes:
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)
        self.errors.close()
        self.results.close()

    def __enter__(self) -> Crew:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if exc_info[0] is not None:
            self.abort()
        self.close()


def _work(
    target: Callable[..., Any],
    config: dict[str, Any],
    errors: Any,
    results: Any,
    barriers: list[Barrier],
    *args: Any,
) -> None:
    try:
        setup_worker(config)
        results.put(target(*args))
    except BaseException:
        errors.put(f"{target.__name__}: {traceback.format_exc()}")
        for barrier in barriers:
            barrier.abort()
        raise
