"""Hits on the event loop: what the async forms (``acached_get``, ``acached_get_many``,
``aget_object_or_404``, ``asmart_refresh``) answer without a thread.

A hit held in the process (the near cache) costs no I/O; a Redis-tier hit costs one ``MGET`` on
``redis.asyncio`` (:mod:`cachefresh.store.aio`). Keys, validation and instance building are the
sync path's own (:mod:`cachefresh.entries`, :mod:`cachefresh.plans`). Every function here answers
``None`` when it cannot serve a valid hit, and the caller then runs the sync path through
``sync_to_async``, as Django's async ORM does: misses, fills (tokens taken before the database
read, :mod:`cachefresh.read`), anything that needs the database, a cache that is not Redis.

Nothing here may touch ``connections[...]`` (Django forbids connecting from an event loop, and
a connection's transaction is its thread's): so the thread's transaction is judged from the
whole process (:func:`cachefresh.transactions.written_by_any`: when any open transaction wrote
the table, the sync path decides in the thread that reads), and a database whose key segment
this process has not learned yet is learned by the sync path. A ``cache_hit`` receiver may be
sync-only: with one connected, hits are served in the thread too.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from django.db.models import Manager, Model, QuerySet

from cachefresh import hooks, routes, stats, tiers
from cachefresh.databases import learned_segment
from cachefresh.front import builds_plain, is_plain
from cachefresh.instances import DEFAULT_FETCH_MODE, fetch_mode_of
from cachefresh.routes import Route
from cachefresh.signals import cache_hit
from cachefresh.store import aio, get_store
from cachefresh.transactions import written_by_any

M = TypeVar("M", bound=Model)


def loop_route(model: type[M], alias: str) -> Route[M] | None:
    """The route of ``model`` through ``alias`` if this process has resolved it already (the
    hooks checked), else ``None``: resolving one reads ``connections[alias]``, which the event
    loop leaves to the thread."""
    found = routes.resolved_route(model, alias)
    if found is not None:
        hooks.ensure_installed()
    return found


def servable(found: Route[Any], raw_pks: Iterable[Any]) -> list[Any] | None:
    """The normalised pks if a hit on the event loop may answer for them, else ``None``."""
    if cache_hit.receivers:
        return None
    try:
        pks = list(dict.fromkeys(found.normalize(pk) for pk in raw_pks))
    except Exception:
        return None  # Django's own error, or its answer
    if written_by_any(found.table) or learned_segment(found.primary) is None:
        return None
    return pks


def answers_here() -> bool:
    """Whether :func:`rows` can answer on the event loop: a near cache, or a Redis cache."""
    return tiers.local() is not None or aio.reader_of(get_store()) is not None


async def rows(found: Route[Any], pks: list[Any]) -> list[list[Any]] | None:
    """The rows of ``pks`` (in order) if a valid entry holds every one, else ``None``."""
    if found.local is not None:
        # A row the near cache does not hold is read in the thread, on its tracked connection,
        # so that the near cache keeps it: the next read is a hit with no I/O at all.
        return found.held_many(pks)
    store = get_store()
    reader = aio.reader_of(store)
    if reader is None:
        return None
    lookup = found.lookup(pks)
    lookup.found = await aio.get_many(store, reader, lookup.keys)
    values = lookup.all_values()
    if None in values:
        return None
    stats.count(found.label, "hit", len(values))
    return values  # type: ignore[return-value]  # no None in it, checked above


async def get_one(found: Route[M], raw_pk: Any, fetch_mode: Any) -> M | None:
    """``get(pk=raw_pk)`` if a valid entry holds the row, built on the event loop."""
    pks = servable(found, (raw_pk,))
    if pks is None:
        return None
    values = await rows(found, pks)
    if values is None:
        return None
    return found.builder.build(found.alias, values[0], fetch_mode)


async def get_many(found: Route[M], raw_pks: Iterable[Any], fetch_mode: Any) -> dict[Any, M] | None:
    """``in_bulk(raw_pks)`` if valid entries hold every row, built on the event loop."""
    pks = servable(found, raw_pks)
    if pks is None:
        return None
    if not pks:
        return {}
    values = await rows(found, pks)
    if values is None:
        return None
    built = found.builder.build_many(found.alias, values, fetch_mode)
    return dict(zip(pks, built, strict=True))


async def get_in_manager(manager: Manager[M], using: str | None, pk: Any) -> M | None:
    """A hit of ``manager.get(pk=pk)`` (on ``using`` if given), with no queryset built when the
    manager builds plain ones."""
    if builds_plain(manager):
        found = loop_route(manager.model, using or manager.db)
        return None if found is None else await get_one(found, pk, DEFAULT_FETCH_MODE)
    queryset = manager.all()
    return await get_in(queryset.using(using) if using else queryset, pk)


async def get_many_in_manager(
    manager: Manager[M], using: str | None, pks: Iterable[Any]
) -> dict[Any, M] | None:
    """Hits of ``manager.in_bulk(pks)`` (on ``using`` if given) when every row is held, with no
    queryset built when the manager builds plain ones."""
    if builds_plain(manager):
        found = loop_route(manager.model, using or manager.db)
        return None if found is None else await get_many(found, pks, DEFAULT_FETCH_MODE)
    queryset = manager.all()
    return await get_many_in(queryset.using(using) if using else queryset, pks)


async def get_in(queryset: QuerySet[M], pk: Any) -> M | None:
    """A hit of ``queryset.get(pk=pk)`` when the queryset is plain."""
    if not is_plain(queryset):
        return None
    found = loop_route(queryset.model, queryset.db)
    return None if found is None else await get_one(found, pk, fetch_mode_of(queryset))


async def get_many_in(queryset: QuerySet[M], pks: Iterable[Any]) -> dict[Any, M] | None:
    """Hits of ``queryset.in_bulk(pks)`` when the queryset is plain and every row is held."""
    if not is_plain(queryset):
        return None
    found = loop_route(queryset.model, queryset.db)
    return None if found is None else await get_many(found, pks, fetch_mode_of(queryset))
