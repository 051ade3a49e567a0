"""How far behind the listeners are: rows waiting in the log and the age of the oldest."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import DatabaseError, connections

from cachefresh.dblog import LOG_TABLE
from cachefresh.dblog.dialect import dialect, supported
from cachefresh.dblog.retire import replicas


@dataclass(frozen=True)
class Backlog:
    alias: str
    rows: int
    oldest_seconds: float | None


def backlog(alias: str) -> Backlog | None:
    """The log's backlog on ``alias``, ``None`` where the log table does not exist."""
    connection = connections[alias]
    if LOG_TABLE not in connection.introspection.table_names():
        return None
    with connection.cursor() as cursor:
        cursor.execute(dialect(connection).backlog_sql)
        rows, age = cursor.fetchone()
    return Backlog(alias, rows, None if age is None else max(0.0, float(age)))


def backlogs() -> list[Backlog]:
    """The backlog of every database with a log (replicas would repeat it)."""
    found = []
    for alias in connections:
        connection = connections[alias]
        if not supported(connection) or alias in replicas():
            continue
        if connection.settings_dict.get("TEST", {}).get("MIRROR"):
            continue
        try:
            result = backlog(alias)
        except DatabaseError:
            continue  # unreachable: stats reports what it can
        if result is not None:
            found.append(result)
    return found
