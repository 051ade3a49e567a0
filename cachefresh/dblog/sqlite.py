"""The log on SQLite: row triggers, and one listener at a time that polls.

Every written row runs its trigger and writes its log row in the writer's transaction. SQLite
drops its "truncate optimisation" for a table with triggers, so ``DELETE FROM t`` without a
``WHERE`` still logs each row. An ``INSERT OR REPLACE`` that deletes a row holding another
row's unique value logs the deleted row only with ``PRAGMA recursive_triggers`` on.

SQLite has no row locks. A listener claims with ``BEGIN IMMEDIATE`` (the database's write lock,
so no writer commits between its read and its delete), reads a batch, retires it, deletes it
and commits. Only one listener serves a database file at a time: each holds an exclusive
``flock`` on ``<database>-cachefresh-listen.lock`` for as long as it runs, and a second one
stops with an error naming the file; the lock goes with the process, however it ends. An
in-memory database cannot have a listener (no other process sees it).
"""

from __future__ import annotations

import contextlib
import fcntl
import sqlite3
import threading
from collections.abc import Iterator
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from cachefresh.dblog import LOG_TABLE
from cachefresh.dblog.dialect import Link, LogRow
from cachefresh.dblog.sql import (
    ROW_EVENTS,
    RowTriggers,
    literal,
    row_trigger,
)

CLAIM = f"SELECT id, table_name, row_pk FROM {LOG_TABLE} ORDER BY id LIMIT ?"
#: Beside the database file; the listener holds an exclusive flock on it.
LOCK_SUFFIX = "-cachefresh-listen.lock"


class SQLiteLink(Link):
    def __init__(self, alias: str) -> None:
        params = connections[alias].get_connection_params()
        # Autocommit at the driver: the claim opens its own BEGIN IMMEDIATE.
        self.connection = sqlite3.connect(**{**params, "isolation_level": None})

    @contextlib.contextmanager
    def claim(self, limit: int) -> Iterator[list[LogRow]]:
        self.connection.execute("BEGIN IMMEDIATE")
        try:
            rows: list[LogRow] = self.connection.execute(CLAIM, [limit]).fetchall()
            yield rows
            if rows:
                marks = ", ".join(["?"] * len(rows))
                self.connection.execute(
                    f"DELETE FROM {LOG_TABLE} WHERE id IN ({marks})", [r[0] for r in rows]
                )
            self.connection.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                self.connection.execute("ROLLBACK")
            raise

    def wait(self, seconds: float, stopping: threading.Event) -> None:
        stopping.wait(seconds)

    def close(self) -> None:
        self.connection.close()


class SQLite(RowTriggers):
    title = "SQLite"
    events = frozenset(ROW_EVENTS)
    errors = (sqlite3.Error,)
    backlog_sql = (
        "SELECT count(*), (julianday('now') - julianday(min(logged_at))) * 86400.0 "
        f"FROM {LOG_TABLE}"
    )

    found_sql = (
        "SELECT tbl_name, name FROM sqlite_master WHERE type = 'trigger' "
        "AND name LIKE %s ESCAPE '\\'"
    )

    def install_sql(
        self, connection: BaseDatabaseWrapper, table: str, pk_column: str, notify: bool
    ) -> list[str]:
        qn = connection.ops.quote_name
        log, name, pk = qn(LOG_TABLE), literal(table), qn(pk_column)

        def insert(row: str, where: str = "") -> str:
            return (
                f"INSERT INTO {log} (table_name, row_pk) "
                f"SELECT {name}, CAST({row}.{pk} AS TEXT){where};"
            )

        bodies = {
            "insert": insert("NEW"),
            # A key change retires the old key and the new one; otherwise one log row.
            "update": insert("OLD") + insert("NEW", f" WHERE NEW.{pk} IS NOT OLD.{pk}"),
            "delete": insert("OLD"),
        }
        return [
            *self.drop_sql(connection, table),
            *(
                f"CREATE TRIGGER {qn(row_trigger(event, table))} AFTER {event.upper()} "
                f"ON {qn(table)} FOR EACH ROW BEGIN {bodies[event]} END"
                for event in ROW_EVENTS
            ),
        ]

    def connect(self, alias: str) -> Link:
        return SQLiteLink(alias)

    @contextlib.contextmanager
    def listening(self, alias: str) -> Iterator[None]:
        connection: Any = connections[alias]
        if connection.is_in_memory_db():
            raise ImproperlyConfigured(
                f"Database {alias!r} is an in-memory SQLite database: no other process sees "
                "its writes, and a listener has nothing to serve. Use a database file."
            )
        path = f"{connection.settings_dict['NAME']}{LOCK_SUFFIX}"
        with open(path, "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ImproperlyConfigured(
                    f"Another listener serves SQLite database {alias!r} (it holds {path}): "
                    "SQLite takes one listener at a time."
                ) from None
            yield


DIALECT = SQLite()
