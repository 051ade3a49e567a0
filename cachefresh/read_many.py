"""``cached_get_many``'s read path: one round trip for every row asked for, one query for the
misses, under the same token rules as a one-row read (:mod:`cachefresh.read`).

Misses are filled without the herd lock a single-row read takes: waiting on many locks would
serialise batches that share a row, and a batch's query costs about the same whether it reads
one missing row or all of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from django.db.models import Model, QuerySet

from cachefresh import entries, fills, stats
from cachefresh.entries import Lookup
from cachefresh.instances import fetch_mode_of, link_peers
from cachefresh.read import Route, miss_reason, select_rows
from cachefresh.signals import cache_hit, report_fill, report_miss
from cachefresh.store import GuardedStore, get_store
from cachefresh.transactions import ReadMode, may_serve_hits, read_mode

M = TypeVar("M", bound=Model)


def get_many(queryset: QuerySet[M], route: Route, raw_pks: Iterable[Any]) -> dict[Any, M]:
    """``queryset.in_bulk(raw_pks)`` through the cache; ``queryset`` must carry no filters."""
    raw_pks = list(raw_pks)
    plan, alias, primary = route.plan, route.alias, route.primary
    try:
        pks = list(dict.fromkeys(plan.normalize_pk(pk, alias) for pk in raw_pks))
    except Exception:
        return queryset.in_bulk(raw_pks)  # Django's own error, or its answer
    if not pks:
        return {}
    if not may_serve_hits(primary, plan.table):
        stats.count_events(plan.label, ("miss", "miss_written_in_transaction"), len(pks))
        report_miss(queryset.model, alias, pks, ReadMode.DATABASE.value)
        return queryset.in_bulk(pks)
    held = entries.held_rows(plan, primary, pks)
    if held is not None:
        return _built(queryset, route, pks, held)
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
    result = _built(queryset, route, found_pks, found_rows)
    stats.count(plan.label, "hit", len(result))
    if missed:
        _fill(queryset, route, store, lookup, missed, result)
    return result


def _built(
    queryset: QuerySet[M], route: Route, pks: Sequence[Any], rows: Sequence[list[Any]]
) -> dict[Any, M]:
    """Hits, built as ``in_bulk()`` builds them and announced to ``cache_hit`` receivers."""
    builder = route.plan.builder(queryset.model)
    built = builder.build_many(route.alias, rows, fetch_mode_of(queryset))
    result: dict[Any, M] = dict(zip(pks, built, strict=True))
    if cache_hit.receivers:
        for pk in result:
            cache_hit.send(queryset.model, using=route.alias, pk=pk)
    return result


def _fill(
    queryset: QuerySet[M],
    route: Route,
    store: GuardedStore,
    lookup: Lookup,
    missed: list[int],
    result: dict[Any, M],
) -> None:
    """Read the missed rows in one query into ``result``; store them when that is safe."""
    plan, alias, primary, pks = route.plan, route.alias, route.primary, lookup.pks
    model, label = queryset.model, plan.label
    reason = miss_reason(read_mode(primary, plan.table), lookup, store, missed)
    stats.count_events(label, ("miss", f"miss_{reason}"), len(missed))
    report_miss(model, alias, [pks[p] for p in missed], reason)
    tokens = fills.take_tokens(store, lookup, missed) if reason == "absent" else None
    position_of = {pks[p]: p for p in missed}
    builder, fetch_mode = plan.builder(model), fetch_mode_of(queryset)
    filled = {}
    for row in select_rows(plan, alias if tokens is None else primary, [pks[p] for p in missed]):
        pk = plan.normalize_pk(row[plan.pk_index], alias)
        result[pk] = builder.build(alias, row, fetch_mode)
        if pk in position_of:
            filled[position_of[pk]] = row
    if tokens is not None and filled:
        stored = fills.store_rows(store, lookup, tokens, filled)
        stats.count(label, "fill", len(stored))
        report_fill(model, alias, [pks[p] for p in stored])
    link_peers(result.values(), fetch_mode)  # hits and fills came back together
