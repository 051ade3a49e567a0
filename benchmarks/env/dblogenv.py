"""The invalidation log scenario's world (:mod:`benchmarks.scenarios.dblog`): a scratch
PostgreSQL database with three tables that differ only by their triggers, a cached model, and
the Django of its processes. This module is also that Django's app (``dblogenv``): its model is
defined once Django is set up, and cached from then on.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import psycopg

from benchmarks.env.backends import env_pg

#: The tables written, by their triggers: none, triggers that notify, poll-only triggers.
TABLES = {"none": "dblog_bench_plain", "notify": "dblog_bench_notify", "poll": "dblog_bench_poll"}
#: The cached model's table.
CACHED = "dblog_bench_row"
ROWS = 1000


def server() -> dict[str, Any]:
    """The run's PostgreSQL server, and the database to connect to in order to create one
    (``CACHEFRESH_PG_DBNAME``: the one ``--database-url`` names). No empty password: in a
    conninfo string ``password=`` would take the next word as its value."""
    found = {key: value for key, value in env_pg().items() if value != ""}
    return {**found, "dbname": os.environ.get("CACHEFRESH_PG_DBNAME", "test")}


def dsn(conninfo: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in conninfo.items())


@contextlib.contextmanager
def scratch_database(server: dict[str, Any]) -> Iterator[dict[str, Any]]:
    name = f"cfdblog_bench_{os.getpid()}"
    with psycopg.connect(dsn(server), autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield {**server, "dbname": name}
    finally:
        with psycopg.connect(dsn(server), autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def settings_for(conninfo: dict[str, Any], redis: str, prefix: str) -> dict[str, Any]:
    return {
        "DATABASES": {
            "default": {
                "ENGINE": "django.db.backends.postgresql",
                "HOST": conninfo["host"],
                "PORT": conninfo["port"],
                "NAME": conninfo["dbname"],
                "USER": conninfo["user"],
                "PASSWORD": conninfo.get("password", ""),
                "CONN_MAX_AGE": None,
            }
        },
        "CACHES": {
            "default": {
                "BACKEND": "django_redis.cache.RedisCache",
                "LOCATION": redis,
                "KEY_PREFIX": prefix,
            }
        },
        "INSTALLED_APPS": ["cachefresh", "benchmarks.env.dblogenv"],
        "CACHEFRESH": {"KEY_PREFIX": prefix},
        "USE_TZ": True,
        "SECRET_KEY": "dblog-bench",
        "DEFAULT_AUTO_FIELD": "django.db.models.AutoField",
    }


def setup_django(conninfo: dict[str, Any], redis: str, prefix: str) -> Any:
    """Django for ``conninfo``; the cached model."""
    import django
    from django.conf import settings

    settings.configure(**settings_for(conninfo, redis, prefix))
    django.setup()
    from django.db import models
    from django.test.utils import override_settings

    class Row(models.Model):
        title = models.CharField(max_length=40)

        class Meta:
            app_label = "dblogenv"
            db_table = CACHED

        def __str__(self) -> str:
            return self.title

    # Defined after start-up (this module is the app), so cached only from here on.
    override_settings(CACHEFRESH={"KEY_PREFIX": prefix, "MODELS": ["dblogenv.Row"]}).enable()
    return Row


def environment(conninfo: dict[str, Any], redis: str, prefix: str) -> dict[str, str]:
    """The environment a listener process reads its scratch database, Redis and prefix from."""
    return {
        "DBLOG_BENCH_DSN": dsn(conninfo),
        "DBLOG_BENCH_REDIS": redis,
        "DBLOG_BENCH_PREFIX": prefix,
    }


def from_env() -> tuple[dict[str, Any], str, str]:
    """What :func:`environment` handed this process."""
    conninfo = dict(part.split("=", 1) for part in os.environ["DBLOG_BENCH_DSN"].split())
    return conninfo, os.environ["DBLOG_BENCH_REDIS"], os.environ["DBLOG_BENCH_PREFIX"]


def prepare(Row: Any) -> None:
    """The log table, the cached model's table, the three written tables and their triggers."""
    from django.db import connection

    from cachefresh.dblog import schema, triggers

    with connection.schema_editor() as editor:
        schema.create_log_table(None, editor)
        editor.create_model(Row)
    with connection.cursor() as cursor:
        for table in (*TABLES.values(), CACHED):
            if table != CACHED:
                cursor.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, n int NOT NULL)")
            cursor.execute(
                f"INSERT INTO {table} (id, {'title' if table == CACHED else 'n'}) "
                f"SELECT g, {'g::text' if table == CACHED else 'g'} "
                f"FROM generate_series(1, {ROWS}) g"
            )
        log = triggers.log_table(connection)
        for variant, table in TABLES.items():
            if variant != "none":
                for sql in triggers.install_sql(connection, table, "id", log, variant == "notify"):
                    cursor.execute(sql)
