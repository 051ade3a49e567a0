"""The read path: serve rows from valid entries, fill misses without ever storing a stale row.

A hit needs the entry's header to carry the row's current token and the table's current
generation (both fetched with the entry in one round trip, :class:`cachefresh.entries.Lookup`).
A filler first takes the tokens, then reads the database, then stores the row under them: a
write committed after the tokens were taken retires them, so a row read before that write can
never be served. Whether a read may fill at all is :func:`cachefresh.transactions.read_mode`'s
call.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Model, QuerySet

from cachefresh import fills, stats
from cachefresh.columns import column_fetch
from cachefresh.entries import Lookup
from cachefresh.herd import LOCK_TTL, HerdWait
from cachefresh.instances import fetch_mode_of
from cachefresh.plans import ModelPlan
from cachefresh.routes import Route
from cachefresh.signals import cache_hit, report_fill, report_miss
from cachefresh.store import GuardedStore, get_store
from cachefresh.transactions import ReadMode, may_serve_hits, read_mode

M = TypeVar("M", bound=Model)


def select_rows(plan: ModelPlan, alias: str, pks: list[Any]) -> list[list[Any]]:
    """The rows with ``pks``, every concrete column, with SQL built once per model and alias:
    the ORM would spend more building the query than a local database spends running it."""
    fetch = column_fetch(plan.model, plan.attnames, alias, plan.schema)
    if len(pks) == 1:
        row = fetch.fetch_one(pks[0])
        return [] if row is None else [row]
    return fetch.fetch_many(pks)


def does_not_exist(model: type[Model]) -> Exception:
    # The stubs' plugin gives DoesNotExist to concrete model classes only, not to type[Model].
    error: type[ObjectDoesNotExist] = model.DoesNotExist  # type: ignore[attr-defined]
    return error(f"{model._meta.object_name} matching query does not exist.")


def miss_reason(mode: ReadMode, lookup: Lookup, store: GuardedStore, missed: list[int]) -> str:
    if mode is not ReadMode.FILL:
        return str(mode.value)
    if lookup.found is None:
        return "cache_unavailable"
    if lookup.retirement_pending(store, missed):
        return "retirement_pending"
    return "absent"


def get_one(queryset: QuerySet[M], route: Route[M], raw_pk: Any) -> M:
    """``queryset.get(pk=raw_pk)`` through the cache; ``queryset`` must carry no filters."""
    return get_pk(route, raw_pk, fetch_mode_of(queryset), lambda: queryset)


def get_pk(route: Route[M], raw_pk: Any, fetch_mode: Any, queryset: Callable[[], QuerySet[M]]) -> M:
    """``get(pk=raw_pk)`` on a plain queryset of ``route``'s model and alias, through the
    cache. ``queryset`` makes that queryset, called only when the cache cannot answer: a hit
    builds none."""
    try:  # _pk_to_serve(), without a call: every hit asks
        pk = route.normalize(raw_pk)
    except Exception:
        pk = None
    if pk is None or not may_serve_hits(route.primary, route.table):
        # A pk Django must judge, or the transaction wrote the table.
        return _database(queryset(), route, raw_pk)
    values = None if route.local is None else route.held(pk)
    if values is None:
        store = get_store()
        lookup = route.lookup([pk])
        values = lookup.values(0) if lookup.read(store) else None
        if values is None:
            return _missed(queryset(), route, store, lookup)
        stats.count(route.label, "hit")
    if cache_hit.receivers:
        cache_hit.send(route.model, using=route.alias, pk=pk)
    return route.builder.build(route.alias, values, fetch_mode)


def _missed(queryset: QuerySet[M], route: Route[M], store: GuardedStore, lookup: Lookup) -> M:
    pk = lookup.pks[0]
    reason = miss_reason(read_mode(route.primary, route.table), lookup, store, [0])
    stats.count_events(route.label, ("miss", f"miss_{reason}"))
    report_miss(route.model, route.alias, [pk], reason)
    if reason != "absent":
        return queryset.get(pk=pk)
    return _fill_one(queryset, route.primary, store, lookup)


def _database(queryset: QuerySet[M], route: Route[M], raw_pk: Any) -> M:
    """``get()`` itself: for a pk only Django may judge (its own error, or its answer), or in
    a transaction that wrote the table (counted as such a miss)."""
    try:
        pk = route.normalize(raw_pk)
    except Exception:
        return queryset.get(pk=raw_pk)
    stats.count_events(route.label, ("miss", "miss_written_in_transaction"))
    report_miss(queryset.model, route.alias, [pk], ReadMode.DATABASE.value)
    return queryset.get(pk=pk)


def get_one_cached(queryset: QuerySet[M], route: Route[M], raw_pk: Any) -> M | None:
    """The row if a valid entry holds it now (local tier or cache), else ``None``: never a
    query and never a fill, for reads that only guess the pk (:mod:`cachefresh.unique`)."""
    pk = _pk_to_serve(route, raw_pk)
    if pk is None:
        return None
    values = route.held(pk)
    if values is None:
        lookup = route.lookup([pk])
        values = lookup.values(0) if lookup.read(get_store()) else None
        if values is None:
            return None
        stats.count(route.label, "hit")
    return _hit(route, pk, values, fetch_mode_of(queryset))


def _pk_to_serve(route: Route[Any], raw_pk: Any) -> Any:
    """The normalised pk if a hit may answer this read; ``None`` when the pk is one Django
    must judge (its own error, or its answer) or the open transaction wrote the table."""
    try:
        pk = route.normalize(raw_pk)
    except Exception:
        return None
    return pk if may_serve_hits(route.primary, route.table) else None


def _hit(route: Route[M], pk: Any, values: list[Any], fetch_mode: Any) -> M:
    """A row found valid, announced to ``cache_hit`` receivers and built as a query would."""
    if cache_hit.receivers:
        cache_hit.send(route.model, using=route.alias, pk=pk)
    return route.builder.build(route.alias, values, fetch_mode)


def _fill_one(queryset: QuerySet[M], primary: str, store: GuardedStore, lookup: Lookup) -> M:
    model, alias, plan, pk = queryset.model, queryset.db, lookup.plan, lookup.pks[0]
    label = plan.label
    herd = HerdWait(label)
    begun = fills.begin_single_fill(store, lookup, LOCK_TTL)
    if begun is None:
        return queryset.get(pk=pk)
    if not begun.locked:
        return _wait_for_fill(queryset, store, lookup, herd)
    # Another fill may have landed between our miss and our lock: serve it, don't query again.
    # Without this a herd refilled the row once per released lock (4 queries; test_herd.py).
    if begun.values_now is not None:
        fills.release_locks(store, lookup, [0])
        stats.count(label, "hit_after_wait")
        return plan.builder(model).build(alias, begun.values_now, fetch_mode_of(queryset))
    rows: list[list[Any]] = []
    stored: list[int] = []
    started = time.monotonic()
    try:
        rows = select_rows(plan, primary, [pk])
    finally:
        filled = dict(enumerate(rows[:1]))
        stored = fills.store_rows(store, lookup, begun.tokens, filled, unlock=[0])
    herd.observe_fill(time.monotonic() - started)
    if not rows:
        raise does_not_exist(model)
    if stored:
        stats.count(label, "fill")
        report_fill(model, alias, [pk])
    return plan.builder(model).build(alias, rows[0], fetch_mode_of(queryset))


def _wait_for_fill(queryset: QuerySet[M], store: GuardedStore, lookup: Lookup, herd: HerdWait) -> M:
    """Another reader is filling this row: wait for it, then read without storing."""
    label = lookup.plan.label
    for _ in herd.polls():
        if not lookup.read(store):
            break
        values = lookup.values(0)
        if values is not None:
            stats.count(label, "hit_after_wait")
            return lookup.plan.builder(queryset.model).build(
                queryset.db, values, fetch_mode_of(queryset)
            )
    stats.count(label, "herd_fallback")
    return queryset.get(pk=lookup.pks[0])
