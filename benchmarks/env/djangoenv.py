"""One in-process Django for the whole run, configured from a JSON-able spec.

The spec travels to peer and worker subprocesses on their command line, so each of them sees
the same databases, tables and cache servers as the main process.
"""

from __future__ import annotations

import os
from typing import Any

from benchmarks.env.backends import CACHEOPS_REDIS_DB

Spec = dict[str, Any]


def latency_alias(kind: str, delay_ms: float) -> str:
    """The database or cache alias that reaches the server through a proxy adding ``delay_ms``."""
    return f"{kind}_lat{delay_ms:g}".replace(".", "_")


def _pg(spec: Spec, port: int | None = None) -> dict[str, Any]:
    pg = spec["pg"]
    return {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": pg["host"],
        "PORT": port or pg["port"],
        "NAME": pg["dbname"],
        "USER": pg["user"],
        "PASSWORD": pg["password"],
        # Persistent connections: the benchmark measures queries, not connecting.
        "CONN_MAX_AGE": None,
    }


def redis_cache(url: str, prefix: str) -> dict[str, Any]:
    """A django-redis cache on ``url`` under ``prefix``, with the benchmarks' client options."""
    return {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": url,
        "KEY_PREFIX": prefix,
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 2},
    }


def settings_for(spec: Spec, peer: str | None = None) -> dict[str, Any]:
    run = spec["run_id"]
    databases: dict[str, Any] = {
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": spec["sqlite_path"]},
    }
    caches: dict[str, Any] = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    }
    redis_url = spec.get("redis_url")
    if spec.get("pg"):
        databases["pg"] = _pg(spec)
    if redis_url:
        caches["redis"] = redis_cache(redis_url, f"cfbench-{run}")
    for delay, port in spec.get("db_proxies", {}).items():
        databases[latency_alias("pg", float(delay))] = _pg(spec, port)
    for delay, port in spec.get("cache_proxies", {}).items():
        host = redis_url.split("//", 1)[1].rsplit(":", 1)[0]
        tail = redis_url.rsplit("/", 1)[1]
        caches[latency_alias("redis", float(delay))] = redis_cache(
            f"redis://{host}:{port}/{tail}", f"cfbench-{run}"
        )
    conf: dict[str, Any] = {
        "SECRET_KEY": "cachefresh-benchmarks",
        "DEBUG": False,
        "USE_TZ": True,
        "TIME_ZONE": "UTC",
        "DEFAULT_AUTO_FIELD": "django.db.models.AutoField",
        "DATABASES": databases,
        "CACHES": caches,
        "INSTALLED_APPS": ["benchmarks.benchapp"],
        "SILENCED_SYSTEM_CHECKS": ["cachefresh.W002"],
    }
    _library(conf, spec, peer)
    return conf


def _library(conf: dict[str, Any], spec: Spec, peer: str | None) -> None:
    """Install the library under test: cachefresh, or one peer in its place."""
    run, redis_url, caches = spec["run_id"], spec.get("redis_url"), conf["CACHES"]
    if peer is None:
        conf["INSTALLED_APPS"].insert(0, "cachefresh")
        conf["CACHEFRESH"] = {"CACHE": "default", "KEY_PREFIX": f"cf{run}", "TIMEOUT": 3600}
    elif peer == "cacheops":
        conf["INSTALLED_APPS"].append("cacheops")
        conf["CACHEOPS_REDIS"] = f"{redis_url.rsplit('/', 1)[0]}/{CACHEOPS_REDIS_DB}"
        conf["CACHEOPS"] = {"benchapp.*": {"ops": (), "timeout": 3600}}
        conf["CACHEOPS_PREFIX"] = _cacheops_prefix(run)
    elif peer == "cachalot":
        conf["INSTALLED_APPS"].append("cachalot")
        cache_alias = spec["peer_cache"]
        if cache_alias == "redis":
            caches["redis"] = redis_cache(redis_url, f"cachalot-{run}")
        conf["CACHALOT_CACHE"] = cache_alias
        conf["CACHALOT_DATABASES"] = [spec["peer_db"]]
        conf["CACHALOT_ONLY_CACHABLE_APPS"] = ["benchapp"]
        conf["CACHALOT_TIMEOUT"] = 3600
    else:
        raise ValueError(f"unknown peer {peer!r}")


def _cacheops_prefix(run: str) -> Any:
    prefix = f"cfbench-{run}:"
    return lambda query: prefix


def configure(spec: Spec, peer: str | None = None) -> None:
    """Configure and set up Django for ``spec``; call once per process, before any model import."""
    import django
    from django.conf import settings

    # Read by benchapp.models at import: tables under a prefix nobody else uses.
    os.environ["CACHEFRESH_BENCH_TABLE_PREFIX"] = spec["table_prefix"]
    settings.configure(**settings_for(spec, peer))
    django.setup()
