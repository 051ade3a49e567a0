"""The database strategies of ``smart_refresh()``, as data: for each one, how it reloads one
instance and how it reads many rows. :mod:`cachefresh.refresh` and :mod:`cachefresh.refresh_many`
run them, the cost model times them under their names, and the statistics count them under
``refresh_<name>``: a new strategy is a name in :mod:`cachefresh.strategy` and an entry in
:data:`DATABASE`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.db.models.fields.files import FieldFile

from cachefresh import fills, retire, stats
from cachefresh.columns import column_fetch
from cachefresh.entries import Lookup
from cachefresh.fills import Tokens
from cachefresh.parity import RefreshRequest, apply_row
from cachefresh.plans import ModelPlan
from cachefresh.signals import report_fill
from cachefresh.store import GuardedStore
from cachefresh.strategy import Strategy
from cachefresh.transactions import ReadMode, read_mode, retire_after_commit


@dataclass(frozen=True)
class DatabaseStrategy:
    #: Reload one instance; with ``fill``, store its whole row under tokens taken before the
    #: read (when the transaction allows).
    refresh_one: Callable[[RefreshRequest, GuardedStore, bool], None]
    #: ``rows(plan, alias, attnames, pks)``: the rows of ``pks`` (``attnames``, in order), in
    #: one query.
    rows: Callable[[ModelPlan, str, tuple[str, ...], list[Any]], list[list[Any]]]
    #: Whether asking for it by name fills the cache: it reads whole rows anyway.
    fills_when_named: bool


def gone_error(request: RefreshRequest) -> Exception:
    """The row is gone: retire its entry and raise what ``refresh_from_db()`` raises."""
    if request.cached:
        retire_after_commit(retire.rows(request.alias, request.plan.family, [request.pk]))
    model = type(request.instance)
    # The stubs' plugin gives DoesNotExist to concrete model classes only, not to type[Model].
    does_not_exist: type[ObjectDoesNotExist] = model.DoesNotExist  # type: ignore[attr-defined]
    return does_not_exist(f"{model._meta.object_name} matching query does not exist.")


def _tokens(request: RefreshRequest, store: GuardedStore) -> tuple[Lookup, Tokens] | None:
    """Tokens for a fill, taken before the database read; ``None`` when nothing may be stored."""
    if not request.cached or read_mode(request.alias, request.plan.table) is not ReadMode.FILL:
        return None
    lookup = Lookup.rows(request.plan, request.alias, [request.pk])
    tokens = fills.take_tokens(store, lookup, [0])
    return None if tokens is None else (lookup, tokens)


def _fill(
    request: RefreshRequest,
    store: GuardedStore,
    taken: tuple[Lookup, Tokens],
    values: Sequence[Any],
) -> None:
    lookup, tokens = taken
    if fills.store_rows(store, lookup, tokens, {0: values}):
        stats.count(request.label, "fill")
        report_fill(type(request.instance), request.alias, [request.pk])


def _full(request: RefreshRequest, store: GuardedStore, fill: bool) -> None:
    taken = _tokens(request, store) if fill and request.whole_row else None
    instance = request.instance
    try:
        instance.refresh_from_db(using=request.alias, fields=request.requested)
        instance._state.db = request.state_db
    except type(instance).DoesNotExist:  # type: ignore[attr-defined]  # see gone_error()
        raise gone_error(request) from None
    if taken is not None:
        values = [_as_read(instance.__dict__[name]) for name in request.plan.attnames]
        _fill(request, store, taken, values)


def _as_read(value: Any) -> Any:
    """An attribute's value as the database returned it, which is what entries hold.

    A FileField's descriptor replaces the file name it loaded with a ``FieldFile`` on access,
    and ``refresh_from_db()`` copies attributes through it: the name is what was read.
    """
    return value.name if isinstance(value, FieldFile) else value


def _full_rows(plan: ModelPlan, alias: str, attnames: tuple[str, ...], pks: list[Any]) -> Any:
    queryset = plan.model._base_manager.using(alias).filter(pk__in=pks).order_by()
    return [list(row) for row in queryset.values_list(*attnames)]


def _columns(request: RefreshRequest, store: GuardedStore, fill: bool) -> None:
    taken = _tokens(request, store) if fill else None
    attnames = request.plan.attnames if taken is not None else request.loaded
    plan = request.plan
    fetch = column_fetch(plan.model, attnames, request.alias, plan.schema)
    row = fetch.fetch_one(request.pk)
    if row is None:
        raise gone_error(request)
    if taken is not None:
        _fill(request, store, taken, row)
    apply_row(request, attnames, row)


def _column_rows(plan: ModelPlan, alias: str, attnames: tuple[str, ...], pks: list[Any]) -> Any:
    return column_fetch(plan.model, attnames, alias, plan.schema).fetch_many(pks)


DATABASE: dict[Strategy, DatabaseStrategy] = {
    Strategy.FULL: DatabaseStrategy(_full, _full_rows, fills_when_named=True),
    Strategy.COLUMNS: DatabaseStrategy(_columns, _column_rows, fills_when_named=False),
}
#: What a batch reads its misses with when the strategy asked for is not a database one.
BATCH_MISSES: dict[Strategy, Strategy] = {
    Strategy.CACHE: Strategy.FULL,
    Strategy.AUTO: Strategy.COLUMNS,
}
