"""The statement net: every statement a connection sends, seen through Django's public
``connection.execute_wrapper()`` hook, installed on every connection.

The compiler hook (:mod:`cachefresh.invalidation`) is the precise path: it knows which rows an
ORM write names and retires just their tokens. But it sits on private methods, and Django 6.0
added a path around one of them. The net is the layer under it. A write statement that names a
cached table, and that the compiler hook did not account for (raw SQL on ``connection.cursor()``,
a migration's ``RunSQL``, a compiler method Django adds later), retires the generation of every
cached table it may have changed: now in autocommit, on commit inside a transaction, which
counts as having written them. Retiring too much costs a refill; missing a write serves a stale
row. So a statement counts as a write unless it plainly reads, and one whose text cannot be had
counts as a write of every cached table its spelling names.

Writes the process never sends (other programs, triggers, functions a ``SELECT`` calls) stay out
of sight: the invalidation log (``cachefresh triggers install``) sees those.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from cachefresh import retire, transactions
from cachefresh.registry import registry

#: Set while the compiler hook runs a statement it accounts for itself.
_accounted: ContextVar[bool] = ContextVar("cachefresh_accounted", default=False)

#: Statements that cannot change a row of an existing table.
_READS = re.compile(
    r"\s*\(*\s*(?:SELECT|SHOW|SET|SAVEPOINT|RELEASE|ROLLBACK|BEGIN|START|COMMIT|END|PRAGMA"
    r"|DESCRIBE|CREATE|VALUES|LISTEN|UNLISTEN|NOTIFY|FETCH|CLOSE|DECLARE)\b",
    re.IGNORECASE,
)
#: Statements that write only if a write hides inside: ``WITH x AS (UPDATE …)``,
#: ``EXPLAIN ANALYZE DELETE …``.
_MAYBE = re.compile(r"\s*\(*\s*(?:WITH|EXPLAIN)\b", re.IGNORECASE)
_WRITE_WORDS = re.compile(
    r"\b(?:INSERT|UPDATE|DELETE|MERGE|TRUNCATE|REPLACE|UPSERT|COPY)\b", re.IGNORECASE
)
#: ``TRUNCATE … CASCADE`` empties every table that refers to the ones it names.
_TRUNCATE_CASCADE = re.compile(r"\s*TRUNCATE\b.*\bCASCADE\b", re.IGNORECASE | re.DOTALL)


@contextmanager
def accounted_for() -> Iterator[None]:
    """Statements sent inside are the compiler hook's: the net lets them pass."""
    token = _accounted.set(True)
    try:
        yield
    finally:
        _accounted.reset(token)


def install(connection: BaseDatabaseWrapper) -> None:
    """Put the net on ``connection`` (a Django connection object), once."""
    wrappers = connection.execute_wrappers
    if _net not in wrappers:
        # First, not last: ``with connection.execute_wrapper(w):`` removes the last wrapper
        # when it ends, and a connection opened inside such a block must not lose ours.
        wrappers.insert(0, _net)


def on_connection_created(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    install(connection)


def install_on_open_connections() -> None:
    """The connections this thread opened before cachefresh was ready."""
    for connection in connections.all(initialized_only=True):
        install(connection)


def _net(
    execute: Callable[..., Any], sql: Any, params: Any, many: bool, context: dict[str, Any]
) -> Any:
    if _accounted.get() or (type(sql) is str and ";" not in sql and _READS.match(sql)):
        return execute(sql, params, many, context)
    try:
        return execute(sql, params, many, context)
    finally:
        # Also after a failure: a statement that failed halfway may have written rows (MySQL's
        # non-transactional tables), and retiring them costs only a refill.
        retire_written(context["connection"], _text_of(sql, context))


def _text_of(sql: Any, context: dict[str, Any]) -> str:
    if type(sql) is str:
        return sql
    if isinstance(sql, bytes | bytearray | memoryview):
        return bytes(sql).decode("utf-8", "replace")
    as_string = getattr(sql, "as_string", None)  # psycopg's sql.Composable
    if as_string is not None:
        try:
            return str(as_string(context["cursor"].cursor))
        except Exception:  # its repr below still names its identifiers
            pass
    return repr(sql)


def _reads_only(statement: str) -> bool:
    return bool(
        _READS.match(statement)
        or (_MAYBE.match(statement) and not _WRITE_WORDS.search(statement))
        or not statement.strip()
    )


def retire_written(connection: BaseDatabaseWrapper, sql: str) -> None:
    """Retire every cached table that the write statement ``sql``, sent on ``connection``, may
    have changed (nothing when it plainly does not write)."""
    # Several statements in one string (PostgreSQL runs them): each must be a read.
    if all(_reads_only(part) for part in sql.split(";")):
        return
    registration = registry.registration()
    if _TRUNCATE_CASCADE.match(sql):
        named = set(registration.whole_writes)
    else:
        named = registration.tables_named(sql)
    if not named:
        return
    tables = sorted({reached for table in named for reached in registration.whole_writes[table]})
    retirement = retire.rows(connection.alias, tables, None)
    # Any unique column of these tables may hold any value now.
    for table in tables:
        owner = registration.owners.get(table)
        plan = registry.plan_or_none(owner) if owner is not None else None
        if plan is not None:
            retirement.add(retire.every_index(plan, connection.alias))
    transactions.retire_after_commit(retirement, connection)
