"""Which database + cache pairs a run uses, and the private space it takes on each server.

SQLite + LocMemCache always runs. PostgreSQL and Redis join when reachable; on PostgreSQL the
run creates a database of its own (or, without the right to, tables under a unique prefix) and
drops what it created; on Redis it writes only under its own key prefix and deletes only those
keys. The shared servers are never flushed.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlparse

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
#: cacheops takes a whole Redis database; this one, and only its own keys in it are deleted.
CACHEOPS_REDIS_DB = 14


@dataclass(frozen=True)
class Pair:
    """A database alias and a cache alias measured together."""

    name: str
    db_alias: str
    cache_alias: str


SQLITE_LOCMEM = Pair("sqlite+locmem", "default", "default")
POSTGRES_REDIS = Pair("postgres+redis", "pg", "redis")


@dataclass
class Detection:
    pairs: list[Pair] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    database_url: str | None = None
    redis_url: str | None = None


def env_pg() -> dict[str, Any]:
    """The PostgreSQL server the environment names (``CACHEFRESH_PG_HOST``, ``_PORT``, ``_USER``,
    ``_PASSWORD``: the tests' variables, which the harness sets for its child processes)."""
    return {
        "host": os.environ.get("CACHEFRESH_PG_HOST", "127.0.0.1"),
        "port": int(os.environ.get("CACHEFRESH_PG_PORT", "5432")),
        "user": os.environ.get("CACHEFRESH_PG_USER", "postgres"),
        "password": os.environ.get("CACHEFRESH_PG_PASSWORD", ""),
    }


def env_redis_url() -> str:
    """The Redis the environment names (``CACHEFRESH_REDIS_URL``)."""
    return os.environ.get("CACHEFRESH_REDIS_URL", DEFAULT_REDIS_URL)


def reachable(host: str, port: int) -> str | None:
    """``None`` when a TCP connection opens, else why not."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return None
    except OSError as exc:
        return f"{host}:{port} unreachable ({exc.strerror or exc})"


def pg_params(url: str) -> dict[str, Any]:
    parts = urlparse(url)
    return {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 5432,
        "user": unquote(parts.username or "postgres"),
        "password": unquote(parts.password or ""),
        "dbname": (parts.path or "/test").lstrip("/") or "test",
    }


def redis_hostport(url: str) -> tuple[str, int]:
    parts = urlparse(url)
    return parts.hostname or "127.0.0.1", parts.port or 6379


def detect(database_url: str | None, redis_url: str | None, wanted: set[str]) -> Detection:
    found = Detection(pairs=[SQLITE_LOCMEM] if "sqlite" in wanted else [])
    if "sqlite" not in wanted:
        found.skipped[SQLITE_LOCMEM.name] = "not selected (--backends)"
    if "postgres" not in wanted:
        found.skipped[POSTGRES_REDIS.name] = "not selected (--backends)"
        return found
    pg = pg_params(database_url or DEFAULT_DATABASE_URL)
    why = reachable(pg["host"], pg["port"])
    if why is None:
        why = _pg_login(pg)
    redis_why = reachable(*redis_hostport(redis_url or DEFAULT_REDIS_URL))
    if why or redis_why:
        found.skipped[POSTGRES_REDIS.name] = "; ".join(
            f"{what}: {reason}"
            for what, reason in (("PostgreSQL", why), ("Redis", redis_why))
            if reason
        )
        return found
    found.pairs.append(POSTGRES_REDIS)
    found.database_url = database_url or DEFAULT_DATABASE_URL
    found.redis_url = redis_url or DEFAULT_REDIS_URL
    return found


def _pg_login(pg: dict[str, Any]) -> str | None:
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install '.[bench]')"
    try:
        psycopg.connect(**pg, connect_timeout=2).close()
    except Exception as exc:
        return f"cannot log in ({type(exc).__name__}: {str(exc).strip()[:120]})"
    return None


class PostgresSpace:
    """A database of our own on the server, or failing that a unique table prefix."""

    def __init__(self, url: str) -> None:
        self.params = pg_params(url)
        self.created: str | None = None
        self.table_prefix = "cfbench"
        self.note = ""

    def acquire(self) -> str:
        """The database name to run in."""
        import psycopg

        refusal = "refused"
        with psycopg.connect(**self.params, autocommit=True) as conn:
            for name in ("cachefresh_bench", f"cachefresh_bench_{uuid.uuid4().hex[:8]}"):
                try:
                    conn.execute(f'CREATE DATABASE "{name}"')
                except psycopg.errors.DuplicateDatabase:
                    continue  # another run is using it, or one left it behind
                except psycopg.Error as exc:
                    refusal = str(exc).strip()[:120]
                    break
                self.created = name
                self.note = f"own database {name}, dropped at the end"
                return name
        self.table_prefix = f"cfbench_{uuid.uuid4().hex[:8]}"
        self.note = (
            f"cannot create a database ({refusal}); tables prefixed {self.table_prefix} "
            f"in {self.params['dbname']}, dropped at the end"
        )
        return str(self.params["dbname"])

    def release(self, tables: list[str]) -> None:
        import psycopg

        with psycopg.connect(**self.params, autocommit=True) as conn:
            if self.created:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.created}" WITH (FORCE)')
                return
            for table in tables:
                conn.execute(f'DROP TABLE IF EXISTS "{table}" CASCADE')


def delete_prefixed(url: str, pattern: str, db: int | None = None) -> int:
    """Delete the keys matching ``pattern`` (ours only), never the rest of the server."""
    import redis

    if db is not None:
        # A database number in the URL's path wins over a db= argument: replace the path.
        url = urlparse(url)._replace(path=f"/{db}").geturl()
    client = redis.Redis.from_url(url)
    deleted = 0
    batch: list[bytes] = []
    for key in client.scan_iter(match=pattern, count=1000):
        batch.append(key)
        if len(batch) >= 500:
            deleted += client.delete(*batch)
            batch.clear()
    if batch:
        deleted += client.delete(*batch)
    client.close()
    return deleted
