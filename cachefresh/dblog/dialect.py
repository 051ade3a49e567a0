"""The seam between the log and each database: what a database module provides, and which
module serves a connection.

Everything vendor-specific about the log lives in one module per database (its triggers' SQL,
how to find them, the backlog query, how a listener claims rows and waits for more). The
command, the check, the backlog report, the migration operation and the listener loop only
call a :class:`Dialect`. A new database is one module defining ``DIALECT`` plus one line in
:data:`MODULES`.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import ClassVar

from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

#: ``connection.vendor`` -> the module holding that database's ``DIALECT``.
MODULES = {
    "postgresql": "cachefresh.dblog.postgresql",
    "mysql": "cachefresh.dblog.mysql",
    "sqlite": "cachefresh.dblog.sqlite",
}

#: A claimed log row: its id, the table written and the written row's primary key as text
#: (``None``: every row of the table).
LogRow = tuple[int, str, str | None]


class Unsupported(ImproperlyConfigured):
    """The database has no log support here: the caller says so instead of a traceback."""


class Link(ABC):
    """A listener's own connection to the log, outside Django's connection handling."""

    @abstractmethod
    def claim(self, limit: int) -> contextlib.AbstractContextManager[list[LogRow]]:
        """Up to ``limit`` rows no other listener holds, in a transaction that removes them
        from the log when the block ends normally, and gives them back when it raises."""

    @abstractmethod
    def wait(self, seconds: float, stopping: threading.Event) -> None:
        """Until more rows may be there: a wake-up, ``seconds``, or ``stopping``."""

    @abstractmethod
    def close(self) -> None: ...


class Dialect(ABC):
    #: How the messages name the database.
    title: ClassVar[str]
    #: The write events a table needs a trigger for.
    events: ClassVar[frozenset[str]]
    #: The driver's errors after which a listener reconnects rather than stops.
    errors: ClassVar[tuple[type[Exception], ...]]
    #: ``SELECT`` of the log's row count and the age of its oldest row in seconds.
    backlog_sql: ClassVar[str]
    #: Whether triggers can wake listeners (otherwise listeners only poll).
    can_notify: ClassVar[bool] = False

    def check(self, connection: BaseDatabaseWrapper) -> None:  # noqa: B027 -- optional hook
        """Raise :class:`Unsupported` when this server lacks what the log needs."""

    @abstractmethod
    def install_sql(
        self, connection: BaseDatabaseWrapper, table: str, pk_column: str, notify: bool
    ) -> list[str]:
        """The statements that (re)install the triggers on ``table``."""

    @abstractmethod
    def drop_sql(self, connection: BaseDatabaseWrapper, table: str) -> list[str]: ...

    @abstractmethod
    def found(self, connection: BaseDatabaseWrapper) -> list[tuple[str, str, bool]]:
        """Every cachefresh trigger in the database: ``(table, event, notifies)``."""

    @abstractmethod
    def connect(self, alias: str) -> Link: ...

    @contextlib.contextmanager
    def listening(self, alias: str) -> Iterator[None]:
        """Held while a listener serves ``alias``: where only one may, refuse a second."""
        yield


def dialect(connection: BaseDatabaseWrapper) -> Dialect:
    """The log's dialect for ``connection``, or :class:`Unsupported` naming what there is."""
    module = MODULES.get(connection.vendor)
    if module is None:
        raise Unsupported(
            f"The invalidation log does not support {connection.vendor} (database "
            f"{connection.alias!r}); it supports PostgreSQL, MySQL/MariaDB and SQLite. Call "
            "cachefresh.invalidate() after writes Django cannot see there."
        )
    found: Dialect = importlib.import_module(module).DIALECT
    found.check(connection)
    return found


def for_alias(alias: str) -> tuple[BaseDatabaseWrapper, Dialect]:
    connection = connections[alias]
    return connection, dialect(connection)


def supported(connection: BaseDatabaseWrapper) -> bool:
    return connection.vendor in MODULES
