import gc
import uuid

import pytest
from django.conf import settings
from django.core.cache import caches
from django.test import override_settings

from tests.support.routers import ACTIVE
from tests.support.servers import (
    MYSQL_SERVERS,
    SERVERS,
    mysql_missing,
    require_mysql,
    require_servers,
)

PAIRS = {
    "sqlite-locmem": ("default", "default"),
    "postgres-redis": ("pg", "redis"),
    "mariadb-redis": ("mysql", "redis"),
}


def pytest_report_header(config):
    lines = []
    if SERVERS:
        lines.append("cachefresh: PostgreSQL + Redis reachable; the postgres-redis pair runs")
    else:
        lines.append("cachefresh: PostgreSQL/Redis unreachable; the postgres-redis pair is SKIPPED")
    if MYSQL_SERVERS:
        lines.append("cachefresh: MariaDB/MySQL + Redis reachable; the mariadb-redis pair runs")
    else:
        lines.append(f"cachefresh: {mysql_missing()}; the mariadb-redis pair is SKIPPED")
    return lines


@pytest.fixture(scope="session", autouse=True)
def _forget_this_runs_keys():
    """Every key this run wrote to the shared Redis carries the run's KEY_PREFIX: delete them
    all at the end, whatever a test left behind (locks, tokens, entries, counters)."""
    yield
    if not (SERVERS or MYSQL_SERVERS):
        return
    client = caches["redis"].client.get_client(write=True)
    pattern = f"{settings.CACHES['redis']['KEY_PREFIX']}:*"
    doomed = list(client.scan_iter(match=pattern, count=1000))
    for start in range(0, len(doomed), 1000):
        client.delete(*doomed[start : start + 1000])


@pytest.fixture(params=list(PAIRS))
def backend(request):
    """Run the test on each database + cache pair, with a fresh key namespace."""
    if request.param == "postgres-redis":
        require_servers()
    elif request.param == "mariadb-redis":
        require_mysql()
    alias, cache_alias = PAIRS[request.param]
    config = dict(settings.CACHEFRESH, CACHE=cache_alias, KEY_PREFIX=f"t{uuid.uuid4().hex[:12]}")
    caches["default"].clear()
    ACTIVE["alias"] = alias
    with override_settings(CACHEFRESH=config):
        yield alias
    ACTIVE["alias"] = "default"


@pytest.fixture
def servers(request):
    """PostgreSQL + Redis only (multi-process tests)."""
    require_servers()
    config = dict(settings.CACHEFRESH, CACHE="redis", KEY_PREFIX=f"t{uuid.uuid4().hex[:12]}")
    ACTIVE["alias"] = "pg"
    with override_settings(CACHEFRESH=config):
        yield "pg"
    ACTIVE["alias"] = "default"


@pytest.fixture
def mysql_servers(request):
    """MariaDB (or MySQL) + Redis only."""
    require_mysql()
    config = dict(settings.CACHEFRESH, CACHE="redis", KEY_PREFIX=f"t{uuid.uuid4().hex[:12]}")
    ACTIVE["alias"] = "mysql"
    with override_settings(CACHEFRESH=config):
        yield "mysql"
    ACTIVE["alias"] = "default"


@pytest.fixture
def collector_off():
    """No garbage collection while a fault test times its calls: late in the suite one full
    collection took 150-190 ms on a 2-core CI machine, as long as the cache timeout the test
    counts (a call over 0.15 s was counted as a second timeout paid)."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


#: The servers each pair's tests may use besides the SQLite databases every test has.
_PAIR_SERVERS = {"sqlite-locmem": (), "postgres-redis": ("pg",), "mariadb-redis": ("mysql",)}


def pytest_collection_modifyitems(config, items):
    """A transactional test flushes every database it may use after it runs. A test run on one
    backend pair (``backend``) uses that pair's server only, besides the in-memory SQLite
    databases: flush that one (its mirrors share it), not every server's. A test that reads
    every database whatever its pair says so with ``@pytest.mark.every_database``."""
    sqlite = [alias for alias, db in settings.DATABASES.items() if "sqlite" in db["ENGINE"]]
    for item in items:
        marker = item.get_closest_marker("django_db")
        callspec = getattr(item, "callspec", None)
        pair = callspec.params.get("backend") if callspec is not None else None
        if (
            marker is None
            or marker.kwargs.get("databases") != "__all__"
            or pair not in PAIRS
            or item.get_closest_marker("every_database")
        ):
            continue
        servers = [
            alias
            for alias, db in settings.DATABASES.items()
            if alias in _PAIR_SERVERS[pair]
            or db.get("TEST", {}).get("MIRROR") in _PAIR_SERVERS[pair]
        ]
        kwargs = {**marker.kwargs, "databases": [*sqlite, *servers]}
        item.add_marker(pytest.mark.django_db(*marker.args, **kwargs))
