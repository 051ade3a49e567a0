"""The triggers that fill the log: which tables need them, installation, removal and status.

What the triggers are on each database is its module's business (:mod:`cachefresh.dblog.dialect`);
this module decides which tables, checks they exist, and runs the statements.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.apps import apps
from django.apps.registry import Apps
from django.core.exceptions import ImproperlyConfigured
from django.db import router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model

from cachefresh.dblog import LOG_TABLE
from cachefresh.dblog.dialect import Dialect, for_alias
from cachefresh.dblog.retire import cached_models, notify
from cachefresh.dblog.sql import missing_log


@dataclass(frozen=True)
class TableStatus:
    table: str
    events: frozenset[str]  # the events that have a cachefresh trigger
    notifies: bool
    cached: bool
    #: The events this database needs a trigger for.
    needed: frozenset[str]

    @property
    def installed(self) -> bool:
        return self.events == self.needed


def cached_tables(connection: BaseDatabaseWrapper | None = None) -> dict[str, str]:
    """Every table sharing rows with a cached model, mapped to its primary key column; with
    ``connection``, only the tables Django creates there (routers, ``required_db_features``)."""
    tables: dict[str, str] = {}
    for model in cached_models():
        tables.update(family_tables(apps, model._meta.label, connection))
    return tables


def family_tables(
    apps: Apps, label: str, connection: BaseDatabaseWrapper | None = None
) -> dict[str, str]:
    """The tables sharing rows with ``label``'s model, each with its primary key column; with
    ``connection``, those of models Django migrates there."""
    model: type[Model] = apps.get_model(label)
    root = model._meta.concrete_model
    assert root is not None
    while root._meta.parents:
        root = next(iter(root._meta.parents))._meta.concrete_model
        assert root is not None
    return {
        member._meta.db_table: str(member._meta.pk.column)
        for member in apps.get_models()
        if not member._meta.proxy
        and (member is root or root in member._meta.get_parent_list())
        and (connection is None or _migrated(connection, member))
    }


def _migrated(connection: BaseDatabaseWrapper, model: type[Model]) -> bool:
    """Whether Django creates ``model``'s table on ``connection``, as its migrations decide."""
    return model._meta.can_migrate(connection) and router.allow_migrate_model(
        connection.alias, model
    )


def require_log(connection: BaseDatabaseWrapper) -> None:
    if LOG_TABLE not in connection.introspection.table_names():
        raise missing_log(connection)


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


def statements(
    connection: BaseDatabaseWrapper, dialect: Dialect, tables: dict[str, str], install: bool
) -> list[str]:
    """What installs (or drops) the triggers on ``tables``, in a stable order."""
    wake = notify() and dialect.can_notify
    return [
        sql
        for table, pk_column in sorted(tables.items())
        for sql in (
            dialect.install_sql(connection, table, pk_column, wake)
            if install
            else dialect.drop_sql(connection, table)
        )
    ]


def _execute(alias: str, connection: BaseDatabaseWrapper, sql: list[str]) -> None:
    # One transaction where DDL is transactional (PostgreSQL, SQLite): all or nothing. MySQL
    # commits each CREATE TRIGGER by itself; the tables were checked first, and a failure
    # halfway leaves triggers that `triggers status` lists and a second install completes.
    with transaction.atomic(using=alias), connection.cursor() as cursor:
        for statement in sql:
            cursor.execute(statement)


def install(alias: str, tables: dict[str, str] | None = None) -> list[str]:
    """Install (or refresh) the triggers on ``tables`` (default: every cached table)."""
    connection, dialect = for_alias(alias)
    tables = cached_tables(connection) if tables is None else tables
    require_log(connection)
    _require_tables(connection, tables)
    _execute(alias, connection, statements(connection, dialect, tables, install=True))
    return sorted(tables)


def drop(alias: str, tables: Iterable[str] | None = None) -> list[str]:
    """Remove the triggers from ``tables`` (default: every table that has them)."""
    connection, dialect = for_alias(alias)
    doomed = sorted({s.table for s in status(alias) if s.events} if tables is None else tables)
    _execute(alias, connection, statements(connection, dialect, dict.fromkeys(doomed, ""), False))
    return doomed


def status(alias: str) -> list[TableStatus]:
    """Every cached table, and every other table that has cachefresh triggers."""
    connection, dialect = for_alias(alias)
    cached = cached_tables(connection)
    events: dict[str, set[str]] = {}
    notifies: dict[str, bool] = {}
    for table, event, wakes in dialect.found(connection):
        events.setdefault(table, set()).add(event)
        notifies[table] = notifies.get(table, False) or wakes
    return [
        TableStatus(
            t, frozenset(events.get(t, ())), notifies.get(t, False), t in cached, dialect.events
        )
        for t in sorted({*cached, *events})
    ]
