"""SQL text, messages and the row-trigger dialect the database modules share."""

from __future__ import annotations

import hashlib
from typing import ClassVar

from django.core.exceptions import ImproperlyConfigured
from django.db.backends.base.base import BaseDatabaseWrapper

from cachefresh.dblog import LOG_TABLE
from cachefresh.dblog.dialect import Dialect

#: Row triggers' names start with this; the rest names the event and hashes the table, as
#: MySQL and SQLite name triggers per database, not per table.
ROW_TRIGGER_PREFIX = "cachefresh_"


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def row_trigger(event: str, table: str) -> str:
    """``cachefresh_<event>_<hash of the table>``: within MySQL's 64 characters."""
    digest = hashlib.md5(table.encode(), usedforsecurity=False).hexdigest()[:16]
    return f"{ROW_TRIGGER_PREFIX}{event}_{digest}"


#: The row triggers of the databases that have no statement triggers (MySQL/MariaDB, SQLite).
ROW_EVENTS = ("insert", "update", "delete")


class RowTriggers(Dialect):
    """A database with row triggers only (MySQL/MariaDB, SQLite): one per event and table,
    named by :func:`row_trigger`, dropped and found alike; only the catalogue query differs."""

    #: Selects ``(table, trigger name)`` of the triggers whose name is ``LIKE %s``.
    found_sql: ClassVar[str]

    def drop_sql(self, connection: BaseDatabaseWrapper, table: str) -> list[str]:
        qn = connection.ops.quote_name
        return [f"DROP TRIGGER IF EXISTS {qn(row_trigger(event, table))}" for event in ROW_EVENTS]

    def found(self, connection: BaseDatabaseWrapper) -> list[tuple[str, str, bool]]:
        with connection.cursor() as cursor:
            cursor.execute(self.found_sql, [ROW_TRIGGER_PREFIX.replace("_", "\\_") + "%"])
            rows = cursor.fetchall()
        return [(table, event, False) for table, name in rows if (event := event_of(name))]


def event_of(trigger: str) -> str | None:
    """The event a row trigger named by :func:`row_trigger` fires on (``None``: not ours)."""
    parts = trigger.split("_")
    if len(parts) != 3 or f"{parts[0]}_" != ROW_TRIGGER_PREFIX or len(parts[2]) != 16:
        return None
    return parts[1]


def missing_log(connection: BaseDatabaseWrapper) -> ImproperlyConfigured:
    return ImproperlyConfigured(
        f"The log table {LOG_TABLE} does not exist on {connection.alias!r}: run "
        f"`manage.py migrate cachefresh --database {connection.alias}` first."
    )
