"""The invalidation log's tests on each database: which alias, the vendor's own SQL for the same
write, plain driver connections (another program's), and a SQLite database in a file.

Single-process tests run on ``pg``, ``mysql`` and the in-memory SQLite ``default``; tests with
a listener in another process need a SQLite file, which :func:`sqlite_file` makes behind the
``swappable`` alias and migrates.
"""

from __future__ import annotations

import contextlib
import io
import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.core.management import call_command
from django.db import connections

from tests.support.servers import require_mysql, require_servers

#: The alias of each database in single-process tests.
ALIASES = {"postgresql": "pg", "mysql": "mysql", "sqlite": "default"}
#: The alias pointed at a SQLite file when another process must see the database.
SQLITE_FILE = "swappable"

#: An upsert that updates an existing row, in each database's words.
UPSERT = {
    "postgresql": "INSERT INTO testapp_author (id, name, age) VALUES (%s, 'u', 0) "
    "ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name",
    "sqlite": "INSERT INTO testapp_author (id, name, age) VALUES (%s, 'u', 0) "
    "ON CONFLICT (id) DO UPDATE SET name = excluded.name",
    "mysql": "INSERT INTO testapp_author (id, name, age) VALUES (%s, 'u', 0) "
    "ON DUPLICATE KEY UPDATE name = VALUES(name)",
}
#: A ``logged_at`` 90 seconds ago, as each database computes its default.
AGED = {
    "postgresql": "now() - interval '90 seconds'",
    "mysql": "NOW(6) - INTERVAL 90 SECOND",
    "sqlite": "strftime('%Y-%m-%d %H:%M:%f', 'now', '-90 seconds')",
}


def require(vendor: str) -> None:
    if vendor == "postgresql":
        require_servers()
    elif vendor == "mysql":
        require_mysql()


def spec(alias: str) -> dict[str, Any]:
    """How another process reaches ``alias``'s database on a plain driver connection."""
    connection = connections[alias]
    s = connection.settings_dict
    if connection.vendor == "postgresql":
        conninfo = f"host={s['HOST']} port={s['PORT']} dbname={s['NAME']} user={s['USER']}"
        return {"vendor": "postgresql", "conninfo": conninfo}
    if connection.vendor == "mysql":
        params = {"host": s["HOST"], "port": int(s["PORT"]), "user": s["USER"]}
        params.update(passwd=s["PASSWORD"], db=s["NAME"], charset="utf8mb4")
        return {"vendor": "mysql", "params": params}
    return {"vendor": "sqlite", "path": str(s["NAME"])}


#: Python defining ``connect()`` (autocommit) and ``sql()`` (the driver's placeholders) for the
#: database ``spec`` (JSON in ``sys.argv[1]``) describes.
RAW = """
import json, sys
spec = json.loads(sys.argv[1])
def connect():
    if spec["vendor"] == "postgresql":
        import psycopg
        return psycopg.connect(spec["conninfo"], autocommit=True)
    if spec["vendor"] == "mysql":
        import MySQLdb
        connection = MySQLdb.connect(**spec["params"])
        connection.autocommit(True)
        return connection
    import sqlite3
    return sqlite3.connect(spec["path"], isolation_level=None, timeout=30)
def sql(text):
    return text.replace("%%", "%").replace("%s", "?") if spec["vendor"] == "sqlite" else text
"""


def run_raw_sql_on(alias: str, *statements: str) -> None:
    """Run statements in another process, on a plain driver connection, in autocommit."""
    script = RAW + "cursor = connect().cursor()\nfor s in sys.argv[2:]:\n    cursor.execute(s)\n"
    argv = [sys.executable, "-c", script, json.dumps(spec(alias)), *statements]
    subprocess.run(argv, check=True)


def other_connection(alias: str) -> Any:
    """A plain driver connection in autocommit, as another program has."""
    found = spec(alias)
    if found["vendor"] == "postgresql":
        import psycopg

        return psycopg.connect(found["conninfo"], autocommit=True)
    if found["vendor"] == "mysql":
        import MySQLdb

        connection = MySQLdb.connect(**found["params"])
        connection.autocommit(True)
        return connection
    return sqlite3.connect(found["path"], isolation_level=None, timeout=30)


def count_log(connection: Any) -> int:
    cursor = connection.cursor()
    cursor.execute("SELECT count(*) FROM cachefresh_log")
    return int(cursor.fetchone()[0])


def next_log_id(alias: str) -> int:
    """The id the log hands out next, taken by a row inserted and deleted: ids only grow
    (MariaDB, PostgreSQL and SQLite all have ``INSERT … RETURNING``)."""
    with contextlib.closing(other_connection(alias)) as connection:
        cursor = connection.cursor()
        cursor.execute(
            "INSERT INTO cachefresh_log (table_name) VALUES ('cachefresh_probe') RETURNING id"
        )
        found = int(cursor.fetchone()[0])
        cursor.execute(f"DELETE FROM cachefresh_log WHERE id = {found}")
    return found


@contextlib.contextmanager
def sqlite_file(tmp_path: Path) -> Iterator[str]:
    """:data:`SQLITE_FILE` pointed at a new file, migrated, in WAL mode (readers and the
    writer do not block each other); restored afterwards."""
    connection = connections[SQLITE_FILE]
    original = connection.settings_dict["NAME"]
    path = tmp_path / "log.sqlite3"
    with contextlib.closing(sqlite3.connect(path)) as setup:
        setup.execute("PRAGMA journal_mode=WAL")
    # Set aside, not closed: closing the last connection to the alias's in-memory test
    # database would destroy it, and later tests use it.
    in_memory, connection.connection = connection.connection, None
    connection.settings_dict["NAME"] = str(path)
    try:
        call_command(
            "migrate", database=SQLITE_FILE, run_syncdb=True, verbosity=0, stdout=io.StringIO()
        )
        yield SQLITE_FILE
    finally:
        connection.close()  # the file's connection
        connection.settings_dict["NAME"] = original
        connection.connection = in_memory
