"""The write side: see every ORM write to a cached table and retire what it touched, on commit.

Writes are caught where every one of them ends up, the SQL compilers' ``execute_sql`` (and, on
Django 6.x, ``SQLUpdateCompiler.execute_returning_sql``, which saves with ``F()`` values or
generated fields take): ``save()``, ``delete()`` and its cascades, ``QuerySet.update()``/
``delete()``, ``bulk_update()``, upserts from ``bulk_create(update_conflicts=True)``, and the
collector's ``SET_NULL`` updates. No signal receivers are needed, so Django keeps its
fast-delete path for every model. When the statement's filter names the written table's primary
keys (``pk=…``, ``pk__in=…``, ANDed with anything), those rows' tokens are retired; otherwise
the table's generation is, which retires all of its entries. A delete also retires the tables
whose rows the database deletes or changes by itself (Django 6.1's ``DB_*`` on_delete).

The compilers themselves are left alone. Other libraries (django-cachalot, django-cacheops,
debug toolbars) wrap and unwrap their ``execute_sql`` through ``__wrapped__``, which would peel
off a wrapper of ours placed above theirs. Instead ``DatabaseOperations.compiler()``, which
every query asks for its compiler class, hands out a subclass per write compiler whose methods
call ``super()``: whatever the base class holds at that moment runs, and then ours. Retirement
goes through :mod:`cachefresh.transactions`: now in autocommit, at commit inside a transaction.
:func:`missing_hooks` tells when something replaced ours anyway. Statements sent here are marked
as accounted for; any other write statement is left to the net (:mod:`cachefresh.statements`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

from django.db import router
from django.db.backends.base.operations import BaseDatabaseOperations
from django.db.models import Field, Model
from django.db.models.constants import OnConflict
from django.db.models.expressions import Col
from django.db.models.lookups import Exact, In
from django.db.models.sql.where import AND, WhereNode

from cachefresh import indexes, retire, statements, transactions
from cachefresh.patching import MethodHooks
from cachefresh.plans import integer_bounds, normalize_pk
from cachefresh.registry import registry
from cachefresh.retire import Retirement


def written_pks(query: Any, alias: str) -> list[Any] | None:
    """The primary keys a write statement's filter confines it to, or ``None`` when unknown.

    Only the written table's own key names its rows: a filter through a relation
    (``filter(author__kitchen__pk=…)``) joins another alias of the table, whose key does not.
    """
    where: WhereNode = query.where
    if where.connector != AND or where.negated:
        return None
    written_alias = query.base_table
    for child in where.children:
        if not (
            isinstance(child, Exact | In)
            and isinstance(child.lhs, Col)
            and child.lhs.alias == written_alias
            and child.lhs.target.primary_key
        ):
            continue
        values = [child.rhs] if isinstance(child, Exact) else child.rhs
        if not isinstance(values, list | tuple | set | frozenset) or any(
            hasattr(value, "resolve_expression") for value in values
        ):
            continue
        target = child.lhs.target
        bounds = integer_bounds(target, alias)
        try:
            return [
                normalize_pk(target, value.pk if isinstance(value, Model) else value, bounds)
                for value in values
                if value is not None
            ]
        except Exception:  # a value the database would refuse or never match: retire it all
            return None
    return None


def _watched_tables(query: Any) -> tuple[str, ...] | None:
    """The cached tables a statement on ``query.model`` writes, ``None`` when none are."""
    return registry.watched_family(query.model) if query.model is not None else None


def _rows_written(compiler: Any) -> Retirement:
    """The rows of cached tables the statement wrote: those its filter names by the written
    table's own key, or every row of the table."""
    tables = _watched_tables(compiler.query)
    if tables is None:
        return Retirement(compiler.using)
    return retire.rows(compiler.using, tables, written_pks(compiler.query, compiler.using))


def _after_update(compiler: Any) -> None:
    retirement = _rows_written(compiler)
    # Only the values set matter to index entries (module docstring of cachefresh.indexes);
    # an UPDATE that sets no unique column cannot change which row holds a value.
    retirement.add(
        _index_values(compiler, ((field, value) for field, _, value in compiler.query.values))
    )
    _retire(compiler, retirement)


def _after_delete(compiler: Any) -> None:
    retirement = _rows_written(compiler)
    model = compiler.query.model
    if model is not None:
        # The database deletes or changes these rows itself: no statement names their tables.
        reached = registry.registration().deletes_reach.get(model._meta.db_table)
        if reached:
            retirement.add(retire.rows(compiler.using, reached, None))
    _retire(compiler, retirement)


def _after_insert(compiler: Any) -> None:
    query, using = compiler.query, compiler.using
    tables = _watched_tables(query)
    retirement = Retirement(using)
    # A plain insert changes no row anyone could have cached; an upsert may change any. Either
    # way the transaction has written the table: reading the new row inside it must not store
    # a row that a rollback would take away.
    if tables is not None:
        upsert = query.on_conflict == OnConflict.UPDATE
        retirement.add(
            retire.rows(using, tables, None) if upsert else retire.written(using, tables)
        )
    # Inserted rows (and an upsert's updated ones) hold the proposed rows' values: a cached
    # "no row holds this value" must die. A raw insert's objects carry the values unprepared.
    retirement.add(
        _index_values(
            compiler,
            ((field, getattr(obj, field.attname)) for obj in query.objs for field in query.fields),
        )
    )
    _retire(compiler, retirement)


