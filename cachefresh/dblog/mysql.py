"""The log on MySQL and MariaDB: row triggers, and listeners that poll.

MySQL has row-level triggers only (no statement triggers, no transition tables), so every
written row runs its trigger and writes its log row. ``TRUNCATE`` fires no trigger, nor do the
deletes and updates InnoDB makes for a foreign key's ``ON DELETE CASCADE``: cachefresh sees a
``TRUNCATE`` sent through Django (the compiler hook and the statement net) and knows Django's
own cascades, but a ``TRUNCATE`` or a cascade from another program is not logged.

There is no ``NOTIFY``: listeners poll. A listener claims rows with ``SELECT … FOR UPDATE SKIP
LOCKED`` (MySQL 8.0+, MariaDB 10.6+), retires them, then deletes them and commits in the same
transaction; rows another listener holds are skipped, and a listener that dies leaves its rows
locked only until the server sees its connection gone. Its session runs READ COMMITTED:
under REPEATABLE READ a locking read that reaches the end of the log takes a gap lock there,
and every writer's log insert would wait for the listener's commit.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import MySQLdb  # type: ignore[import-untyped]  # loaded only where Django's backend uses it
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from cachefresh.dblog import LOG_TABLE
from cachefresh.dblog.dialect import Link, LogRow, Unsupported
from cachefresh.dblog.sql import (
    ROW_EVENTS,
    RowTriggers,
    literal,
    row_trigger,
)

CLAIM = (
    f"SELECT id, table_name, row_pk FROM {LOG_TABLE} ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED"
)


class MySQLLink(Link):
    def __init__(self, alias: str) -> None:
        wrapper = connections[alias]
        self.connection: Any = MySQLdb.connect(**wrapper.get_connection_params())
        self.connection.autocommit(False)
        with self.connection.cursor() as cursor:
            cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")

    @contextlib.contextmanager
    def claim(self, limit: int) -> Iterator[list[LogRow]]:
        cursor = self.connection.cursor()
        try:
            cursor.execute(CLAIM, [limit])
            rows: list[LogRow] = list(cursor.fetchall())
            yield rows
            # After retiring, in the claim's transaction: a listener that dies before the
            # commit leaves every row in the log for the next one.
            if rows:
                marks = ", ".join(["%s"] * len(rows))
                cursor.execute(
                    f"DELETE FROM {LOG_TABLE} WHERE id IN ({marks})", [r[0] for r in rows]
                )
            self.connection.commit()
        except BaseException:
            with contextlib.suppress(Exception):
                self.connection.rollback()
            raise
        finally:
            cursor.close()

    def wait(self, seconds: float, stopping: threading.Event) -> None:
        stopping.wait(seconds)

    def close(self) -> None:
        self.connection.close()


class MySQL(RowTriggers):
    title = "MySQL/MariaDB"
    events = frozenset(ROW_EVENTS)
    errors = (MySQLdb.Error,)
    backlog_sql = (
        "SELECT count(*), TIMESTAMPDIFF(MICROSECOND, min(logged_at), NOW(6)) / 1e6 "
        f"FROM {LOG_TABLE}"
    )

    found_sql = (
        "SELECT event_object_table, trigger_name FROM information_schema.triggers "
        "WHERE trigger_schema = DATABASE() AND trigger_name LIKE %s"
    )

    def check(self, connection: BaseDatabaseWrapper) -> None:
        if not connection.features.has_select_for_update_skip_locked:
            raise Unsupported(
                f"The invalidation log needs SELECT … FOR UPDATE SKIP LOCKED (MySQL 8.0+, "
                f"MariaDB 10.6+); database {connection.alias!r} runs "
                f"{'.'.join(map(str, connection.mysql_version))}."  # type: ignore[attr-defined]
            )

    def install_sql(
        self, connection: BaseDatabaseWrapper, table: str, pk_column: str, notify: bool
    ) -> list[str]:
        qn = connection.ops.quote_name
        log, name, pk = qn(LOG_TABLE), literal(table), qn(pk_column)

        def insert(row: str) -> str:
            return (
                f"INSERT INTO {log} (table_name, row_pk) VALUES ({name}, CAST({row}.{pk} AS CHAR))"
            )

        bodies = {
            "insert": insert("NEW"),
            # A key change retires the old key and the new one; otherwise one log row.
            "update": f"BEGIN {insert('OLD')}; IF NOT (NEW.{pk} <=> OLD.{pk}) THEN "
            f"{insert('NEW')}; END IF; END",
            "delete": insert("OLD"),
        }
        # MariaDB replaces a trigger in one statement; MySQL has no OR REPLACE for triggers.
        replace = "CREATE OR REPLACE" if connection.mysql_is_mariadb else "CREATE"  # type: ignore[attr-defined]
        statements = [] if connection.mysql_is_mariadb else self.drop_sql(connection, table)  # type: ignore[attr-defined]
        for event in ROW_EVENTS:
            statements.append(
                f"{replace} TRIGGER {qn(row_trigger(event, table))} AFTER {event.upper()} "
                f"ON {qn(table)} FOR EACH ROW {bodies[event]}"
            )
        return statements

    def connect(self, alias: str) -> Link:
        return MySQLLink(alias)


DIALECT = MySQL()
