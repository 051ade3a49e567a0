"""Transactions: what each one wrote, whether a read inside it may be stored, and the single
path that retires its writes once it commits or forgets them when it rolls back.

State is kept here, keyed (weakly) by Django's connection object; nothing is written onto
Django's objects or into its ``run_on_commit`` list, so ``captureOnCommitCallbacks()`` sees
exactly the application's callbacks. ``commit()``, ``rollback()``, ``savepoint_rollback()``
and ``close()`` of ``BaseDatabaseWrapper`` are wrapped, once per process:

* ``commit()`` retires what the transaction wrote, after the database committed and before
  ``set_autocommit(True)`` runs the application's ``on_commit`` callbacks. It is the one commit
  path for atomic blocks and for ``set_autocommit(False)`` transactions alike.
* ``rollback()`` and ``close()`` (a connection closed mid-transaction is rolled back by the
  server) forget them; ``savepoint_rollback()`` forgets what was written since the savepoint.

Reads inside a transaction (see :func:`read_mode`): a transaction that wrote the table reads
the database, since only it sees its own writes. Otherwise a fill is as safe as in autocommit
when every statement sees every commit made before it began, which is READ COMMITTED on
PostgreSQL and on MySQL/MariaDB (InnoDB), Django's default on both: the tokens are taken before
the SELECT, so a commit the SELECT did not see retires them. Where one snapshot serves the
whole transaction (REPEATABLE READ and SERIALIZABLE, SQLite, any other backend) the snapshot
may predate the tokens, so hits are served and nothing is stored.
"""

from __future__ import annotations

import enum
import functools
import threading
import weakref
from collections.abc import Callable, Iterable
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from cachefresh import databases, entries
from cachefresh.patching import MethodHooks
from cachefresh.store import get_store

# pks=None means "every row of these tables".
Pks = list[Any] | None


class ReadMode(enum.Enum):
    #: Autocommit, or a transaction whose statements each see every earlier commit.
    FILL = "fill"
    #: A transaction whose snapshot may predate the tokens: serve hits, store nothing.
    HITS_ONLY = "in_transaction"
    #: This transaction wrote the table: only the database has its rows as it sees them.
    DATABASE = "written_in_transaction"


#: (savepoint ids open at the write, rows per table, tables written whole, other keys per table)
_Group = tuple[frozenset[str], dict[str, set[Any]], set[str], dict[str, set[str]]]


class _Writes:
    """What one transaction wrote, in groups by the savepoints open when it was written."""

    __slots__ = ("alias", "groups")

    def __init__(self, alias: str) -> None:
        self.alias = alias
        self.groups: list[_Group] = []

    def _group(self, savepoints: frozenset[str]) -> _Group:
        if not self.groups or self.groups[-1][0] != savepoints:
            self.groups.append((savepoints, {}, set(), {}))
        return self.groups[-1]

    def add(self, savepoints: frozenset[str], tables: Iterable[str], pks: Pks) -> None:
        _, rows, whole, _ = self._group(savepoints)
        for table in tables:
            if pks is None:
                whole.add(table)
            else:
                rows.setdefault(table, set()).update(pks)

    def add_keys(self, savepoints: frozenset[str], table: str, doomed: Iterable[str]) -> None:
        self._group(savepoints)[3].setdefault(table, set()).update(doomed)

    def touched(self, table: str) -> bool:
        return any(
            table in rows or table in whole or table in other
            for _, rows, whole, other in self.groups
        )

    def forget_since(self, savepoint: str) -> None:
        self.groups = [group for group in self.groups if savepoint not in group[0]]

    def retire(self) -> None:
        whole: set[str] = set()
        rows: dict[str, set[Any]] = {}
        other: set[str] = set()
        for _, group_rows, group_whole, group_other in self.groups:
            whole |= group_whole
            for table, pks in group_rows.items():
                rows.setdefault(table, set()).update(pks)
            for doomed in group_other.values():
                other |= doomed
        if other:
            get_store().retire(sorted(other))
        for table in sorted(whole):
            entries.retire(self.alias, (table,), None)
        for table, pks in rows.items():
            if table not in whole and pks:
                entries.retire(self.alias, (table,), list(pks))


_open: weakref.WeakKeyDictionary[BaseDatabaseWrapper, _Writes] = weakref.WeakKeyDictionary()
# Each connection is used by one thread at a time; the lock guards the mapping itself.
_open_lock = threading.Lock()


def _in_transaction(connection: BaseDatabaseWrapper) -> bool:
    # With autocommit off (set_autocommit(False)) a transaction is open without any atomic
    # block. An unconnected alias has no transaction, and checking must not open a connection.
    return connection.in_atomic_block or (
        connection.connection is not None and not connection.autocommit
    )


def in_transaction(alias: str) -> bool:
    return _in_transaction(connections[alias])


