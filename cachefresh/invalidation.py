"""The write side: see every ORM write to a cached table and retire what it touched, on commit.

Writes are caught where every one of them ends up, the SQL compilers' ``execute_sql``: ``save()``,
``delete()`` and its cascades, ``QuerySet.update()``/``delete()``, ``bulk_update()``, upserts from
``bulk_create(update_conflicts=True)``, and the collector's ``SET_NULL`` updates. No signal
receivers are needed, so Django keeps its fast-delete path for every model. When the statement's
filter names primary keys (``pk=…``, ``pk__in=…``, ANDed with anything), those rows' tokens are
retired; otherwise the table's generation is, which retires all of its entries.

Inside a transaction, retirements wait for the outermost commit, in a hook placed ahead of the
application's own ``on_commit`` callbacks; a rollback drops them with Django's callback list.
With autocommit off (``set_autocommit(False)``) there are no such hooks, so a wrapped
``commit()`` retires what the transaction wrote and a wrapped ``rollback()`` forgets it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import connections, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model
from django.db.models.constants import OnConflict
from django.db.models.expressions import Col
from django.db.models.lookups import Exact, In
from django.db.models.sql import compiler
from django.db.models.sql.where import AND, WhereNode

from cachefresh import keys, signals, stats
from cachefresh.conf import get_settings
from cachefresh.registry import registry
from cachefresh.store import get_store

# pks=None means "every row of these tables".
Pks = list[Any] | None


@dataclass(eq=False)
class PendingWrites:
    """What a transaction wrote, to be retired when it commits."""

    alias: str
    rows: dict[str, set[Any]] = field(default_factory=dict)
    whole_tables: set[str] = field(default_factory=set)
    #: A ``connection.run_on_commit`` entry: (savepoint ids, callback, robust).
    hook: tuple[set[str], Callable[[], None], bool] = field(init=False)

    def __post_init__(self) -> None:
        # Empty savepoint ids: a savepoint rollback must not drop writes made before it.
        self.hook = (set(), self.flush, False)

    def add(self, tables: Iterable[str], pks: Pks) -> None:
        for table in tables:
            if pks is None:
                self.whole_tables.add(table)
            else:
                self.rows.setdefault(table, set()).update(pks)

    def touched(self, table: str) -> bool:
        return table in self.whole_tables or table in self.rows

    def flush(self) -> None:
        connections[self.alias]._cachefresh_pending = None  # type: ignore[attr-defined]
        for table in self.whole_tables:
            retire(self.alias, (table,), None)
        for table, pks in self.rows.items():
            if table not in self.whole_tables:
                retire(self.alias, (table,), list(pks))


def pending_writes(connection: BaseDatabaseWrapper) -> PendingWrites | None:
    """The live transaction's writes; stale state from a rolled back one is ignored."""
    pending: PendingWrites | None = getattr(connection, "_cachefresh_pending", None)
    if pending is None or not connection.in_atomic_block:
        return None
    # object: django-stubs types the entries as pairs, Django stores triples (with robust).
    hook: object = pending.hook
    if any(item is hook for item in connection.run_on_commit):
        return pending
    return None


def in_transaction(alias: str) -> bool:
    """Whether reads on ``alias`` may see uncommitted data, so must not be stored.

    With autocommit off (``set_autocommit(False)``) a transaction is open without any atomic
    block. An unconnected alias has no transaction, and checking must not open a connection.
    """
    connection = connections[alias]
    return connection.in_atomic_block or (
        connection.connection is not None and not connection.autocommit
    )


def _autocommit_off(connection: BaseDatabaseWrapper) -> bool:
    return connection.connection is not None and not connection.autocommit


def _manual_writes(connection: BaseDatabaseWrapper) -> PendingWrites | None:
    """Writes of a transaction opened by ``set_autocommit(False)``, retired by ``commit()``."""
    if not _autocommit_off(connection):
        return None  # left over from a connection closed mid-transaction: rolled back
    pending: PendingWrites | None = getattr(connection, "_cachefresh_manual", None)
    return pending


def written_in_transaction(alias: str, table: str) -> bool:
    connection = connections[alias]
    manual = _manual_writes(connection)
    if manual is not None and manual.touched(table):
        return True
    if not connection.in_atomic_block:
        return False
    pending = pending_writes(connection)
    return pending is not None and pending.touched(table)


def record(alias: str, tables: tuple[str, ...], pks: Pks) -> None:
    """Retire now in autocommit, or when the outermost transaction commits."""
    connection = connections[alias]
    if not connection.in_atomic_block:
        if not _autocommit_off(connection):
            retire(alias, tables, pks)
            return
        # No atomic block, so no on_commit hook: retiring now would let another connection
        # fill the old row under the new token before the commit; commit() retires instead.
        manual = _manual_writes(connection)
        if manual is None:
            manual = connection._cachefresh_manual = PendingWrites(alias)  # type: ignore[attr-defined]
        manual.add(tables, pks)
        return
    pending = pending_writes(connection)
    if pending is None:
        pending = PendingWrites(alias)
        connection._cachefresh_pending = pending  # type: ignore[attr-defined]
        connection.run_on_commit.insert(0, pending.hook)  # type: ignore[arg-type]  # a triple
    pending.add(tables, pks)


