"""Test settings: SQLite + LocMemCache always; PostgreSQL + Redis and MariaDB (or MySQL) + Redis
when reachable.

A router sends the ORM to whichever database the ``backend`` fixture chose, so the same test
body runs on every pair.
"""

import importlib.util
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
REDIS_UP = reachable(
    int(REDIS_URL.rsplit(":", 1)[1].split("/")[0]), REDIS_URL.split("//")[1].split(":")[0]
)
SERVERS = reachable(PG_PORT, PG_HOST) and REDIS_UP
MYSQL_HOST = os.environ.get("CACHEFRESH_MYSQL_HOST", "127.0.0.1")
MYSQL_PORT = int(os.environ.get("CACHEFRESH_MYSQL_PORT", "3306"))
MYSQL_DRIVER = importlib.util.find_spec("MySQLdb") is not None
MYSQL_SERVERS = reachable(MYSQL_PORT, MYSQL_HOST) and REDIS_UP and MYSQL_DRIVER
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
    "tests.diffapp",
]

DATABASES: dict[str, dict[str, Any]] = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
    "other": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
    # Pointed at files by tests/store/test_databases.py, as the test runner renames a database.
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
if MYSQL_SERVERS:
    DATABASES["mysql"] = {
        "ENGINE": "django.db.backends.mysql",
        "HOST": MYSQL_HOST,
        "PORT": MYSQL_PORT,
        "NAME": "test",
        "USER": os.environ.get("CACHEFRESH_MYSQL_USER", "root"),
        "PASSWORD": os.environ.get("CACHEFRESH_MYSQL_PASSWORD", ""),
        "OPTIONS": {"charset": "utf8mb4"},
        # A binary collation without padding, as PostgreSQL's and SQLite's defaults compare:
        # the suite's expectations hold, and unique lookups are served from the cache
        # (test_unique_mysql.py covers the case-insensitive and padding ones).
        "TEST": {
            "NAME": os.environ["CACHEFRESH_TEST_DB"],
            "CHARSET": "utf8mb4",
            "COLLATION": "utf8mb4_nopad_bin",
        },
    }
    # The same database by another route: "localhost" makes the driver use the server's Unix
    # socket, so only the database itself can tell the two routes are one.
    DATABASES["mysqlsocket"] = dict(
        DATABASES["mysql"],
        HOST=os.environ.get("CACHEFRESH_MYSQL_SOCKET_HOST", "localhost"),
        PORT="",
        TEST={"MIRROR": "mysql"},
    )
    # REPEATABLE READ, set by Django: one snapshot per transaction, which may predate a fill's
    # tokens.
    DATABASES["mysqlrepeatable"] = dict(
        DATABASES["mysql"],
        OPTIONS={"charset": "utf8mb4", "isolation_level": "repeatable read"},
        TEST={"MIRROR": "mysql"},
    )
    # No level in the settings (the server's default, REPEATABLE READ), but an init_command
    # that sets READ COMMITTED: only the session itself says which it runs.
    DATABASES["mysqlinit"] = dict(
        DATABASES["mysql"],
        OPTIONS={
            "charset": "utf8mb4",
            "isolation_level": None,
            "init_command": "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
        },
        TEST={"MIRROR": "mysql"},
    )
DATABASE_ROUTERS = ["tests.support.routers.ActiveDatabaseRouter"]

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
