"""``smart_refresh()``: bring an instance up to date the cheapest correct way.

Three ways, one behaviour — that of ``Model.refresh_from_db()``:

* ``CACHE``: the row from a valid cache entry, no query;
* ``FULL``: Django's own ``refresh_from_db()``. Asked for by name (or after a cache miss) it
  then fills the cache from the row, with the tokens taken before the query as in any fill;
  chosen database-first by ``AUTO`` it stores nothing, since the cost model found that looking
  in the cache does not pay for this model;
* ``COLUMNS``: one raw ``SELECT`` of just the requested columns.

``AUTO`` picks among them by an online cost model (:mod:`cachefresh.cost`). Inside a
transaction the cache is used as :func:`cachefresh.transactions.read_mode` allows. On a model
that is not cached only ``FULL`` and ``COLUMNS`` apply.

Values found by ``CACHE`` and ``COLUMNS`` are applied to the instance by
:func:`cachefresh.parity.apply_values`, which follows ``refresh_from_db()`` step by step.
Anything it does not model (``from_queryset``, prefetched names, lookups, reverse relations,
unknown names, an unsaved instance) goes to ``refresh_from_db()`` itself, so errors and edge
cases are Django's own.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from django.db.models import Model, QuerySet

from cachefresh import stats
from cachefresh.conf import Strategy, get_settings
from cachefresh.cost import Estimates, cost_model
from cachefresh.database_strategies import DATABASE
from cachefresh.entries import Lookup
from cachefresh.parity import RefreshRequest, apply_row, prepare
from cachefresh.signals import refreshed
from cachefresh.store import GuardedStore, get_store
from cachefresh.transactions import ReadMode, read_mode

#: Each strategy by its name: looked up on every call, where ``Strategy(name)`` and iterating
#: the enum cost a dozen Python calls.
_BY_NAME: dict[str, Strategy] = {member.value: member for member in Strategy}


def resolve_strategy(strategy: str | None) -> Strategy:
    """``None`` means ``CACHEFRESH['REFRESH_STRATEGY']``; unknown names are refused."""
    if strategy is None:
        return get_settings().refresh_strategy
    found = _BY_NAME.get(strategy) if isinstance(strategy, str) else None
    if found is None:
        raise ValueError(
            f"Unknown refresh strategy {strategy!r}; valid strategies are "
            f"{', '.join(repr(name.value) for name in Strategy)}."
        )
    return found


def _timed_lookup(
    request: RefreshRequest, store: GuardedStore, known: Estimates | None = None
) -> list[Any] | None:
    """A cache lookup whose time (hit or miss) feeds the cost model, forced or not."""
    started = time.perf_counter()
    lookup = Lookup.rows(request.plan, request.alias, [request.pk])
    lookup.read(store)
    values = lookup.values(0)
    if known is None:
        known = cost_model.of(request.label, request.alias, request.whole_row)
    known.observe_lookup(values is not None, time.perf_counter() - started)
    return values


def run_database(
    request: RefreshRequest, store: GuardedStore, strategy: str, fill: bool
) -> Strategy:
    started = time.perf_counter()
    chosen = _BY_NAME[strategy]
    DATABASE[chosen].refresh_one(request, store, fill)
    whole = fill or request.whole_row
    cost_model.observe_database(
        request.label, request.alias, strategy, whole, time.perf_counter() - started
    )
    return chosen


def smart_refresh(
    instance: Model,
    fields: Iterable[str] | None = None,
    *,
    strategy: str | None = None,
    using: str | None = None,
    from_queryset: QuerySet[Any] | None = None,
) -> Strategy:
    """Reload ``instance`` from the cache or the database; return the strategy that ran.

    ``strategy`` defaults to ``CACHEFRESH['REFRESH_STRATEGY']``. On a model cachefresh does not
    cache, ``auto`` chooses between the database strategies and ``cache`` acts as a miss.
    """
    chosen = resolve_strategy(strategy)
    if fields is None:
        # refresh_from_db() clears prefetched objects first, whatever happens next.
        instance._prefetched_objects_cache = {}  # type: ignore[attr-defined]
    request = prepare(instance, fields, using) if from_queryset is None else None
    if request is None:
        instance.refresh_from_db(using=using, fields=fields, from_queryset=from_queryset)
        report_refresh(instance, Strategy.FULL, "django", fields)
        return Strategy.FULL
    store = get_store()
    mode = read_mode(request.alias, request.plan.table) if request.cached else None
    if chosen == Strategy.AUTO:
        used, reason = _auto(request, store, cache_allowed=mode is ReadMode.FILL)
    elif chosen == Strategy.CACHE and mode is None:
        used, reason = run_database(request, store, Strategy.FULL, fill=False), "uncached"
    elif chosen == Strategy.CACHE and mode is ReadMode.DATABASE:
        used, reason = run_database(request, store, Strategy.FULL, fill=False), "transaction"
    elif chosen == Strategy.CACHE:
        values = _timed_lookup(request, store)
        if values is not None:
            apply_row(request, request.plan.attnames, values)
            used, reason = Strategy.CACHE, "forced"
        else:
            used, reason = run_database(request, store, Strategy.FULL, fill=True), "miss"
    else:
        used = run_database(request, store, chosen, fill=DATABASE[chosen].fills_when_named)
        reason = "forced"
    report_refresh(instance, used, reason, fields)
    return used


def report_refresh(
    instance: Model, used: Strategy, reason: str, fields: Iterable[str] | None
) -> None:
    """Count the strategy and why (under the concrete model, as reads are), and signal it."""
    label = type(instance)._meta.concrete_model._meta.label  # type: ignore[union-attr]
    stats.count_events(label, (f"refresh_{used}", f"refresh_reason_{reason}"))
    if refreshed.receivers:
        refreshed.send(type(instance), instance=instance, strategy=used, fields=fields)


def _auto(
    request: RefreshRequest, store: GuardedStore, cache_allowed: bool
) -> tuple[Strategy, str]:
    known = cost_model.of(request.label, request.alias, request.whole_row)
    decision = cost_model.decide(known, tuple(DATABASE), cache_allowed)
    if not decision.cache_first:
        return run_database(request, store, decision.database, fill=False), decision.reason
    values = _timed_lookup(request, store, known)
    if values is not None:
        apply_row(request, request.plan.attnames, values)
        return Strategy.CACHE, decision.reason
    # A miss: read the whole row so the next refresh can be a hit.
    return run_database(request, store, decision.database, fill=True), "miss"