def _writes_of(connection: BaseDatabaseWrapper, alias: str) -> _Writes:
    writes = _open.get(connection)
    if writes is None:
        with _open_lock:
            writes = _open.setdefault(connection, _Writes(alias))
    return writes


def retire_after_commit(
    alias: str, tables: Iterable[str], pks: Pks, connection: BaseDatabaseWrapper | None = None
) -> None:
    """Retire rows now in autocommit, or once the open transaction commits: the transaction of
    ``connection``, the one that wrote (``connections[alias]`` of this thread by default)."""
    connection = connection or connections[alias]
    if not _in_transaction(connection):
        entries.retire(alias, tables, pks)
        return
    _writes_of(connection, alias).add(frozenset(connection.savepoint_ids), tables, pks)


def retire_keys_after_commit(
    alias: str, table: str, doomed: list[str], connection: BaseDatabaseWrapper | None = None
) -> None:
    """Retire other keys of ``table`` (index tokens and generations) now in autocommit, or once
    the open transaction commits; either way the transaction counts as having written it."""
    connection = connection or connections[alias]
    if not _in_transaction(connection):
        get_store().retire(doomed)
        return
    _writes_of(connection, alias).add_keys(frozenset(connection.savepoint_ids), table, doomed)


def read_mode(alias: str, table: str) -> ReadMode:
    """How a read of ``table`` on ``alias`` may use the cache right now."""
    connection = connections[alias]
    if not _in_transaction(connection):
        return ReadMode.FILL
    writes = _open.get(connection)
    if writes is not None and writes.touched(table):
        return ReadMode.DATABASE
    return ReadMode.FILL if _fresh_snapshot_per_statement(connection) else ReadMode.HITS_ONLY


def may_serve_hits(alias: str, table: str) -> bool:
    """Whether a read of ``table`` on ``alias`` may be served from the cache: not when the
    open transaction wrote the table. Costs one length check while no transaction of the
    process holds writes, so a near hit skips looking up the connection."""
    return not _open or read_mode(alias, table) is not ReadMode.DATABASE


def _fresh_snapshot_per_statement(connection: BaseDatabaseWrapper) -> bool:
    """Whether each statement sees every commit made before it: READ COMMITTED, on PostgreSQL
    or MySQL/MariaDB.

    On MySQL/MariaDB, the level the session really runs, asked once when it connected
    (:func:`cachefresh.databases.session_reads_committed`). On PostgreSQL, the configured
    level, which Django applies to every transaction; a server whose default differs must be
    configured in ``OPTIONS`` (docs/limits.md, "Transactions").
    """
    if connection.vendor == "mysql":
        return databases.session_reads_committed(connection)
    if connection.vendor != "postgresql":
        return False
    return _is_read_committed(connection.settings_dict.get("OPTIONS", {}).get("isolation_level"))


@functools.lru_cache(maxsize=16)
def _is_read_committed(configured: Any) -> bool:
    from django.db.backends.postgresql.psycopg_any import IsolationLevel

    if configured is None:
        return True  # Django's default, and PostgreSQL's
    try:
        return IsolationLevel(configured) == IsolationLevel.READ_COMMITTED
    except ValueError:
        return False  # Django refuses it at connect time; never vouch for it


# --- the wrapped connection methods -----------------------------------------------------------


def _after_commit(commit: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(commit)
    def wrapper(self: BaseDatabaseWrapper, *args: Any, **kwargs: Any) -> Any:
        result = commit(self, *args, **kwargs)
        writes = _open.pop(self, None)
        if writes is not None:
            writes.retire()
        return result

    return wrapper


def _forgetting(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(self: BaseDatabaseWrapper, *args: Any, **kwargs: Any) -> Any:
        _open.pop(self, None)
        return method(self, *args, **kwargs)

    return wrapper


def _forgetting_since(savepoint_rollback: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(savepoint_rollback)
    def wrapper(self: BaseDatabaseWrapper, sid: str, *args: Any, **kwargs: Any) -> Any:
        result = savepoint_rollback(self, sid, *args, **kwargs)
        writes = _open.get(self)
        if writes is not None:
            writes.forget_since(sid)
        return result

    return wrapper


_hooks = MethodHooks(
    BaseDatabaseWrapper,
    {
        "commit": _after_commit,
        "rollback": _forgetting,
        "close": _forgetting,
        "savepoint_rollback": _forgetting_since,
    },
)
#: Wrap the connection methods, once per process.
install = _hooks.install
#: The wrapped connection methods that something else has replaced since they were installed.
missing_hooks = _hooks.missing
#: What replaced them (``module.qualname``), to find the library that did.
replacements = _hooks.replacements
#: Whether none of them was replaced (the cheap check every cached read makes).
hooks_intact = _hooks.intact
