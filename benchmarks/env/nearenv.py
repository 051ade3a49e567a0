"""The Django of each process of the near-cache scenario (:mod:`benchmarks.scenarios.near`).

The main process, its throughput and delay workers, and its peer processes all configure the
same scratch PostgreSQL database and the test app's ``Article`` table, and the Redis at
``CACHEFRESH_REDIS_URL`` under the run's key prefix. The main process picks the database name
and the prefix and hands them to its spawned children in ``NB_DB`` and ``NB_PREFIX``.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from typing import Any

from benchmarks.env.backends import env_pg, env_redis_url
from benchmarks.env.djangoenv import redis_cache

CLUSTER_CLIENT = "cachefresh.store.cluster.RedisClusterClient"
#: This process's picks; a spawned child reads its parent's from the environment instead.
DB_NAME = f"cachefresh_near_bench_{os.getpid()}"
PREFIX = f"nb{uuid.uuid4().hex[:10]}"


def prefix() -> str:
    """The run's key prefix: every key any library of the run writes contains it."""
    return os.environ.get("NB_PREFIX", PREFIX)


@contextlib.contextmanager
def scratch_database() -> Iterator[None]:
    """The run's PostgreSQL database, named for the spawned children, dropped at the end."""
    import psycopg

    with psycopg.connect(dbname="postgres", autocommit=True, **env_pg()) as admin:
        admin.execute(f'CREATE DATABASE "{DB_NAME}"')
    os.environ["NB_DB"], os.environ["NB_PREFIX"] = DB_NAME, PREFIX  # for the children
    try:
        yield
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(dbname="postgres", autocommit=True, **env_pg()) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


def seed(rows: int) -> None:
    """This process's Django with the near cache on, and ``rows`` articles in the database."""
    setup_django(True)
    from django.db import connection

    from tests.testapp.models import Article, Author

    with connection.schema_editor() as editor:
        editor.create_model(Author)
        editor.create_model(Article)
    Article.objects.bulk_create(
        Article(title=f"row {i}", body="x" * 200, views=i) for i in range(rows)
    )


def setup_django(near: bool, peer: str | None = None) -> None:
    """cachefresh on ``Article`` (``peer`` None), or instead of it the peer library alone."""
    import django
    from django.conf import settings

    db = env_pg()
    conf: dict[str, Any] = {
        "SECRET_KEY": "near-bench",
        "USE_TZ": True,
        "DEFAULT_AUTO_FIELD": "django.db.models.AutoField",
        "INSTALLED_APPS": ["django.contrib.contenttypes", peer or "cachefresh", "tests.testapp"],
        "DATABASES": {
            "default": {
                "ENGINE": "django.db.backends.postgresql",
                "HOST": db["host"],
                "PORT": db["port"],
                "USER": db["user"],
                "PASSWORD": db["password"],
                "NAME": os.environ.get("NB_DB", DB_NAME),
            }
        },
        "CACHES": {"default": _cache()},
        "SILENCED_SYSTEM_CHECKS": ["cachefresh.W002"],
    }
    if peer is None:
        conf["CACHEFRESH"] = {
            "KEY_PREFIX": prefix(),
            "MODELS": ["testapp.Article"],
            "NEAR_CACHE": near,
        }
    elif peer == "cacheops":
        # Every key cacheops writes (results, conj and schemes sets) starts with its prefix.
        run = f"{prefix()}-cacheops:"
        conf["CACHEOPS_REDIS"] = env_redis_url()
        conf["CACHEOPS_PREFIX"] = lambda query: run
        conf["CACHEOPS"] = {"testapp.article": {"ops": "get", "timeout": 3600}}
    elif peer == "cachalot":
        # cachalot writes through a Django cache: its KEY_PREFIX is in every key.
        conf["CACHES"]["cachalot"] = redis_cache(env_redis_url(), f"{prefix()}-cachalot")
        conf["CACHALOT_CACHE"] = "cachalot"
        conf["CACHALOT_ONLY_CACHABLE_APPS"] = ["testapp"]
        conf["CACHALOT_TIMEOUT"] = 3600
    else:
        raise ValueError(f"unknown peer {peer!r}")
    settings.configure(**conf)
    django.setup()


def _cache() -> dict[str, Any]:
    """The run's Redis, or the private Redis Cluster whose node ``NB_CLUSTER`` names (the
    near cache on a cluster, :mod:`benchmarks.scenarios.near_cluster`)."""
    cluster = os.environ.get("NB_CLUSTER")
    if not cluster:
        return redis_cache(env_redis_url(), "")
    entry = redis_cache(cluster, "")
    entry["OPTIONS"]["CLIENT_CLASS"] = CLUSTER_CLIENT
    return entry


def ready_near() -> None:
    """Wait until this process's near cache (when on) serves: its tracking is subscribed."""
    from cachefresh import near

    cache = near.current()
    if cache is not None and not cache.wait_serving(10):
        raise RuntimeError("near cache tracking did not come up")


def warm(pks: list[int]) -> None:
    """Every row of ``pks`` read through ``cached_get`` until it is held in every tier."""
    from cachefresh import cached_get
    from tests.testapp.models import Article

    for _ in range(3):
        for pk in pks:
            cached_get(Article, pk)