def retire(alias: str, tables: Iterable[str], pks: Pks) -> None:
    prefix = get_settings().key_prefix
    doomed = []
    for table in tables:
        if pks is None:
            doomed.append(keys.generation_key(prefix, alias, table))
        else:
            tag = keys.table_tag(prefix, alias, table)
            doomed.extend(keys.RowKeys(tag, pk).token for pk in pks)
        stats.record_invalidation(table, None if pks is None else len(pks))
    get_store().retire(doomed)
    if signals.invalidated.receivers:
        for table in tables:
            signals.report_invalidated(alias, table, pks)


def _normalize(target: Any, value: Any) -> Any:
    if isinstance(value, Model):
        value = value.pk
    return target.get_prep_value(target.to_python(value))


def written_pks(where: WhereNode) -> Pks:
    """The primary keys a statement's filter confines it to, or ``None`` when unknown."""
    if where.connector != AND or where.negated:
        return None
    for child in where.children:
        if not (
            isinstance(child, Exact | In)
            and isinstance(child.lhs, Col)
            and child.lhs.target.primary_key
        ):
            continue
        values = [child.rhs] if isinstance(child, Exact) else child.rhs
        if not isinstance(values, list | tuple | set | frozenset) or any(
            hasattr(value, "resolve_expression") for value in values
        ):
            continue
        try:
            return [_normalize(child.lhs.target, v) for v in values if v is not None]
        except Exception:
            return None
    return None


def _family(query: Any) -> tuple[str, ...] | None:
    return registry.watched_family(query.model) if query.model is not None else None


def _hook_update(execute_sql: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(execute_sql)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = execute_sql(self, *args, **kwargs)
        tables = _family(self.query)
        if tables is not None:
            record(self.using, tables, written_pks(self.query.where))
        return result

    wrapper._cachefresh = True  # type: ignore[attr-defined]
    return wrapper


def _hook_insert(execute_sql: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(execute_sql)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = execute_sql(self, *args, **kwargs)
        # A plain insert changes no row anyone could have cached; an upsert may change any.
        if self.query.on_conflict == OnConflict.UPDATE:
            tables = _family(self.query)
            if tables is not None:
                record(self.using, tables, None)
        return result

    wrapper._cachefresh = True  # type: ignore[attr-defined]
    return wrapper


def _hook_commit(commit: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(commit)
    def wrapper(self: BaseDatabaseWrapper, *args: Any, **kwargs: Any) -> Any:
        result = commit(self, *args, **kwargs)
        manual: PendingWrites | None = getattr(self, "_cachefresh_manual", None)
        if manual is not None:
            self._cachefresh_manual = None  # type: ignore[attr-defined]
            manual.flush()
        # An atomic block's writes are retired here too, still ahead of the application's
        # callbacks (they run after this, when autocommit comes back on). With autocommit off
        # Django keeps hooks past commit() and a later rollback() drops them: too late.
        atomic: PendingWrites | None = getattr(self, "_cachefresh_pending", None)
        if atomic is not None:
            hook: object = atomic.hook  # object: see pending_writes()
            if any(item is hook for item in self.run_on_commit):
                self.run_on_commit = [item for item in self.run_on_commit if item is not hook]
                atomic.flush()
        return result

    return wrapper


def _hook_rollback(rollback: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(rollback)
    def wrapper(self: BaseDatabaseWrapper, *args: Any, **kwargs: Any) -> Any:
        self._cachefresh_manual = None  # type: ignore[attr-defined]
        return rollback(self, *args, **kwargs)

    return wrapper


def install() -> None:
    """Hook the SQL compilers, and commit/rollback for manual transactions, once per process."""
    if getattr(compiler.SQLUpdateCompiler.execute_sql, "_cachefresh", False):
        return
    BaseDatabaseWrapper.commit = _hook_commit(BaseDatabaseWrapper.commit)  # type: ignore[method-assign]
    BaseDatabaseWrapper.rollback = _hook_rollback(  # type: ignore[method-assign]
        BaseDatabaseWrapper.rollback
    )
    compiler.SQLUpdateCompiler.execute_sql = _hook_update(  # type: ignore[method-assign]
        compiler.SQLUpdateCompiler.execute_sql
    )
    compiler.SQLDeleteCompiler.execute_sql = _hook_update(  # type: ignore[method-assign]
        compiler.SQLDeleteCompiler.execute_sql
    )
    compiler.SQLInsertCompiler.execute_sql = _hook_insert(  # type: ignore[method-assign]
        compiler.SQLInsertCompiler.execute_sql
    )


def invalidate(model_or_instance: type[Model] | Model, *pks: Any, using: str | None = None) -> None:
    """Retire rows written out of Django's sight (raw SQL, other programs)."""
    if isinstance(model_or_instance, Model):
        model: type[Model] = type(model_or_instance)
        pks = (model_or_instance.pk, *pks)
        using = using or model_or_instance._state.db
    else:
        model = model_or_instance
        if not pks:
            raise TypeError(
                "invalidate() needs the primary keys to retire; "
                "use invalidate_model() to retire every row of a model."
            )
    plan = registry.plan(model)
    alias = using or router.db_for_write(model)
    record(
        alias,
        plan.family,
        [plan.pk_field.get_prep_value(plan.pk_field.to_python(pk)) for pk in pks],
    )


def invalidate_model(model: type[Model], using: str | None = None) -> None:
    """Retire every cached row of ``model`` (and the tables it shares rows with)."""
    plan = registry.plan(model)
    record(using or router.db_for_write(model), plan.family, None)
