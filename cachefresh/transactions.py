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
from collections.abc import Callable
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from cachefresh import databases, retire
from cachefresh.patching import MethodHooks
from cachefresh.retire import Retirement


class ReadMode(enum.Enum):
    #: Autocommit, or a transaction whose statements each see every earlier commit.
    FILL = "fill"
    #: A transaction whose snapshot may predate the tokens: serve hits, store nothing.
    HITS_ONLY = "in_transaction"
    #: This transaction wrote the table: only the database has its rows as it sees them.
    DATABASE = "written_in_transaction"


class _Group:
    """The writes made while one set of savepoints was open."""

    __slots__ = ("retirement", "savepoints")

    def __init__(self, savepoints: frozenset[str], retirement: Retirement) -> None:
        self.savepoints = savepoints
        self.retirement = retirement


class _Writes:
    """What one transaction wrote, in groups by the savepoints open when it was written."""

    __slots__ = ("alias", "groups")

    def __init__(self, alias: str) -> None:
        self.alias = alias
        self.groups: list[_Group] = []

    def add(self, savepoints: frozenset[str], retirement: Retirement) -> None:
        if not self.groups or self.groups[-1].savepoints != savepoints:
            self.groups.append(_Group(savepoints, Retirement(self.alias)))
        self.groups[-1].retirement.add(retirement)

    def touched(self, table: str) -> bool:
        return any(table in group.retirement.written for group in self.groups)

    def forget_since(self, savepoint: str) -> None:
        self.groups = [group for group in self.groups if savepoint not in group.savepoints]

    def retire(self) -> None:
        everything = Retirement(self.alias)
        for group in self.groups:
            everything.add(group.retirement)
        retire.deliver(everything)


_open: weakref.WeakKeyDictionary[BaseDatabaseWrapper, _Writes] = weakref.WeakKeyDictionary()
# Each connection is used by one thread at a time; the lock guards the mapping itself.
_open_lock = threading.Lock()


def _in_transaction(connection: BaseDatabaseWrapper) -> bool:
    # With autocommit off (set_autocommit(False)) a transaction is open without any atomic
    # block. An unconnected alias has no transaction, and checking must not open a connection.
    return connection.in_atomic_block or (
        connection.connection is not None and not connection.autocommit
    )


def _writes_of(connection: BaseDatabaseWrapper, alias: str) -> _Writes:
    writes = _open.get(connection)
    if writes is None:
        with _open_lock:
            writes = _open.setdefault(connection, _Writes(alias))
    return writes


def retire_after_commit(
    retirement: Retirement, connection: BaseDatabaseWrapper | None = None
) -> None:
    """Retire ``retirement`` now in autocommit, or once the open transaction commits: the
    transaction of ``connection``, the one that wrote (``connections[retirement.alias]`` of this
    thread by default), which counts the tables as written by it meanwhile."""
    connection = connection or connections[retirement.alias]
    if not _in_transaction(connection):
        retire.deliver(retirement)
        return
    _writes_of(connection, retirement.alias).add(frozenset(connection.savepoint_ids), retirement)


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
    # The weak mapping's own dict: len() of the mapping is a Python call on every hit.
    empty = not _open.data  # type: ignore[attr-defined]  # typeshed omits it
    return empty or read_mode(alias, table) is not ReadMode.DATABASE


def written_by_any(table: str) -> bool:
    """Whether an open transaction of any thread of this process wrote ``table``: what an event
    loop can ask, since the transaction a thread would read in is that thread's own
    (:mod:`cachefresh.aread` then takes the sync path, in that thread)."""
    if not _open:
        return False
    while True:
        try:
            open_writes = list(_open.values())
        except RuntimeError:  # another thread committed meanwhile (pops take no lock)
            continue
        return any(writes.touched(table) for writes in open_writes)


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


def _closing(close: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(close)
    def wrapper(self: BaseDatabaseWrapper, *args: Any, **kwargs: Any) -> Any:
        _open.pop(self, None)
        result = close(self, *args, **kwargs)
        databases.on_close(self)  # the settings may name another database from now on
        return result

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
        "close": _closing,
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
#: Each wrapper as ``(class, name, wrapper)``, for the check of every cached read.
expected_hooks = _hooks.expected
