"""``cached_get_many``'s read path: one round trip for every row asked for, one query for the
misses, under the same token rules as a one-row read (:mod:`cachefresh.read`).

Misses are filled without the herd lock a single-row read takes: waiting on many locks would
serialise batches that share a row, and a batch's query costs about the same whether it reads
one missing row or all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from django.db.models import Model, QuerySet

from cachefresh import fills, stats
from cachefresh.entries import Lookup
from cachefresh.instances import fetch_mode_of, link_peers
from cachefresh.read import miss_reason, select_rows
from cachefresh.routes import Route
from cachefresh.signals import cache_hit, report_fill, report_miss
from cachefresh.store import GuardedStore, get_store
from cachefresh.transactions import ReadMode, may_serve_hits, read_mode

M = TypeVar("M", bound=Model)


def get_many(queryset: QuerySet[M], route: Route[M], raw_pks: Iterable[Any]) -> dict[Any, M]:
    """``queryset.in_bulk(raw_pks)`` through the cache; ``queryset`` must carry no filters."""
    return get_pks(route, raw_pks, fetch_mode_of(queryset), lambda: queryset)


def get_pks(
    route: Route[M], raw_pks: Iterable[Any], fetch_mode: Any, queryset: Callable[[], QuerySet[M]]
) -> dict[Any, M]:
    """``in_bulk(raw_pks)`` on a plain queryset of ``route``'s model and alias, through the
    cache; ``queryset`` makes that queryset, called only when the cache cannot answer all."""
    raw_pks = list(raw_pks)
    normalize = route.normalize
    try:
        pks = list(dict.fromkeys([normalize(pk) for pk in raw_pks]))
    except Exception:
        return queryset().in_bulk(raw_pks)  # Django's own error, or its answer
    if not pks:
        return {}
    if not may_serve_hits(route.primary, route.table):
        stats.count_events(route.label, ("miss", "miss_written_in_transaction"), len(pks))
        report_miss(route.model, route.alias, pks, ReadMode.DATABASE.value)
        return queryset().in_bulk(pks)
    held = None if route.local is None else route.held_many(pks)
    if held is not None:
        return _built(route, pks, held, fetch_mode)
    store = get_store()
    lookup = route.lookup(pks)
    lookup.read(store)
    missed: list[int] = []
    found_pks, found_rows = [], []
    for position, values in enumerate(lookup.all_values()):
        if values is None:
            missed.append(position)
        else:
            found_pks.append(pks[position])
            found_rows.append(values)
    result = _built(route, found_pks, found_rows, fetch_mode)
    stats.count(route.label, "hit", len(result))
    if missed:
        _fill(queryset(), route, store, lookup, missed, result)
    return result


def _built(
    route: Route[M], pks: Sequence[Any], rows: Sequence[list[Any]], fetch_mode: Any
) -> dict[Any, M]:
    """Hits, built as ``in_bulk()`` builds them and announced to ``cache_hit`` receivers."""
    built = route.builder.build_many(route.alias, rows, fetch_mode)
    result: dict[Any, M] = dict(zip(pks, built, strict=True))
    if cache_hit.receivers:
        for pk in result:
            cache_hit.send(route.model, using=route.alias, pk=pk)
    return result


def _fill(
    queryset: QuerySet[M],
    route: Route[M],
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
