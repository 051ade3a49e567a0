"""``smart_refresh()``: bring an instance up to date the cheapest correct way.

Three ways, one behaviour — that of ``Model.refresh_from_db()``:

* ``CACHE``: the row from a valid cache entry, no query;
* ``FULL``: Django's own ``refresh_from_db()``, after which the cache is filled from the row
  (with the token read before the query, as any fill);
* ``COLUMNS``: one raw ``SELECT`` of just the requested columns.

Values found by ``CACHE`` and ``COLUMNS`` are applied to the instance by
:func:`cachefresh.parity.apply_values`, which follows ``refresh_from_db()`` step by step.
Anything it does not model (``from_queryset``, prefetched names, lookups, reverse relations,
unknown names, an unsaved instance) goes to ``refresh_from_db()`` itself, so errors and edge
cases are Django's own.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Iterable, Sequence
from typing import Any

from asgiref.sync import sync_to_async
from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Model, QuerySet

from cachefresh import stats
from cachefresh.columns import column_fetch
from cachefresh.conf import STRATEGY_NAMES, get_settings
from cachefresh.cost import Estimates, cost_model
from cachefresh.invalidation import in_transaction, record, written_in_transaction
from cachefresh.parity import Request, apply_row, prepare
from cachefresh.read import encode_row, valid_values
from cachefresh.signals import refreshed
from cachefresh.store import GuardedStore, get_store


class Strategy(enum.StrEnum):
    CACHE = "cache"
    FULL = "full"
    COLUMNS = "columns"


def resolve_strategy(strategy: str) -> str:
    """``"auto"`` defers to ``CACHEFRESH['REFRESH_STRATEGY']``; unknown names are refused."""
    if strategy == "auto":
        strategy = get_settings().refresh_strategy
    if not isinstance(strategy, str) or strategy not in STRATEGY_NAMES:
        raise ValueError(
            f"Unknown refresh strategy {strategy!r}; valid strategies are "
            f"{', '.join(repr(name) for name in STRATEGY_NAMES)}."
        )
    return str(strategy)


def _gone(request: Request) -> Exception:
    """The row is gone: retire its entry and raise what ``refresh_from_db()`` raises."""
    record(request.alias, request.plan.family, [request.pk])
    model = type(request.instance)
    # The stubs' plugin gives DoesNotExist to concrete model classes only, not to type[Model].
    does_not_exist: type[ObjectDoesNotExist] = model.DoesNotExist  # type: ignore[attr-defined]
    return does_not_exist(f"{model._meta.object_name} matching query does not exist.")


def _from_cache(request: Request, store: GuardedStore) -> list[Any] | None:
    """The whole row from a valid entry, in ``plan.attnames`` order, or ``None``."""
    row = request.keys()
    found = store.get_many([row.entry, row.token, request.plan.generation_key(request.alias)])
    return valid_values(request.plan, found, request.pk) if found is not None else None


def _timed_lookup(
    request: Request, store: GuardedStore, known: Estimates | None = None
) -> list[Any] | None:
    """A cache lookup whose time (hit or miss) feeds the cost model, forced or not."""
    started = time.perf_counter()
    values = _from_cache(request, store)
    if known is None:
        known = cost_model.of(request.label, request.alias, request.whole_row)
    known.observe_lookup(values is not None, time.perf_counter() - started)
    return values


def _tokens(request: Request, store: GuardedStore) -> list[bytes] | None:
    """Tokens for a fill, taken before the database read; ``None`` when nothing may be stored."""
    if in_transaction(request.alias):
        return None
    row = request.keys()
    if store.is_pending(row.token):
        return None
    return store.ensure_tokens([row.token, request.plan.generation_key(request.alias)])


def _fill(
    request: Request, store: GuardedStore, tokens: list[bytes], values: Sequence[Any]
) -> None:
    entry = encode_row(request.plan, tokens[1], tokens[0], values)
    if entry is not None:
        store.fill({request.keys().entry: entry}, ())
        stats.record(request.label, "fill")


def _full(request: Request, store: GuardedStore, fill: bool) -> None:
    tokens = _tokens(request, store) if fill and request.whole_row else None
    instance = request.instance
    try:
        instance.refresh_from_db(using=request.alias, fields=request.requested)
        instance._state.db = request.state_db
    except type(instance).DoesNotExist:  # type: ignore[attr-defined]  # see _gone()
        raise _gone(request) from None
    if tokens is not None:
        _fill(request, store, tokens, [instance.__dict__[name] for name in request.plan.attnames])


def _columns(request: Request, store: GuardedStore, fill: bool) -> None:
    tokens = _tokens(request, store) if fill else None
    attnames = request.plan.attnames if tokens is not None else request.loaded
    plan = request.plan
    fetch = column_fetch(plan.model, attnames, request.alias, plan.schema)
    row = fetch.fetch_one(request.pk)
    if row is None:
        raise _gone(request)
    if tokens is not None:
        _fill(request, store, tokens, row)
    apply_row(request, attnames, row)


def _run_database(request: Request, store: GuardedStore, strategy: str, fill: bool) -> Strategy:
    started = time.perf_counter()
    if strategy == Strategy.COLUMNS:
        _columns(request, store, fill)
    else:
        _full(request, store, fill)
    whole = fill or request.whole_row
    cost_model.observe_database(
        request.label, request.alias, strategy, whole, time.perf_counter() - started
    )
    return Strategy(strategy)


def smart_refresh(
    instance: Model,
    fields: Iterable[str] | None = None,
    *,
    strategy: str = "auto",
    using: str | None = None,
    from_queryset: QuerySet[Any] | None = None,
) -> Strategy:
    """Reload ``instance`` from the cache or the database; return the strategy that ran."""
    chosen = resolve_strategy(strategy)
    if fields is None:
        # refresh_from_db() clears prefetched objects first, whatever happens next.
        instance._prefetched_objects_cache = {}  # type: ignore[attr-defined]
    request = prepare(instance, fields, using) if from_queryset is None else None
    if request is None:
        instance.refresh_from_db(using=using, fields=fields, from_queryset=from_queryset)
        _report(instance, Strategy.FULL, "django", fields)
        return Strategy.FULL
    store = get_store()
    transaction_open = in_transaction(request.alias)
    written = transaction_open and written_in_transaction(request.alias, request.plan.table)
    if chosen == "auto":
        used, reason = _auto(request, store, cache_allowed=not transaction_open)
    elif chosen == Strategy.CACHE and not written:
        values = _timed_lookup(request, store)
        if values is not None:
            apply_row(request, request.plan.attnames, values)
            used, reason = Strategy.CACHE, "forced"
        else:
            used, reason = _run_database(request, store, Strategy.FULL, fill=True), "miss"
    elif chosen == Strategy.CACHE:
        used, reason = _run_database(request, store, Strategy.FULL, fill=False), "transaction"
    else:
        used = _run_database(request, store, chosen, fill=chosen == Strategy.FULL)
        reason = "forced"
    _report(instance, used, reason, fields)
    return used


def _report(instance: Model, used: Strategy, reason: str, fields: Iterable[str] | None) -> None:
    """Count the strategy and why (under the concrete model, as reads are), and signal it."""
    label = type(instance)._meta.concrete_model._meta.label  # type: ignore[union-attr]
    stats.record_events(label, (f"refresh_{used}", f"refresh_reason_{reason}"))
    if refreshed.receivers:
        refreshed.send(type(instance), instance=instance, strategy=used, fields=fields)


def _auto(request: Request, store: GuardedStore, cache_allowed: bool) -> tuple[Strategy, str]:
    known = cost_model.of(request.label, request.alias, request.whole_row)
    decision = cost_model.decide(known, cache_allowed)
    if not decision.cache_first:
        return _run_database(request, store, decision.database, fill=False), decision.reason
    values = _timed_lookup(request, store, known)
    if values is not None:
        apply_row(request, request.plan.attnames, values)
        return Strategy.CACHE, decision.reason
    # A miss: read the whole row so the next refresh can be a hit.
    return _run_database(request, store, decision.database, fill=True), "miss"


async def asmart_refresh(
    instance: Model,
    fields: Iterable[str] | None = None,
    *,
    strategy: str = "auto",
    using: str | None = None,
    from_queryset: QuerySet[Any] | None = None,
) -> Strategy:
    return await sync_to_async(smart_refresh)(
        instance, fields, strategy=strategy, using=using, from_queryset=from_queryset
    )


def smart_refresh_many(
    instances: Iterable[Model],
    fields: Iterable[str] | None = None,
    *,
    strategy: str = "auto",
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
    groups: dict[tuple[type[Model], str], list[tuple[int, Request]]] = {}
    for index, instance in enumerate(instances):
        if fields is None:
            instance._prefetched_objects_cache = {}  # type: ignore[attr-defined]
        request = prepare(instance, fields, None)
        if request is None:
            instance.refresh_from_db(fields=fields)
            continue
        groups.setdefault((request.plan.model, request.alias), []).append((index, request))
    gone: list[Request] = []
    for items in groups.values():
        for index, _ in items:
            reasons[index] = "forced" if chosen != "auto" else "batch"
        gone += _refresh_group(items, chosen, used)
    for instance, strategy_used, reason in zip(instances, used, reasons, strict=True):
        _report(instance, strategy_used, reason, fields)
    if gone:
        for request in gone[1:]:
            record(request.alias, request.plan.family, [request.pk])
        raise _gone(gone[0])
    return used


def _refresh_group(
    items: list[tuple[int, Request]], chosen: str, used: list[Strategy]
) -> list[Request]:
    """Refresh instances of one model on one database; return the requests whose row is gone."""
    plan, alias = items[0][1].plan, items[0][1].alias
    store = get_store()
    transaction_open = in_transaction(alias)
    written = transaction_open and written_in_transaction(alias, plan.table)
    generation_key = plan.generation_key(alias)
    pending = items
    if (chosen == Strategy.CACHE and not written) or (chosen == "auto" and not transaction_open):
        rows = [request.keys() for _, request in items]
        found = store.get_many(
            [k for row in rows for k in (row.entry, row.token)] + [generation_key]
        )
        pending = []
        for position, (index, request) in enumerate(items):
            values = (
                valid_values(plan, found, request.pk, 2 * position) if found is not None else None
            )
            if values is None:
                pending.append((index, request))
                continue
            apply_row(request, plan.attnames, values)
            used[index] = Strategy.CACHE
    if not pending:
        return []
    tokens = None
    if chosen != Strategy.COLUMNS and not transaction_open:
        keys = [request.keys().token for _, request in pending]
        if not any(store.is_pending(key) for key in keys):
            tokens = store.ensure_tokens([*keys, generation_key])
    if tokens is None:
        wanted = {name for _, request in pending for name in request.loaded}
        attnames = tuple(name for name in plan.attnames if name in wanted)
    else:
        attnames = plan.attnames
    pks = [request.pk for _, request in pending]
    database = Strategy.FULL if chosen in (Strategy.FULL, Strategy.CACHE) else Strategy.COLUMNS
    if database == Strategy.COLUMNS:
        rows_read = column_fetch(plan.model, attnames, alias, plan.schema).fetch_many(pks)
    else:
        queryset = plan.model._base_manager.using(alias).filter(pk__in=pks).order_by()
        rows_read = [list(row) for row in queryset.values_list(*attnames)]
    pk_position = attnames.index(plan.pk_field.attname)
    by_pk = {plan.normalize_pk(row[pk_position], alias): row for row in rows_read}
    entries = {}
    gone = []
    for position, (index, request) in enumerate(pending):
        row = by_pk.get(request.pk)
        if row is None:
            gone.append(request)
            continue
        if tokens is not None:
            entry = encode_row(plan, tokens[-1], tokens[position], row)
            if entry is not None:
                entries[request.keys().entry] = entry
        apply_row(request, attnames, row)
        used[index] = database
    if entries:
        store.fill(entries, ())
    return gone


async def asmart_refresh_many(
    instances: Iterable[Model],
    fields: Iterable[str] | None = None,
    *,
    strategy: str = "auto",
) -> list[Strategy]:
    return await sync_to_async(smart_refresh_many)(instances, fields, strategy=strategy)
