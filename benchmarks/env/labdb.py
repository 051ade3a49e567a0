"""The lab's database server, one class per vendor: create and drop the lab database, connect
to it directly (autocommit) and read every hot row as committed.

``database["vendor"]`` picks the class: ``"postgresql"`` (the default) or ``"mysql"`` (MySQL or
MariaDB, through mysqlclient). On MySQL the lab also creates cachefresh's id table, as
``migrate cachefresh`` would: without it each route (a reader's latency proxy, a writer's
direct connection) would name the database by its settings, as two databases.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from typing import Any

# Mirrors benchmarks.stormapp.models.Row.
TABLE_SQL = (
    "CREATE TABLE stormapp_row (id integer PRIMARY KEY, value bigint NOT NULL, "
    "note varchar(64) NOT NULL, writes integer NOT NULL)"
)
INSERT_SQL = "INSERT INTO stormapp_row (id, value, note, writes) VALUES (%s, 0, 'initial', 0)"
COMMITTED_SQL = "SELECT id, value, note, writes FROM stormapp_row ORDER BY id"
PREFIX = "cachefresh_storm_"
Committed = dict[int, tuple[int, str, int]]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _orphans(names: list[str]) -> list[str]:
    """Lab databases are named after the process that made them: those whose process is gone."""
    found = []
    for name in names:
        pid = name[len(PREFIX) :].split("_")[0]
        if pid.isdigit() and not _alive(int(pid)):
            found.append(name)
    return found


class PostgresServer:
    engine = "django.db.backends.postgresql"

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = {key: value for key, value in params.items() if key != "vendor"}

    def connect(self, dbname: str | None = None) -> Any:
        import psycopg

        params = dict(self.params, **({"dbname": dbname} if dbname else {}))
        return psycopg.connect(**params, autocommit=True, connect_timeout=5)

    def create(self, name: str, pks: list[int]) -> None:
        import psycopg

        with self.connect() as server:
            rows = server.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE 'cachefresh\\_storm\\_%'"
            ).fetchall()
            for orphan in _orphans([row[0] for row in rows]):
                # Without FORCE: a database someone is still connected to is left alone.
                with contextlib.suppress(psycopg.Error):
                    server.execute(f'DROP DATABASE IF EXISTS "{orphan}"')
            server.execute(f'CREATE DATABASE "{name}"')
        with self.connect(name) as conn:
            conn.execute(TABLE_SQL)
            conn.cursor().executemany(INSERT_SQL, [(pk,) for pk in pks])

    def drop(self, name: str) -> None:
        with self.connect() as server:
            server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def committed(self, conn: Any) -> Committed:
        cursor = conn.execute(COMMITTED_SQL)
        return {pk: (value, note, writes) for pk, value, note, writes in cursor}


class MySQLServer:
    engine = "django.db.backends.mysql"

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params

    def connect(self, dbname: str | None = None) -> Any:
        import MySQLdb

        return MySQLdb.connect(
            host=self.params["host"],
            port=int(self.params["port"]),
            user=self.params["user"],
            password=self.params.get("password", ""),
            charset="utf8mb4",
            autocommit=True,
            connect_timeout=5,
            **({"database": dbname} if dbname else {}),
        )

    def create(self, name: str, pks: list[int]) -> None:
        import MySQLdb

        with contextlib.closing(self.connect()) as server, server.cursor() as cursor:
            cursor.execute("SHOW DATABASES LIKE 'cachefresh\\_storm\\_%'")
            for orphan in _orphans([row[0] for row in cursor.fetchall()]):
                with contextlib.suppress(MySQLdb.Error):
                    cursor.execute(f"DROP DATABASE IF EXISTS `{orphan}`")
            cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        with contextlib.closing(self.connect(name)) as conn, conn.cursor() as cursor:
            cursor.execute(TABLE_SQL)
            cursor.executemany(INSERT_SQL, [(pk,) for pk in pks])
            # What cachefresh's migration 0002 creates: the id that names the database.
            cursor.execute("CREATE TABLE cachefresh_database (id varchar(32) PRIMARY KEY)")
            cursor.execute("INSERT INTO cachefresh_database (id) VALUES (%s)", [uuid.uuid4().hex])

    def drop(self, name: str) -> None:
        with contextlib.closing(self.connect()) as server, server.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")

    def committed(self, conn: Any) -> Committed:
        with conn.cursor() as cursor:
            cursor.execute(COMMITTED_SQL)
            return {pk: (value, note, writes) for pk, value, note, writes in cursor.fetchall()}


def server_for(database: dict[str, Any]) -> PostgresServer | MySQLServer:
    vendor = database.get("vendor", "postgresql")
    if vendor == "postgresql":
        return PostgresServer(database)
    if vendor == "mysql":
        return MySQLServer(database)
    raise ValueError(f"database vendor must be 'postgresql' or 'mysql', not {vendor!r}")
