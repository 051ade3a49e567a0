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
from collections.abc import Iterable
from typing import Any, TypeVar

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Model, QuerySet

from cachefresh import entries, stats
from cachefresh.columns import column_fetch
from cachefresh.conf import get_settings
from cachefresh.databases import learned_segment
from cachefresh.entries import Lookup
from cachefresh.herd import LOCK_TTL, HerdWait
from cachefresh.instances import fetch_mode_of, link_peers
from cachefresh.plans import ModelPlan
from cachefresh.registry import registry
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


def _miss_reason(mode: ReadMode, lookup: Lookup, store: GuardedStore, missed: list[int]) -> str:
    if mode is not ReadMode.FILL:
        return str(mode.value)
    if lookup.found is None:
        return "cache_unavailable"
    if lookup.retirement_pending(store, missed):
        return "retirement_pending"
    return "absent"


def get_one(queryset: QuerySet[M], raw_pk: Any) -> M:
    """``queryset.get(pk=raw_pk)`` through the cache; ``queryset`` must carry no filters."""
    model = queryset.model
    plan = registry.plan(model)
    alias = queryset.db
    # A replica's rows are its primary's: same keys, and fills read the primary, never a lag.
    primary = get_settings().replicas.get(alias, alias)
    label = plan.label
    try:
        pk = plan.normalize_pk(raw_pk, alias)
    except Exception:
        return queryset.get(pk=raw_pk)  # Django's own error, or its answer
    if may_serve_hits(primary, plan.table):
        held = entries.held_row(plan, primary, pk)
        if held is not None:
            return _hit(model, plan, alias, pk, held, fetch_mode_of(queryset))
    mode = read_mode(primary, plan.table)
    if mode is ReadMode.DATABASE:
        stats.count_events(label, ("miss", "miss_written_in_transaction"))
        report_miss(model, alias, [pk], mode.value)
        return queryset.get(pk=pk)
    store = get_store()
    lookup = Lookup(plan, primary, [pk])
    if lookup.read(store):
        values = lookup.values(0)
        if values is not None:
            stats.count(label, "hit")
            return _hit(model, plan, alias, pk, values, fetch_mode_of(queryset))
    reason = _miss_reason(mode, lookup, store, [0])
    stats.count_events(label, ("miss", f"miss_{reason}"))
    report_miss(model, alias, [pk], reason)
    if reason != "absent":
        return queryset.get(pk=pk)
    return _fill_one(queryset, primary, store, lookup)


def get_one_cached(queryset: QuerySet[M], raw_pk: Any) -> M | None:
    """The row if a valid entry holds it now (near tier or cache), else ``None``: never a
    query and never a fill, for reads that only guess the pk (:mod:`cachefresh.unique`)."""
    model, plan, alias = queryset.model, registry.plan(queryset.model), queryset.db
    servable = _servable(plan, alias, raw_pk)
    if servable is None:
        return None
    primary, pk = servable
    values = entries.held_row(plan, primary, pk)
    if values is None:
        lookup = Lookup(plan, primary, [pk])
        values = lookup.values(0) if lookup.read(get_store()) else None
        if values is None:
            return None
        stats.count(plan.label, "hit")
    return _hit(model, plan, alias, pk, values, fetch_mode_of(queryset))


def get_one_held(
    model: type[M],
    plan: ModelPlan,
    alias: str,
    raw_pk: Any,
    *,
    in_event_loop: bool,
    fetch_mode: Any,
) -> M | None:
    """The row if this process's near cache holds it, else ``None``: no I/O and no queryset,
    so the async forms answer a near hit in the event loop (and hop to a thread only for the
    rest), and the function form answers it without building a queryset."""
    if in_event_loop and cache_hit.receivers:
        return None  # a receiver may query the database: not from the event loop
    servable = _servable(plan, alias, raw_pk)
    if servable is None:
        return None
    primary, pk = servable
    if in_event_loop and learned_segment(primary) is None:
        return None  # learning it connects to the database: not from the event loop
    values = entries.held_row(plan, primary, pk)
    return None if values is None else _hit(model, plan, alias, pk, values, fetch_mode)


def _servable(plan: ModelPlan, alias: str, raw_pk: Any) -> tuple[str, Any] | None:
    """``(primary alias, normalised pk)`` if a hit may answer this read; ``None`` when the pk
    is one Django must judge (``get_one()`` hands it to the ORM, for Django's own error) or
    the open transaction wrote the table."""
    primary = get_settings().replicas.get(alias, alias)
    try:
        pk = plan.normalize_pk(raw_pk, alias)
    except Exception:
        return None
    return (primary, pk) if may_serve_hits(primary, plan.table) else None


