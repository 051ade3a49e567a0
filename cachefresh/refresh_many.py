"""``smart_refresh_many()``: refresh many instances with one cache round trip and one query
per model and database for the rest, each as ``refresh_from_db()`` would."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from asgiref.sync import sync_to_async
from django.db.models import Model

from cachefresh import fills, retire, stats
from cachefresh.conf import Strategy
from cachefresh.database_strategies import BATCH_MISSES, DATABASE, gone_error
from cachefresh.entries import Lookup
from cachefresh.fills import Tokens
from cachefresh.parity import RefreshRequest, apply_row, prepare
from cachefresh.refresh import report_refresh, resolve_strategy
from cachefresh.signals import report_fill
from cachefresh.store import GuardedStore, get_store
from cachefresh.transactions import ReadMode, read_mode, retire_after_commit

Item = tuple[int, RefreshRequest]


def smart_refresh_many(
    instances: Iterable[Model],
    fields: Iterable[str] | None = None,
    *,
    strategy: str | None = None,
) -> list[Strategy]:
    """Refresh many instances: one cache round trip for all, one query for the rest.

    Returns the strategy used for each instance, in order. With a database strategy the rest
    are read in one query per model and database: a raw ``SELECT … WHERE pk IN (…)`` for
    ``columns`` and ``auto``, one ORM query for ``full``. Rows that no longer exist are retired
    from the cache and reported by ``DoesNotExist`` after the others have been refreshed.
    """
    chosen = resolve_strategy(strategy)
    instances = list(instances)
    fields = None if fields is None else list(fields)
    used: list[Strategy] = [Strategy.FULL] * len(instances)
    reasons = ["django"] * len(instances)
    groups: dict[tuple[type[Model], str], list[Item]] = {}
    for index, instance in enumerate(instances):
        if fields is None:
            instance._prefetched_objects_cache = {}  # type: ignore[attr-defined]
        request = prepare(instance, fields, None)
        if request is None:
            instance.refresh_from_db(fields=fields)
            continue
        groups.setdefault((request.plan.model, request.alias), []).append((index, request))
    gone: list[RefreshRequest] = []
    for items in groups.values():
        for index, _ in items:
            reasons[index] = "forced" if chosen != Strategy.AUTO else "batch"
        gone += _refresh_group(items, chosen, used)
    for instance, strategy_used, reason in zip(instances, used, reasons, strict=True):
        report_refresh(instance, strategy_used, reason, fields)
    if gone:
        for request in gone[1:]:
            if request.cached:
                retire_after_commit(retire.rows(request.alias, request.plan.family, [request.pk]))
        raise gone_error(gone[0])
    return used


def _refresh_group(items: list[Item], chosen: Strategy, used: list[Strategy]) -> list[Any]:
    """Refresh instances of one model on one database; return the requests whose row is gone."""
    first = items[0][1]
    plan, alias = first.plan, first.alias
    store = get_store()
    mode = read_mode(alias, plan.table) if first.cached else None
    lookup = Lookup.rows(plan, alias, [request.pk for _, request in items])
    pending = list(range(len(items)))
    if (chosen == Strategy.CACHE and mode in (ReadMode.FILL, ReadMode.HITS_ONLY)) or (
        chosen == Strategy.AUTO and mode is ReadMode.FILL
    ):
        pending = _from_cache(items, lookup, store, used)
    if not pending:
        return []
    database = chosen if chosen in DATABASE else BATCH_MISSES[chosen]
    tokens = None
    if mode is ReadMode.FILL and (chosen not in DATABASE or DATABASE[chosen].fills_when_named):
        tokens = fills.take_tokens(store, lookup, pending)
    if tokens is None:
        wanted = {name for p in pending for name in items[p][1].loaded}
        attnames = tuple(name for name in plan.attnames if name in wanted)
    else:
        attnames = plan.attnames
    rows_read = DATABASE[database].rows(plan, alias, attnames, [items[p][1].pk for p in pending])
    pk_position = attnames.index(plan.pk_field.attname)
    by_pk = {_row_pk(first, row[pk_position]): row for row in rows_read}
    filled = {}
    gone = []
    for position in pending:
        index, request = items[position]
        row = by_pk.get(request.pk)
        if row is None:
            gone.append(request)
            continue
        if tokens is not None:
            filled[position] = row
        apply_row(request, attnames, row)
        used[index] = database
    if tokens is not None and filled:
        _store(items, lookup, store, tokens, filled)
    return gone


def _from_cache(
    items: list[Item], lookup: Lookup, store: GuardedStore, used: list[Strategy]
) -> list[int]:
    """Apply the rows the cache holds; return the positions it did not."""
    lookup.read(store)
    pending = []
    for position, (index, request) in enumerate(items):
        values = lookup.values(position)
        if values is None:
            pending.append(position)
            continue
        apply_row(request, request.plan.attnames, values)
        used[index] = Strategy.CACHE
    return pending


def _store(
    items: list[Item],
    lookup: Lookup,
    store: GuardedStore,
    tokens: Tokens,
    filled: dict[int, list[Any]],
) -> None:
    stored = fills.store_rows(store, lookup, tokens, filled)
    stats.count(lookup.plan.label, "fill", len(stored))
    for position in stored:
        request = items[position][1]
        report_fill(type(request.instance), request.alias, [request.pk])


def _row_pk(request: RefreshRequest, value: Any) -> Any:
    """A pk read from the database, spelled as the requests spell theirs."""
    if request.cached:
        return request.plan.normalize_pk(value, request.alias)
    return request.plan.pk_field.to_python(value)


async def asmart_refresh_many(
    instances: Iterable[Model],
    fields: Iterable[str] | None = None,
    *,
    strategy: str | None = None,
) -> list[Strategy]:
    return await sync_to_async(smart_refresh_many)(instances, fields, strategy=strategy)
