"""Writes out of Django's sight, as another program makes them: on the driver's own connection
under Django's, so neither the compiler hook nor the statement net sees them. Tests of what
cachefresh does about such writes (``invalidate()``, ``audit``, the invalidation log) make them
here; a write through ``connection.cursor()`` is seen (tests/write/test_statement_net.py)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.db import connections


class UnseenCursor:
    def __init__(self, cursor: Any, vendor: str) -> None:
        self.cursor = cursor
        self.vendor = vendor

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        if self.vendor == "sqlite":  # the driver's own placeholders, as Django would convert
            sql = sql.replace("%s", "?")
        self.cursor.execute(sql, tuple(params))

    def fetchone(self) -> Any:
        return self.cursor.fetchone()


@contextmanager
def unseen_cursor(alias: str) -> Iterator[UnseenCursor]:
    connection = connections[alias]
    connection.ensure_connection()
    cursor = connection.connection.cursor()
    try:
        yield UnseenCursor(cursor, connection.vendor)
    finally:
        cursor.close()
