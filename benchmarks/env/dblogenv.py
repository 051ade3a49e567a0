"""The invalidation log scenario's world (:mod:`benchmarks.scenarios.dblog`): on each server
the run reaches (PostgreSQL always, MariaDB/MySQL when reachable), a scratch database with three
tables that differ only by their triggers, a cached model's table, and the Django of its
processes. This module is also that Django's app (``dblogenv``): its model is defined once
Django is set up, and cached from then on.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from benchmarks.env.backends import env_pg, reachable

#: The tables written, by their triggers: none, triggers that notify, poll-only triggers.
TABLES = {"none": "dblog_bench_plain", "notify": "dblog_bench_notify", "poll": "dblog_bench_poll"}
#: The cached model's table.
CACHED = "dblog_bench_row"
ROWS = 1000


@dataclass(frozen=True)
class Database:
    """One scratch database: its Django alias, the pair name results carry, how to reach it."""

    alias: str
    backend: str
    vendor: str
    host: str
    port: int
    user: str
    password: str
    name: str

    @property
    def variants(self) -> tuple[str, ...]:
        # Only PostgreSQL's triggers can wake a listener.
        return ("none", "notify", "poll") if self.vendor == "postgresql" else ("none", "poll")


def servers() -> list[Database]:
    """PostgreSQL (the harness runs this scenario only with it), and MariaDB or MySQL when the
    environment's server (``CACHEFRESH_MYSQL_HOST`` and ``_PORT``, as the tests) answers."""
    pg = env_pg()
    found = [Database("default", "postgres+redis", "postgresql", **pg, name="")]
    host = os.environ.get("CACHEFRESH_MYSQL_HOST", "127.0.0.1")
    port = int(os.environ.get("CACHEFRESH_MYSQL_PORT", "3306"))
    if importlib.util.find_spec("MySQLdb") and reachable(host, port) is None:
        user = os.environ.get("CACHEFRESH_MYSQL_USER", "root")
        password = os.environ.get("CACHEFRESH_MYSQL_PASSWORD", "")
        found.append(Database("mariadb", "mariadb+redis", "mysql", host, port, user, password, ""))
    return found


def connect(db: Database, name: str | None = None) -> Any:
    """A plain driver connection in autocommit: writes Django does not see."""
    dbname = db.name if name is None else name
    if db.vendor == "postgresql":
        import psycopg

        params = {
            "host": db.host,
            "port": db.port,
            "user": db.user,
            "dbname": dbname or os.environ.get("CACHEFRESH_PG_DBNAME", "test"),
        }
        return psycopg.connect(**params, password=db.password or None, autocommit=True)
    import MySQLdb

    conn = MySQLdb.connect(
        host=db.host,
        port=db.port,
        user=db.user,
        password=db.password,
        charset="utf8mb4",
        autocommit=True,
        **({"database": dbname} if dbname else {}),
    )
    return conn


def execute(conn: Any, sql: str, params: Any = None) -> Any:
    cursor = conn.cursor()
    cursor.execute(sql, params)
    return cursor


@contextlib.contextmanager
def scratch_databases(found: list[Database]) -> Iterator[list[Database]]:
    name = f"cfdblog_bench_{os.getpid()}"
    created: list[Database] = []
    try:
        for db in found:
            with contextlib.closing(connect(db)) as admin:
                execute(admin, f"CREATE DATABASE {name}")
            created.append(Database(**{**asdict(db), "name": name}))
        yield created
    finally:
        for db in created:
            drop = "DROP DATABASE IF EXISTS {} WITH (FORCE)" if db.vendor == "postgresql" else ""
            with contextlib.closing(connect(db, "")) as admin:
                execute(admin, (drop or "DROP DATABASE IF EXISTS {}").format(name))


def _django_db(db: Database) -> dict[str, Any]:
    engine = "postgresql" if db.vendor == "postgresql" else "mysql"
    settings = {
        "ENGINE": f"django.db.backends.{engine}",
        "HOST": db.host,
        "PORT": db.port,
        "NAME": db.name,
        "USER": db.user,
        "PASSWORD": db.password,
        "CONN_MAX_AGE": None,
    }
    if db.vendor == "mysql":
        settings["OPTIONS"] = {"charset": "utf8mb4"}
    return settings


def setup_django(databases: list[Database], redis: str, prefix: str) -> Any:
    """Django for ``databases``; the cached model."""
    import django
    from django.conf import settings

    settings.configure(
        DATABASES={db.alias: _django_db(db) for db in databases},
        CACHES={
            "default": {
                "BACKEND": "django_redis.cache.RedisCache",
                "LOCATION": redis,
                "KEY_PREFIX": prefix,
            }
        },
        INSTALLED_APPS=["cachefresh", "benchmarks.env.dblogenv"],
        CACHEFRESH={"KEY_PREFIX": prefix},
        USE_TZ=True,
        SECRET_KEY="dblog-bench",
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
    )
    django.setup()
    from django.db import models
    from django.test.utils import override_settings

    class Row(models.Model):
        title = models.CharField(max_length=40)
        body = models.TextField(default="")

        class Meta:
            app_label = "dblogenv"
            db_table = CACHED

        def __str__(self) -> str:
            return self.title

    # Defined after start-up (this module is the app), so cached only from here on.
    override_settings(CACHEFRESH={"KEY_PREFIX": prefix, "MODELS": ["dblogenv.Row"]}).enable()
    return Row


def environment(databases: list[Database], redis: str, prefix: str) -> dict[str, str]:
    """The environment a listener process reads its databases, Redis and prefix from."""
    return {
        "DBLOG_BENCH_DATABASES": json.dumps([asdict(db) for db in databases]),
        "DBLOG_BENCH_REDIS": redis,
        "DBLOG_BENCH_PREFIX": prefix,
    }


def from_env() -> tuple[list[Database], str, str]:
    """What :func:`environment` handed this process."""
    found = [Database(**db) for db in json.loads(os.environ["DBLOG_BENCH_DATABASES"])]
    return found, os.environ["DBLOG_BENCH_REDIS"], os.environ["DBLOG_BENCH_PREFIX"]


def prepare(Row: Any, db: Database) -> None:
    """The log table, cachefresh's own tables, the cached model's table and the written tables
    with their triggers."""
    from django.core.management import call_command
    from django.db import connections

    from cachefresh.dblog.dialect import dialect

    call_command("migrate", "cachefresh", database=db.alias, verbosity=0)
    connection = connections[db.alias]
    with connection.schema_editor() as editor:
        editor.create_model(Row)
    with connection.cursor() as cursor:
        for table in TABLES.values():
            cursor.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, n int NOT NULL)")
            cursor.executemany(
                f"INSERT INTO {table} (id, n) VALUES (%s, %s)", [(i, i) for i in range(1, ROWS + 1)]
            )
        cursor.executemany(
            f"INSERT INTO {CACHED} (id, title, body) VALUES (%s, %s, %s)",
            [(i, str(i), "x" * 200) for i in range(1, ROWS + 1)],
        )
        found = dialect(connection)
        for variant in db.variants:
            if variant != "none":
                for sql in found.install_sql(
                    connection, TABLES[variant], "id", variant == "notify"
                ):
                    cursor.execute(sql)
