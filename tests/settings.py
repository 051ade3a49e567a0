"""Test settings: SQLite + LocMemCache always; PostgreSQL + Redis when reachable.

A router sends the ORM to whichever database the ``backend`` fixture chose, so the same test
body runs on both pairs.
"""

import os
import socket
import uuid
from typing import Any


def reachable(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


PG_HOST = os.environ.get("CACHEFRESH_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("CACHEFRESH_PG_PORT", "5432"))
REDIS_URL = os.environ.get("CACHEFRESH_REDIS_URL", "redis://127.0.0.1:6379/0")
SERVERS = reachable(PG_PORT, PG_HOST) and reachable(
    int(REDIS_URL.rsplit(":", 1)[1].split("/")[0]), REDIS_URL.split("//")[1].split(":")[0]
)
# Child processes of multi-process tests inherit these and so reach the same databases.
os.environ.setdefault("CACHEFRESH_TEST_DB", f"test_cachefresh_{os.getpid()}")
os.environ.setdefault("CACHEFRESH_TEST_RUN", uuid.uuid4().hex[:8])

SECRET_KEY = "cachefresh-tests"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "cachefresh",
    "tests.testapp",
    "tests.refreshapp",
    "tests.writeapp",
]

DATABASES: dict[str, dict[str, Any]] = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
    "other": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
    # Pointed at files by tests/test_databases.py, as the test runner renames a database.
    "swappable": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
    # A read replica of "default": the same database, through its own connection.
    "replica": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": ":memory:",
        "TEST": {"MIRROR": "default"},
    },
}
if SERVERS:
    DATABASES["pg"] = {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": PG_HOST,
        "PORT": PG_PORT,
        "NAME": "test",
        "USER": os.environ.get("CACHEFRESH_PG_USER", "postgres"),
        "TEST": {"NAME": os.environ["CACHEFRESH_TEST_DB"]},
    }
    DATABASES["pgreplica"] = dict(DATABASES["pg"], TEST={"MIRROR": "pg"})
    # The same database at REPEATABLE READ (psycopg's IsolationLevel.REPEATABLE_READ): one
    # snapshot per transaction, which may predate a fill's tokens.
    DATABASES["pgrepeatable"] = dict(
        DATABASES["pg"], OPTIONS={"isolation_level": 3}, TEST={"MIRROR": "pg"}
    )
DATABASE_ROUTERS = ["tests.routers.ActiveDatabaseRouter"]

CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "redis": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        # Every run has its own namespace on the shared Redis; nothing is ever flushed.
        "KEY_PREFIX": f"cachefresh-test-{os.environ['CACHEFRESH_TEST_RUN']}",
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
    },
}
CACHEFRESH = {"TIMEOUT": 600, "MODELS": ["testapp.Listed"]}
SILENCED_SYSTEM_CHECKS = ["cachefresh.W002"]
