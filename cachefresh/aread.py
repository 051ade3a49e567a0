"""Hits on the event loop: what the async forms (``acached_get``, ``acached_get_many``,
``aget_object_or_404``, ``asmart_refresh``) answer without a thread, by the pk or by a field
unique by itself.

A hit held in the process (the near cache) costs no I/O; a Redis-tier hit costs one ``MGET`` on
``redis.asyncio`` (:mod:`cachefresh.store.aio`). Keys, validation and instance building are the
sync path's own (:mod:`cachefresh.entries`, :mod:`cachefresh.plans`, :mod:`cachefresh.unique`).
Every function here answers ``None`` when it cannot serve a valid hit (a valid index entry that
says no row holds a value raises ``DoesNotExist``), and the caller then runs the sync path through
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

from cachefresh import hooks, indexes, routes, stats, tiers, unique
from cachefresh.databases import learned_segment
from cachefresh.front import builds_plain, is_plain, wanted
from cachefresh.indexes import IndexedField, IndexLookup
from cachefresh.instances import DEFAULT_FETCH_MODE, fetch_mode_of
from cachefresh.plans import normalize_pk
from cachefresh.read import does_not_exist
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


def may_answer(found: Route[Any]) -> bool:
    """Whether a hit on the event loop may answer a read through ``found``."""
    return not (
        cache_hit.receivers or written_by_any(found.table) or learned_segment(found.primary) is None
    )


def servable(found: Route[Any], raw_pks: Iterable[Any]) -> list[Any] | None:
    """The normalised pks if a hit on the event loop may answer for them, else ``None``."""
    if not may_answer(found):
        return None
    try:
        return list(dict.fromkeys(found.normalize(pk) for pk in raw_pks))
    except Exception:
        return None  # Django's own error, or its answer


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


async def get_by_unique(
    found: Route[M], index: IndexedField, raw_value: Any, fetch_mode: Any
) -> M | None:
    """``get(<index's field>=raw_value)`` if valid entries answer it, by the sync path's rules
    (:mod:`cachefresh.unique`): the pk this process last found holding the value, else the one
    the value's index entry names, then that row's own entry, served only if the row still
    holds the value. A valid entry saying no row holds it raises ``DoesNotExist``."""
    bounds = index.exact_on.get(found.alias, indexes.MISSING)
    if bounds is indexes.MISSING or not may_answer(found):
        return None  # not yet judged exact in a thread
    try:
        value = normalize_pk(index.field, raw_value, bounds)
    except Exception:
        return None  # Django's own error, or its answer
    guess_key = unique.guess_key_of(found, index, value)
    pk = guessed = unique.guessed_pk(guess_key)
    if pk is None:
        pk = await _pk_in_index(found, index, guess_key[0], value)
        if pk is None:
            return None
    values = await rows(found, [pk])
    if values is None:
        return None
    instance = found.builder.build(found.alias, values[0], fetch_mode)
    if not unique.holds(instance, index, value):
        return None  # the value moved on: the thread retires the guess and reads the index
    stats.count(found.label, "index_hit")
    if guessed is None:
        unique.guess(guess_key, pk)
    return instance


async def _pk_in_index(found: Route[M], index: IndexedField, column_tag: str, value: Any) -> Any:
    """The pk the value's valid index entry names, else ``None``; ``DoesNotExist`` if it says
    that no row holds the value."""
    store = get_store()
    reader = aio.reader_of(store)
    if reader is None:
        return None
    lookup = IndexLookup(found.plan, index, column_tag, value)
    lookup.found = await aio.get_many(store, reader, lookup.keys)
    pk = lookup.pk()
    if pk is indexes.NO_ROW:
        stats.count(found.label, "index_hit")
        raise does_not_exist(found.model)
    return None if pk is indexes.MISSING else pk


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


async def get_unique_in_manager(
    manager: Manager[M], using: str | None, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> M | None:
    """A hit of ``manager.get(*args, **kwargs)`` (on ``using`` if given) when the lookup is one
    field unique by itself."""
    if builds_plain(manager):
        found = loop_route(manager.model, using or manager.db)
        return None if found is None else await _by_unique(found, args, kwargs, DEFAULT_FETCH_MODE)
    queryset = manager.all()
    return await get_unique_in(queryset.using(using) if using else queryset, args, kwargs)


async def get_unique_in(
    queryset: QuerySet[M], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> M | None:
    """A hit of ``queryset.get(*args, **kwargs)`` when the queryset is plain and the lookup is
    one field unique by itself."""
    if not is_plain(queryset):
        return None
    found = loop_route(queryset.model, queryset.db)
    return None if found is None else await _by_unique(found, args, kwargs, fetch_mode_of(queryset))


async def _by_unique(
    found: Route[M], args: tuple[Any, ...], kwargs: dict[str, Any], fetch_mode: Any
) -> M | None:
    lookup = wanted(found.plan, args, kwargs)
    if lookup is None or lookup.unique is None:
        return None
    return await get_by_unique(found, lookup.unique, lookup.value, fetch_mode)


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