def _index_values(compiler: Any, written: Iterable[tuple[Field[Any, Any], Any]]) -> Retirement:
    model = compiler.query.model
    plan = registry.plan_or_none(model) if model is not None else None
    if plan is None:
        return Retirement(compiler.using)
    pairs = []
    for field, value in written:
        index = indexes.indexed_field(plan, field.name)
        if index is not None and index.column == field.column:
            pairs.append((index, value))
    return retire.index_values(plan, compiler.using, pairs) if pairs else Retirement(compiler.using)


def _retire(compiler: Any, retirement: Retirement) -> None:
    # On the compiler's own connection: its transaction is the one that wrote.
    if retirement.written:
        transactions.retire_after_commit(retirement, compiler.connection)


_AFTER: dict[str, Callable[[Any], None]] = {
    "SQLUpdateCompiler": _after_update,
    "SQLDeleteCompiler": _after_delete,
    "SQLInsertCompiler": _after_insert,
}
#: A watching subclass per backend compiler class, made on first use.
_watching: dict[type, type] = {}


def _watching_subclass(base: type) -> type:
    found = _watching.get(base)
    if found is None:
        after = _AFTER[base.__name__]
        methods: dict[str, Any] = {
            name: _watching_method(base, name, after)
            for name in _WATCHED_METHODS
            if hasattr(base, name)
        }
        methods["_cachefresh_retiring"] = False
        found = _watching[base] = type(base.__name__, (base,), methods)
    return found


#: What runs a write statement: ``execute_returning_sql`` came with Django 6.0, and calls
#: ``execute_sql`` itself when the backend cannot return rows from an UPDATE.
_WATCHED_METHODS = ("execute_sql", "execute_returning_sql")


def _watching_method(base: type, name: str, after: Callable[[Any], None]) -> Any:
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        retiring = not self._cachefresh_retiring  # not inside our own other method
        self._cachefresh_retiring = True
        try:
            with statements.accounted_for():
                # Looked up on the base class at each call: whoever wrapped it since runs too.
                result = getattr(base, name)(self, *args, **kwargs)
        finally:
            self._cachefresh_retiring = not retiring
        if retiring:
            after(self)
        return result

    method.__name__ = name
    return method


def _handing_out_watchers(compiler: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(compiler)
    def wrapper(self: BaseDatabaseOperations, compiler_name: str) -> Any:
        found = compiler(self, compiler_name)
        if compiler_name in _AFTER:
            return _watching_subclass(found)
        return found

    return wrapper


def _retiring_flushed_tables(execute_sql_flush: Callable[..., Any]) -> Callable[..., Any]:
    # ``manage.py flush`` and TransactionTestCase empty every table with raw SQL, and then reuse
    # primary keys: every cached row of the database must be retired.
    @functools.wraps(execute_sql_flush)
    def wrapper(self: BaseDatabaseOperations, *args: Any, **kwargs: Any) -> Any:
        with statements.accounted_for():
            result = execute_sql_flush(self, *args, **kwargs)
        retire_flushed(self.connection.alias)
        return result

    return wrapper


_hooks = MethodHooks(
    BaseDatabaseOperations,
    {"compiler": _handing_out_watchers, "execute_sql_flush": _retiring_flushed_tables},
)
#: Hook ``DatabaseOperations.compiler()`` and ``execute_sql_flush()``, once per process.
install = _hooks.install
#: The write hooks that something else has replaced since they were installed.
missing_hooks = _hooks.missing
#: What replaced them (``module.qualname``), to find the library that did.
replacements = _hooks.replacements
#: Whether none of them was replaced (the cheap check every cached read makes).
hooks_intact = _hooks.intact
#: Each wrapper as ``(class, name, wrapper)``, for the check of every cached read.
expected_hooks = _hooks.expected


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
    retirement = retire.rows(alias, plan.family, [plan.normalize_pk(pk, alias) for pk in pks])
    # A write out of Django's sight may have set any value of any unique column.
    retirement.add(retire.every_index(plan, alias))
    transactions.retire_after_commit(retirement)


def invalidate_model(model: type[Model], using: str | None = None) -> None:
    """Retire every cached row of ``model`` (and the tables it shares rows with)."""
    plan = registry.plan(model)
    alias = using or router.db_for_write(model)
    retirement = retire.rows(alias, plan.family, None)
    retirement.add(retire.every_index(plan, alias))
    transactions.retire_after_commit(retirement)


def retire_flushed(alias: str) -> None:
    """Every cached table on ``alias`` was emptied: retire them whole."""
    models = registry.cached_models()
    tables = sorted({table for m in models for table in registry.plan(m).family})
    retirement = retire.rows(alias, tables, None)
    for model in models:
        retirement.add(retire.every_index(registry.plan(model), alias))
    transactions.retire_after_commit(retirement)
