"""Which servers this run reaches, and what a test needing a missing one does: skip, or fail
under CACHEFRESH_REQUIRE_SERVERS=1 (CI)."""

import os

import pytest
from django.conf import settings

REQUIRE_SERVERS = os.environ.get("CACHEFRESH_REQUIRE_SERVERS") == "1"
SERVERS = "pg" in settings.DATABASES
MYSQL_SERVERS = "mysql" in settings.DATABASES


def _skip_or_fail(message):
    if REQUIRE_SERVERS:
        pytest.fail(message + " and CACHEFRESH_REQUIRE_SERVERS=1", pytrace=False)
    pytest.skip(message)


def require_servers():
    if not SERVERS:
        _skip_or_fail("PostgreSQL or Redis unreachable")


def mysql_missing():
    from tests import settings as test_settings

    if not test_settings.MYSQL_DRIVER:
        return "the mysqlclient driver is not installed (pip install -e '.[test]')"
    return "MariaDB/MySQL or Redis unreachable"


def require_mysql():
    if not MYSQL_SERVERS:
        _skip_or_fail(mysql_missing())


def require_bench(*modules):
    """Skip unless ``modules`` (the benchmark's peers, matplotlib, rich, the debug toolbar) are
    installed: the peers come with the ``bench`` extra, not ``test``. With
    CACHEFRESH_REQUIRE_SERVERS=1 (CI, which installs both extras) a missing one fails instead."""
    import importlib.util

    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if not missing:
        return
    message = f"{', '.join(missing)} not installed (pip install -e '.[bench]')"
    if REQUIRE_SERVERS:
        pytest.fail(message + " and CACHEFRESH_REQUIRE_SERVERS=1", pytrace=False)
    pytest.skip(message)
