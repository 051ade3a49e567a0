"""Whether ``=`` on a MySQL/MariaDB column compares exactly what an index key stands for.

A unique lookup is served from index entries only where one key stands for one value: two
spellings that ``=`` finds equal ("Hi" and "hi" under a ``_ci`` collation) would need to retire
each other's entries, and a write of one cannot know the others. On MySQL and MariaDB the
column's collation decides, so it is read from ``information_schema`` once per (database,
table, column) and kept for the process. Exact are columns without a collation (numbers), and
binary collations (``binary``, ``*_bin``) that do not pad: MariaDB's ``utf8mb4_bin`` (and
MySQL 5.7's) compare with PAD SPACE, where ``'a' = 'a '``; ``utf8mb4_nopad_bin`` (MariaDB) and
``utf8mb4_0900_bin`` (MySQL 8) do not. The server itself is asked whether the collation pads.

The question runs on the raw driver connection (not logged, not counted by
``assertNumQueries``), on the caller's thread: the read path calls it from sync code only
(async lookups go through ``sync_to_async``).
"""

from __future__ import annotations

import re
import threading
from typing import Any

from django.db import connections

from cachefresh import databases

_COLUMN = (
    "SELECT COLLATION_NAME, CHARACTER_SET_NAME FROM information_schema.COLUMNS "
    "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s AND COLUMN_NAME = %s"
)
# Collation and character set names come from information_schema; checked all the same,
# since they are spliced into SQL.
_NAME = re.compile(r"[A-Za-z0-9_]{1,64}")

#: (database segment, table, column) -> whether ``=`` on the column compares exactly
_exact: dict[tuple[str, str, str], bool] = {}
_lock = threading.Lock()


def compares_exactly(alias: str, table: str, column: str) -> bool:
    """Whether ``=`` on ``table.column`` of the MySQL/MariaDB database behind ``alias``
    compares code points exactly, trailing spaces included. Asked once per process."""
    key = (databases.database_segment(alias), table, column)
    known = _exact.get(key)
    if known is None:
        known = _ask(alias, table, column)
        with _lock:
            _exact[key] = known
    return known


def _ask(alias: str, table: str, column: str) -> bool:
    connection = connections[alias]
    connection.ensure_connection()
    cursor: Any = connection.connection.cursor()
    try:
        cursor.execute(_COLUMN, [table, column])
        found = cursor.fetchone()
        if found is None:
            return False  # no such column where we look: never vouch for it
        collation, charset = (_text(value) for value in found)
        if collation is None:
            return True  # not text: numbers compare exactly
        if not (collation == "binary" or collation.endswith("_bin")):
            return False
        if not (_NAME.fullmatch(collation) and _NAME.fullmatch(charset)):
            return False
        cursor.execute(f"SELECT _{charset}'a' COLLATE {collation} = _{charset}'a '")
        (pads,) = cursor.fetchone()
        return not pads
    finally:
        cursor.close()


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def forget() -> None:
    """Forget every answer (a column's collation was changed by a migration, in tests)."""
    with _lock:
        _exact.clear()
