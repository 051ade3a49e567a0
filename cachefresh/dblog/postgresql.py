"""The log on PostgreSQL: statement-level triggers with transition tables, ``pg_notify``.

One function per table and one statement-level trigger per event: transition tables
(``REFERENCING OLD TABLE … NEW TABLE …``) need a trigger of their own per event, and let a
10,000-row ``UPDATE`` write its log rows with one ``INSERT … SELECT`` instead of 10,000 calls.
An ``UPDATE`` logs old and new primary keys, so one that changes a key retires both;
``TRUNCATE`` logs one "whole table" row. Listeners claim with ``DELETE … FOR UPDATE SKIP
LOCKED … RETURNING``, so several share the log without taking a row twice; ``pg_notify`` only
wakes them, as notifications sent while one is disconnected are lost.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Iterator
from typing import Any

import psycopg
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from cachefresh.dblog import CHANNEL, LOG_TABLE
from cachefresh.dblog.dialect import Dialect, Link, LogRow
from cachefresh.dblog.sql import literal, missing_log

TRIGGER_PREFIX = "cachefresh_"
_TRANSITIONS = {
    "insert": "REFERENCING NEW TABLE AS new_rows",
    "update": "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "delete": "REFERENCING OLD TABLE AS old_rows",
    "truncate": "",
}
CLAIM = (
    f"DELETE FROM {LOG_TABLE} WHERE id IN "
    f"(SELECT id FROM {LOG_TABLE} ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED) "
    "RETURNING id, table_name, row_pk"
)


def function_name(table: str) -> str:
    # Hashed: "cachefresh_log_" + a 63-character table name would pass PostgreSQL's limit.
    return "cachefresh_log_" + hashlib.md5(table.encode(), usedforsecurity=False).hexdigest()[:16]


def log_table(connection: BaseDatabaseWrapper) -> str:
    """The log table's schema-qualified name: triggers fire under the writer's search_path."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.oid = to_regclass(%s)",
            [LOG_TABLE],
        )
        found = cursor.fetchone()
    if found is None:
        raise missing_log(connection)
    qn = connection.ops.quote_name
    return f"{qn(found[0])}.{qn(LOG_TABLE)}"


class PostgresLink(Link):
    def __init__(self, alias: str) -> None:
        params = connections[alias].get_connection_params()
        self.connection: psycopg.Connection[Any] = psycopg.connect(**params, autocommit=True)
        try:
            self.connection.execute(f"LISTEN {CHANNEL}")
        except psycopg.Error:
            self.connection.close()
            raise

    @contextlib.contextmanager
    def claim(self, limit: int) -> Iterator[list[LogRow]]:
        with self.connection.transaction():
            yield self.connection.execute(CLAIM, (limit,)).fetchall()

    def wait(self, seconds: float, stopping: threading.Event) -> None:
        # A notification that came during the drain is kept by psycopg: no wait then.
        for _ in self.connection.notifies(timeout=seconds, stop_after=1):
            pass

    def close(self) -> None:
        self.connection.close()


class PostgreSQL(Dialect):
    title = "PostgreSQL"
    events = frozenset(("insert", "update", "delete", "truncate"))
    errors = (psycopg.Error,)
    backlog_sql = (
        f"SELECT count(*), EXTRACT(EPOCH FROM clock_timestamp() - min(logged_at)) FROM {LOG_TABLE}"
    )
    can_notify = True

    def install_sql(
        self, connection: BaseDatabaseWrapper, table: str, pk_column: str, notify: bool
    ) -> list[str]:
        qn, log = connection.ops.quote_name, log_table(connection)
        name, pk = literal(table), f"{qn(pk_column)}::text"
        wake = f"IF FOUND THEN PERFORM pg_notify({literal(CHANNEL)}, ''); END IF;" if notify else ""
        function = f"""
CREATE OR REPLACE FUNCTION {qn(function_name(table))}() RETURNS trigger
LANGUAGE plpgsql AS $cachefresh$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO {log} (table_name, row_pk) SELECT {name}, {pk} FROM new_rows;
  ELSIF TG_OP = 'UPDATE' THEN
    INSERT INTO {log} (table_name, row_pk)
      SELECT {name}, {pk} FROM old_rows UNION SELECT {name}, {pk} FROM new_rows;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO {log} (table_name, row_pk) SELECT {name}, {pk} FROM old_rows;
  ELSE
    INSERT INTO {log} (table_name, row_pk) VALUES ({name}, NULL);
  END IF;
  {wake}
  RETURN NULL;
END
$cachefresh$"""
        triggers = [
            f"CREATE OR REPLACE TRIGGER {qn(TRIGGER_PREFIX + event)} AFTER {event.upper()} "
            f"ON {qn(table)} {_TRANSITIONS[event]} FOR EACH STATEMENT "
            f"EXECUTE FUNCTION {qn(function_name(table))}()"
            for event in _TRANSITIONS
        ]
        return [function, *triggers]

    def drop_sql(self, connection: BaseDatabaseWrapper, table: str) -> list[str]:
        qn = connection.ops.quote_name
        return [
            *(
                f"DROP TRIGGER IF EXISTS {qn(TRIGGER_PREFIX + e)} ON {qn(table)}"
                for e in _TRANSITIONS
            ),
            f"DROP FUNCTION IF EXISTS {qn(function_name(table))}()",
        ]

    def found(self, connection: BaseDatabaseWrapper) -> list[tuple[str, str, bool]]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT c.relname, t.tgname, p.prosrc LIKE '%%pg_notify%%' FROM pg_trigger t "
                "JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_proc p ON p.oid = t.tgfoid "
                "WHERE t.tgname = ANY(%s) AND pg_table_is_visible(c.oid)",
                [[TRIGGER_PREFIX + event for event in _TRANSITIONS]],
            )
            return [(t, name.removeprefix(TRIGGER_PREFIX), n) for t, name, n in cursor.fetchall()]

    def connect(self, alias: str) -> Link:
        return PostgresLink(alias)


DIALECT = PostgreSQL()
