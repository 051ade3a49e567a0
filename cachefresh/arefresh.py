"""``asmart_refresh()``: :func:`cachefresh.refresh.smart_refresh` from async code.

When the strategy reads the cache first (``cache``, or ``auto`` choosing the cache), the lookup
runs on the event loop (:mod:`cachefresh.aread`) and a hit is applied there, with no thread.
Everything that reads the database (a miss, a database strategy, a refresh Django must run
itself) runs in a thread through ``sync_to_async``, with the fill rules of the sync path: the
tokens are taken there, before the database read, under that thread's transaction.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from asgiref.sync import sync_to_async
from django.db import router
from django.db.models import Model, QuerySet

from cachefresh import aread, tiers
from cachefresh.conf import Strategy
from cachefresh.cost import cost_model
from cachefresh.database_strategies import DATABASE
from cachefresh.parity import RefreshRequest, apply_row, prepare
from cachefresh.refresh import report_refresh, resolve_strategy, run_database, smart_refresh
from cachefresh.routes import Route
from cachefresh.signals import refreshed
from cachefresh.store import get_store


async def asmart_refresh(
    instance: Model,
    fields: Iterable[str] | None = None,
    *,
    strategy: str | None = None,
    using: str | None = None,
    from_queryset: QuerySet[Any] | None = None,
) -> Strategy:
    """:func:`~cachefresh.refresh.smart_refresh` from async code."""
    chosen = resolve_strategy(strategy)
    fields = None if fields is None else list(fields)
    on_the_loop = _on_the_loop(instance, fields, chosen, using, from_queryset)
    if on_the_loop is None:
        return await sync_to_async(smart_refresh)(
            instance, fields, strategy=strategy, using=using, from_queryset=from_queryset
        )
    request, route = on_the_loop
    if fields is None:
        # refresh_from_db() clears prefetched objects first, whatever happens next.
        instance._prefetched_objects_cache = {}  # type: ignore[attr-defined]
    if chosen is Strategy.CACHE:
        database, reason = Strategy.FULL, "forced"
    else:
        known = cost_model.of(request.label, request.alias, request.whole_row)
        decision = cost_model.decide(known, tuple(DATABASE), True)
        database, reason = Strategy(decision.database), decision.reason
        if not decision.cache_first:
            return await sync_to_async(_database)(request, database, False, reason, fields)
    found = await _from_cache(request, route)
    if found:
        report_refresh(instance, Strategy.CACHE, reason, fields)
        return Strategy.CACHE
    if found is None:  # the near cache does not hold it: the thread reads on, and keeps it
        return await sync_to_async(smart_refresh)(instance, fields, strategy=strategy, using=using)
    # A miss: read the whole row so the next refresh can be a hit.
    return await sync_to_async(_database)(request, database, True, "miss", fields)


def _on_the_loop(
    instance: Model,
    fields: list[str] | None,
    chosen: Strategy,
    using: str | None,
    from_queryset: QuerySet[Any] | None,
) -> tuple[RefreshRequest, Route[Any]] | None:
    """The refresh and its route, if the event loop may look in the cache for it, else
    ``None``: a strategy that reads the database, one Django must run itself, a model that is
    not cached or whose route the thread has not resolved yet, a ``refreshed`` receiver (it may
    be sync-only), or a hit the loop may not serve."""
    if chosen not in (Strategy.CACHE, Strategy.AUTO) or from_queryset is not None:
        return None
    if refreshed.receivers or not aread.answers_here():
        return None
    model = type(instance)
    # prepare() resolves the route and the pk's range: on the loop only once the thread has.
    found = aread.loop_route(model, using or router.db_for_read(model, instance=instance))
    if found is None or not found.plan.knows_bounds(found.alias):
        return None
    request = prepare(instance, fields, using)
    if request is None or not request.cached:
        return None
    if aread.servable(found, (request.pk,)) is None:
        return None
    return request, found


async def _from_cache(request: RefreshRequest, route: Route[Any]) -> bool | None:
    """Apply the row from a valid entry, timed for the cost model; ``False`` on a miss, ``None``
    when the near cache does not hold the row."""
    started = time.perf_counter()
    rows = await aread.rows(route, [request.pk])
    if rows is None and tiers.local() is not None:
        return None
    known = cost_model.of(request.label, request.alias, request.whole_row)
    known.observe_lookup(rows is not None, time.perf_counter() - started)
    if rows is None:
        return False
    apply_row(request, request.plan.attnames, rows[0])
    return True


def _database(
    request: RefreshRequest, strategy: Strategy, fill: bool, reason: str, fields: Any
) -> Strategy:
    used = run_database(request, get_store(), strategy, fill)
    report_refresh(request.instance, used, reason, fields)
    return used