def _hit(
    model: type[M], plan: ModelPlan, alias: str, pk: Any, values: list[Any], fetch_mode: Any
) -> M:
    """A row found valid, announced to ``cache_hit`` receivers and built as a query would."""
    if cache_hit.receivers:
        cache_hit.send(model, using=alias, pk=pk)
    return plan.builder(model).build(alias, values, fetch_mode)


def _fill_one(queryset: QuerySet[M], primary: str, store: GuardedStore, lookup: Lookup) -> M:
    model, alias, plan, pk = queryset.model, queryset.db, lookup.plan, lookup.pks[0]
    label = plan.label
    herd = HerdWait(label)
    begun = entries.begin_single_fill(store, lookup, LOCK_TTL)
    if begun is None:
        return queryset.get(pk=pk)
    if not begun.locked:
        return _wait_for_fill(queryset, store, lookup, herd)
    # Another fill may have landed between our miss and our lock: serve it, don't query again.
    # Without this a herd refilled the row once per released lock (4 queries; test_herd.py).
    if begun.values_now is not None:
        entries.release_locks(store, lookup, [0])
        stats.count(label, "hit_after_wait")
        return plan.builder(model).build(alias, begun.values_now, fetch_mode_of(queryset))
    rows: list[list[Any]] = []
    stored: list[int] = []
    started = time.monotonic()
    try:
        rows = select_rows(plan, primary, [pk])
    finally:
        filled = dict(enumerate(rows[:1]))
        stored = entries.store_rows(store, lookup, begun.tokens, filled, unlock=[0])
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


def get_many(queryset: QuerySet[M], raw_pks: Iterable[Any]) -> dict[Any, M]:
    """``queryset.in_bulk(raw_pks)`` through the cache: one round trip, one query for misses.

    Misses are filled without the herd lock a single-row read takes: waiting on many locks
    would serialise batches that share a row, and a batch's query costs about the same whether
    it reads one missing row or all of them.
    """
    raw_pks = list(raw_pks)
    model = queryset.model
    plan = registry.plan(model)
    alias = queryset.db
    primary = get_settings().replicas.get(alias, alias)
    label = plan.label
    try:
        pks = list(dict.fromkeys(plan.normalize_pk(pk, alias) for pk in raw_pks))
    except Exception:
        return queryset.in_bulk(raw_pks)  # Django's own error, or its answer
    if not pks:
        return {}
    if not may_serve_hits(primary, plan.table):
        stats.count_events(label, ("miss", "miss_written_in_transaction"), len(pks))
        report_miss(model, alias, pks, ReadMode.DATABASE.value)
        return queryset.in_bulk(pks)
    builder, fetch_mode = plan.builder(model), fetch_mode_of(queryset)
    held = entries.held_rows(plan, primary, pks)
    if held is not None:
        result: dict[Any, M] = dict(
            zip(pks, builder.build_many(alias, held, fetch_mode), strict=True)
        )
        if cache_hit.receivers:
            for pk in result:
                cache_hit.send(model, using=alias, pk=pk)
        return result
    store = get_store()
    lookup = Lookup(plan, primary, pks)
    lookup.read(store)
    missed: list[int] = []
    found_pks, found_rows = [], []
    for position, values in enumerate(lookup.all_values()):
        if values is None:
            missed.append(position)
        else:
            found_pks.append(pks[position])
            found_rows.append(values)
    result = dict(zip(found_pks, builder.build_many(alias, found_rows, fetch_mode), strict=True))
    stats.count(label, "hit", len(result))
    if cache_hit.receivers:
        for pk in result:
            cache_hit.send(model, using=alias, pk=pk)
    if not missed:
        return result
    reason = _miss_reason(read_mode(primary, plan.table), lookup, store, missed)
    stats.count(label, "miss", len(missed))
    stats.count(label, f"miss_{reason}", len(missed))
    report_miss(model, alias, [pks[p] for p in missed], reason)
    tokens = entries.take_tokens(store, lookup, missed) if reason == "absent" else None
    position_of = {pks[p]: p for p in missed}
    filled = {}
    for row in select_rows(plan, alias if tokens is None else primary, [pks[p] for p in missed]):
        pk = plan.normalize_pk(row[plan.pk_index], alias)
        result[pk] = builder.build(alias, row, fetch_mode)
        if pk in position_of:
            filled[position_of[pk]] = row
    if tokens is not None and filled:
        stored = entries.store_rows(store, lookup, tokens, filled)
        stats.count(label, "fill", len(stored))
        report_fill(model, alias, [pks[p] for p in stored])
    link_peers(result.values(), fetch_mode)  # hits and fills came back together
    return result
