"""How many Python function calls one operation makes, and where: the measure of a hit path's
length that does not move with the machine's load (issue 21 and 22's "calls and modules deep").

Run it as a script to count the hits of each tier on a private database and key prefix::

    python -m benchmarks.parts.callcount            # SQLite + LocMem, Redis tier, near tier
    python benchmarks/parts/callcount.py --json     # the same, as JSON

Run by path with another checkout first on ``PYTHONPATH`` it counts that checkout's cachefresh:
the "before" of docs/benchmarks.md came from the commit before issue 21 that way.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

#: Top-level packages reported on their own; everything else counts as "other".
PACKAGES = ("cachefresh", "django", "redis", "django_redis", "msgpack")


def _package(filename: str) -> str:
    parts = filename.replace("\\", "/").split("/")
    for name in PACKAGES:
        if name in parts:
            # The innermost match: django_redis lives beside django in site-packages.
            return max((p for p in PACKAGES if p in parts), key=parts.index)
    return "other"


def calls_of(operation: Callable[[], Any]) -> dict[str, Any]:
    """Run ``operation`` once and count the Python calls it makes: in all, per package, and the
    distinct modules of cachefresh they run in."""
    per_package: Counter[str] = Counter()
    modules: set[str] = set()

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event != "call":
            return
        filename = frame.f_code.co_filename
        package = _package(filename)
        per_package[package] += 1
        if package == "cachefresh":
            modules.add(filename.rsplit("cachefresh/", 1)[-1])

    sys.setprofile(profile)
    try:
        operation()
    finally:
        sys.setprofile(None)
    per_package["other"] -= 1  # the operation's own lambda
    return {
        "calls": sum(per_package.values()),
        "cachefresh_calls": per_package["cachefresh"],
        "cachefresh_modules": len(modules),
        "by_package": dict(per_package),
        "modules": sorted(modules),
    }


# --- the script: one row, each tier's hit counted ------------------------------------------


def _env_pg() -> dict[str, Any]:
    # The tests' variables, read here: benchmarks.env of an older checkout may lack the reader.
    return {
        "host": os.environ.get("CACHEFRESH_PG_HOST", "127.0.0.1"),
        "port": int(os.environ.get("CACHEFRESH_PG_PORT", "5432")),
        "user": os.environ.get("CACHEFRESH_PG_USER", "postgres"),
        "password": os.environ.get("CACHEFRESH_PG_PASSWORD", ""),
    }


def _configure(sqlite_path: str, pg_name: str, prefix: str) -> None:
    import django
    from django.conf import settings

    pg = _env_pg()
    settings.configure(
        DATABASES={
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": sqlite_path},
            "pg": {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": pg_name,
                "HOST": pg["host"],
                "PORT": pg["port"],
                "USER": pg["user"],
                "PASSWORD": pg["password"],
            },
        },
        CACHES={
            "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
            "redis": {
                "BACKEND": "django_redis.cache.RedisCache",
                "LOCATION": os.environ.get("CACHEFRESH_REDIS_URL", "redis://127.0.0.1:6379/0"),
                "KEY_PREFIX": prefix,
            },
        },
        INSTALLED_APPS=["cachefresh", "benchmarks.benchapp"],
        CACHEFRESH={"CACHE": "default"},
        USE_TZ=True,
    )
    django.setup()


@contextmanager
def _pg_database(name: str) -> Iterator[None]:
    import psycopg

    pg = _env_pg()
    params = {k: pg[k] for k in ("host", "port", "user", "password")}
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(dbname="postgres", autocommit=True, **params) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _row(alias: str) -> int:
    import datetime

    from django.db import connections

    from benchmarks.benchapp.models import Narrow

    with connections[alias].schema_editor() as editor:
        editor.create_model(Narrow)
    row = Narrow.objects.using(alias).create(
        counter=1,
        title="t",
        updated=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
        score=1.5,
        flag=True,
        amount=2**40,
        code="c",
        born=datetime.date(2000, 1, 1),
        rank=3,
    )
    return int(row.pk)


def _counts(alias: str, pk: int) -> dict[str, dict[str, Any]]:
    """The hit of each public read, warmed first (twice: a first hit may learn things)."""
    from benchmarks.benchapp.models import Narrow
    from cachefresh import cached_get, cached_get_many

    manager = Narrow._default_manager.db_manager(alias)
    operations: dict[str, Callable[[], Any]] = {
        "cached_get(Model, pk)": lambda: cached_get(Narrow, pk, using=alias),
        "Model.objects.cached_get(pk=…)": lambda: manager.cached_get(pk=pk),
        "cached_get_many(Model, [pk])": lambda: cached_get_many(Narrow, [pk], using=alias),
    }
    found = {}
    for name, operation in operations.items():
        operation()
        operation()
        found[name] = calls_of(operation)
    return found


def _near_serving(timeout: float) -> bool:
    import time

    from cachefresh import near

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = near.current()
        if current is not None and current.tier.serving():
            return True
        time.sleep(0.01)
    return False


def _clear_redis(prefix: str) -> None:
    from django_redis import get_redis_connection

    client = get_redis_connection("redis")
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)


def measure() -> dict[str, dict[str, dict[str, Any]]]:
    token = uuid.uuid4().hex[:10]
    os.environ["CACHEFRESH_BENCH_TABLE_PREFIX"] = f"cfcalls_{token}"
    prefix = f"cfcalls-{token}"
    with tempfile.TemporaryDirectory() as scratch:
        _configure(os.path.join(scratch, "calls.sqlite3"), f"cfcalls_{token}", prefix)
        from django.test.utils import override_settings

        results: dict[str, dict[str, dict[str, Any]]] = {}
        results["SQLite + LocMem"] = _counts("default", _row("default"))
        with _pg_database(f"cfcalls_{token}"):
            pk = _row("pg")
            try:
                with override_settings(CACHEFRESH={"CACHE": "redis"}):
                    results["PostgreSQL + Redis tier"] = _counts("pg", pk)
                near = {"CACHE": "redis", "NEAR_CACHE": True}
                with override_settings(CACHEFRESH=near):
                    if not _near_serving(5.0):
                        raise RuntimeError("the near cache did not start serving")
                    results["PostgreSQL + near tier"] = _counts("pg", pk)
            finally:
                _clear_redis(prefix)
    return results


def _table(results: dict[str, dict[str, dict[str, Any]]]) -> str:
    lines = [
        "| hit | read | cachefresh calls | cachefresh modules | all calls |",
        "| --- | --- | --- | --- | --- |",
    ]
    for tier, reads in results.items():
        for read, found in reads.items():
            lines.append(
                f"| {tier} | `{read}` | {found['cachefresh_calls']} | "
                f"{found['cachefresh_modules']} | {found['calls']} |"
            )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    results = measure()
    print(json.dumps(results, indent=1) if "--json" in argv else _table(results))
    return 0


if __name__ == "__main__":
    # Run by path: make the checkout this file belongs to importable after PYTHONPATH's.
    sys.path.append(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    raise SystemExit(main(sys.argv[1:]))
