"""The triggers that fill the log: SQL, installation, removal and status (PostgreSQL).

One function per table and one statement-level trigger per event: transition tables
(``REFERENCING OLD TABLE … NEW TABLE …``) need a trigger of their own per event, and let a
10,000-row ``UPDATE`` write its log rows with one ``INSERT … SELECT`` instead of 10,000 calls.
An ``UPDATE`` logs old and new primary keys, so one that changes a key retires both.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from django.apps import apps
from django.apps.registry import Apps
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model

from cachefresh.conf import get_settings
from cachefresh.dblog import CHANNEL, LOG_TABLE
from cachefresh.registry import registry

EVENTS = ("insert", "update", "delete", "truncate")
TRIGGER_PREFIX = "cachefresh_"
_TRANSITIONS = {
    "insert": "REFERENCING NEW TABLE AS new_rows",
    "update": "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "delete": "REFERENCING OLD TABLE AS old_rows",
    "truncate": "",
}


@dataclass(frozen=True)
class TableStatus:
    table: str
    events: frozenset[str]  # the events that have a cachefresh trigger
    notifies: bool
    cached: bool

    @property
    def installed(self) -> bool:
        return self.events == frozenset(EVENTS)


def cached_tables() -> dict[str, str]:
    """Every table sharing rows with a cached model, mapped to its primary key column."""
    tables: dict[str, str] = {}
    for model in registry.cached_models():
        tables.update(family_tables(apps, model._meta.label))
    return tables


def family_tables(apps: Apps, label: str) -> dict[str, str]:
    """The tables sharing rows with ``label``'s model, each with its primary key column."""
    model: type[Model] = apps.get_model(label)
    root = model._meta.concrete_model
    assert root is not None
    while root._meta.parents:
        root = next(iter(root._meta.parents))._meta.concrete_model
        assert root is not None
    return {
        member._meta.db_table: str(member._meta.pk.column)
        for member in apps.get_models()
        if not member._meta.proxy and (member is root or root in member._meta.get_parent_list())
    }


def postgresql(alias: str) -> BaseDatabaseWrapper:
    connection = connections[alias]
    if connection.vendor != "postgresql":
        raise ImproperlyConfigured(
            f"Log triggers need PostgreSQL; database {alias!r} is {connection.vendor}. "
            "Call cachefresh.invalidate() after writes Django cannot see there."
        )
    return connection


def function_name(table: str) -> str:
    # Hashed: "cachefresh_log_" + a 63-character table name would pass PostgreSQL's limit.
    return "cachefresh_log_" + hashlib.md5(table.encode(), usedforsecurity=False).hexdigest()[:16]


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def install_sql(
    connection: BaseDatabaseWrapper, table: str, pk_column: str, log: str, notify: bool
) -> list[str]:
    """The statements that (re)install the triggers on ``table``; ``log`` is schema-qualified."""
    qn = connection.ops.quote_name
    name, pk = _literal(table), f"{qn(pk_column)}::text"
    wake = f"IF FOUND THEN PERFORM pg_notify({_literal(CHANNEL)}, ''); END IF;" if notify else ""
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
        for event in EVENTS
    ]
    return [function, *triggers]


def drop_sql(connection: BaseDatabaseWrapper, table: str) -> list[str]:
    qn = connection.ops.quote_name
    return [
        *(f"DROP TRIGGER IF EXISTS {qn(TRIGGER_PREFIX + e)} ON {qn(table)}" for e in EVENTS),
        f"DROP FUNCTION IF EXISTS {qn(function_name(table))}()",
    ]


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
        raise ImproperlyConfigured(
            f"The log table {LOG_TABLE} does not exist on {connection.alias!r}: run "
            f"`manage.py migrate cachefresh --database {connection.alias}` first."
        )
    qn = connection.ops.quote_name
    return f"{qn(found[0])}.{qn(LOG_TABLE)}"


def _require_tables(connection: BaseDatabaseWrapper, tables: Iterable[str]) -> None:
    """Name the cached tables that do not exist yet (an app not migrated), rather than let
    ``CREATE TRIGGER`` fail with the database's error on the first of them."""
    missing = sorted(set(tables) - set(connection.introspection.table_names()))
    if missing:
        raise ImproperlyConfigured(
            f"Cached table(s) {', '.join(missing)} do not exist on {connection.alias!r}: run "
            f"`manage.py migrate --database {connection.alias}` first, or stop caching their "
            "models (CACHEFRESH['MODELS'])."
        )


def install(alias: str, tables: dict[str, str] | None = None) -> list[str]:
    """Install (or refresh) the triggers on ``tables`` (default: every cached table)."""
    connection = postgresql(alias)
    tables = cached_tables() if tables is None else tables
    _require_tables(connection, tables)
    notify = get_settings().log_notify
    with transaction.atomic(using=alias), connection.cursor() as cursor:
        log = log_table(connection)
        for table, pk_column in sorted(tables.items()):
            for statement in install_sql(connection, table, pk_column, log, notify):
                cursor.execute(statement)
    return sorted(tables)


def drop(alias: str, tables: Iterable[str] | None = None) -> list[str]:
    """Remove the triggers from ``tables`` (default: every table that has them)."""
    connection = postgresql(alias)
    doomed = sorted({s.table for s in status(alias) if s.events} if tables is None else tables)
    with transaction.atomic(using=alias), connection.cursor() as cursor:
        for table in doomed:
            for statement in drop_sql(connection, table):
                cursor.execute(statement)
    return doomed


def status(alias: str) -> list[TableStatus]:
    """Every cached table, and every other table that has cachefresh triggers."""
    connection = postgresql(alias)
    cached = cached_tables()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, t.tgname, p.prosrc LIKE '%%pg_notify%%' FROM pg_trigger t "
            "JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_proc p ON p.oid = t.tgfoid "
            "WHERE t.tgname = ANY(%s) AND pg_table_is_visible(c.oid)",
            [[TRIGGER_PREFIX + event for event in EVENTS]],
        )
        found = cursor.fetchall()
    events: dict[str, set[str]] = {}
    notifies: dict[str, bool] = {}
    for table, trigger, notify in found:
        events.setdefault(table, set()).add(trigger.removeprefix(TRIGGER_PREFIX))
        notifies[table] = notifies.get(table, False) or notify
    return [
        TableStatus(t, frozenset(events.get(t, ())), notifies.get(t, False), t in cached)
        for t in sorted({*cached, *events})
    ]
