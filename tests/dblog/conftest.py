"""The invalidation log's fixtures: triggers installed on one database, removed afterwards."""

import io
import uuid

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connections
from django.test import override_settings

from tests.support.dblog_databases import ALIASES, require, sqlite_file
from tests.support.dblog_procs import delete_cache_keys
from tests.support.routers import ACTIVE


def _call(*args):
    call_command("cachefresh", *args, stdout=io.StringIO(), stderr=io.StringIO())


def clear(alias):
    with connections[alias].cursor() as cursor:
        cursor.execute("DELETE FROM cachefresh_log")


def _installed(alias, cache):
    config = dict(settings.CACHEFRESH, CACHE=cache, KEY_PREFIX=f"t{uuid.uuid4().hex[:12]}")
    ACTIVE["alias"] = alias
    try:
        with override_settings(CACHEFRESH=config):
            _call("triggers", "install", "--database", alias)
            clear(alias)
            yield alias
            _call("triggers", "drop", "--database", alias)
            clear(alias)
            if cache == "redis":
                delete_cache_keys(config["KEY_PREFIX"])
    finally:
        ACTIVE["alias"] = "default"


@pytest.fixture(params=list(ALIASES))
def log_db(request):
    """Triggers on every cached table of one database (each in turn), in one process."""
    require(request.param)
    alias = ALIASES[request.param]
    yield from _installed(alias, "default" if alias == "default" else "redis")


@pytest.fixture(params=["postgresql", "mysql", "sqlite"])
def shared_log_db(request, tmp_path):
    """Triggers on a database other processes reach (a file for SQLite), Redis as the cache."""
    require(request.param)
    if request.param == "sqlite":
        require("postgresql")  # Redis: the cache processes share
        with sqlite_file(tmp_path) as alias:
            yield from _installed(alias, "redis")
    else:
        yield from _installed(ALIASES[request.param], "redis")
