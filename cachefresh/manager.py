"""``CacheFreshManager`` / ``CacheFreshQuerySet``: ``cached_get()`` as a drop-in for ``get()``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.db.models import Manager, Model, QuerySet
from django.db.models.manager import BaseManager
from django.db.models.query import ModelIterable

from cachefresh import hooks, indexes, read, unique
from cachefresh import near as near_cache
from cachefresh.instances import DEFAULT_FETCH_MODE, fetch_mode_of
from cachefresh.registry import registry

M = TypeVar("M", bound=Model)

_EXACT = "__exact"
#: What pk_of_lookup returns for a lookup that is not the primary key alone.
NOT_PK: Any = object()


def is_plain(queryset: QuerySet[Any]) -> bool:
    """Whether ``queryset.get(pk=…)`` would return exactly the cached row.

    Anything that filters, locks, reshapes or decorates the result (a manager's own filter,
    a related manager, ``select_for_update()``, ``defer()``, ``select_related()``, annotations,
    ``values()``, slicing, prefetching, set operations) sends the call to the database.
    """
    query = queryset.query
    return (
        not query.where
        and not query.select_for_update
        and query.select_related is False
        and not query.annotations
        and not query.extra
        and not query.extra_tables
        and not query.distinct
        and query.combinator is None
        and query.low_mark == 0
        and query.high_mark is None
        and query.deferred_loading == (frozenset(), True)
        and queryset._iterable_class is ModelIterable
        # Private attributes django-stubs does not declare.
        and not queryset._prefetch_related_lookups  # type: ignore[attr-defined]
        and not queryset._known_related_objects  # type: ignore[attr-defined]
    )


_plain_by_construction: dict[type[Manager[Any]], bool] = {}


def builds_plain(manager: Manager[Any]) -> bool:
    """Whether ``manager.all()`` is a plain queryset (:func:`is_plain`) whatever its state:
    Django's own ``all()``, ``get_queryset()`` and queryset constructor, none overridden. The
    function forms then skip building a queryset for a near hit."""
    manager_class = type(manager)
    known = _plain_by_construction.get(manager_class)
    if known is None:
        known = _plain_by_construction[manager_class] = (
            manager_class.all is BaseManager.all
            and manager_class.get_queryset is BaseManager.get_queryset
            and manager._queryset_class.__init__ is QuerySet.__init__  # type: ignore[attr-defined]
        )
    return known


def pk_of_lookup(model: type[Model], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The pk value if ``get(*args, **kwargs)`` names the primary key alone, else ``NOT_PK``."""
    if args or len(kwargs) != 1:
        return NOT_PK
    ((name, value),) = kwargs.items()
    if name.endswith(_EXACT):
        name = name[: -len(_EXACT)]
    pk = model._meta.pk
    if pk is None or name not in ("pk", pk.name, pk.attname):
        return NOT_PK
    return value


def held_get(manager: Manager[M], using: str | None, pk: Any, *, in_event_loop: bool) -> M | None:
    """A near hit of ``manager.get(pk=pk)`` (on ``using`` if given), with no queryset built
    when the manager builds plain ones; ``None`` sends the call down the whole path."""
    if near_cache.current() is None:
        return None  # the whole path checks all this again: not twice per call
    model = manager.model
    plan = registry.plan(model)  # ImproperlyConfigured for a model that is not cached
    hooks.ensure_installed()
    if builds_plain(manager):
        alias, fetch_mode = using or manager.db, DEFAULT_FETCH_MODE
    else:
        queryset = manager.all()
        queryset = queryset.using(using) if using else queryset
        if not is_plain(queryset):
            return None
        alias, fetch_mode = queryset.db, fetch_mode_of(queryset)
    return read.get_one_held(
        model, plan, alias, pk, in_event_loop=in_event_loop, fetch_mode=fetch_mode
    )


def serve_get(queryset: QuerySet[M], args: tuple[Any, ...], kwargs: dict[str, Any]) -> M:
    """``queryset.get(*args, **kwargs)``, served from the cache when the lookup is one exact
    match on the primary key or on a field unique by itself (:mod:`cachefresh.indexes`)."""
    if args or len(kwargs) != 1 or not is_plain(queryset):
        return queryset.get(*args, **kwargs)
    ((name, value),) = kwargs.items()
    if name.endswith(_EXACT):
        name = name[: -len(_EXACT)]
    pk = queryset.model._meta.pk
    if pk is not None and name in ("pk", pk.name, pk.attname):
        return read.get_one(queryset, value)
    index = indexes.indexed_field(registry.plan(queryset.model), name)
    if index is None:
        return queryset.get(**kwargs)
    return unique.get_by_unique(queryset, index, value)


class CacheFreshQuerySet(QuerySet[M]):
    def cached_get(self, *args: Any, **kwargs: Any) -> M:
        """``get()``, served from the cache when the lookup is the primary key or a unique
        field alone."""
        registry.plan(self.model)  # ImproperlyConfigured for a model that is not cached
        hooks.ensure_installed()
        return serve_get(self, args, kwargs)

    def _pk_lookup(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """The pk value if ``get(*args, **kwargs)`` is a plain primary-key lookup."""
        registry.plan(self.model)  # ImproperlyConfigured for a model that is not cached
        hooks.ensure_installed()
        pk = pk_of_lookup(self.model, args, kwargs)
        return pk if pk is NOT_PK or is_plain(self) else NOT_PK

    def cached_get_many(self, pks: Iterable[Any]) -> dict[Any, M]:
        """``in_bulk(pks)`` served from the cache: missing pks are absent from the result."""
        registry.plan(self.model)
        hooks.ensure_installed()
        if not is_plain(self):
            return self.in_bulk(list(pks))
        return read.get_many(self, pks)

    async def acached_get(self, *args: Any, **kwargs: Any) -> M:
        pk = self._pk_lookup(args, kwargs)
        if pk is not NOT_PK:
            plan = registry.plan(self.model)
            held = read.get_one_held(
                self.model, plan, self.db, pk, in_event_loop=True, fetch_mode=fetch_mode_of(self)
            )
            if held is not None:
                return held  # a near hit: no I/O, so no thread
        return await sync_to_async(self.cached_get)(*args, **kwargs)

    async def acached_get_many(self, pks: Iterable[Any]) -> dict[Any, M]:
        return await sync_to_async(self.cached_get_many)(pks)


class CacheFreshManager(Manager.from_queryset(CacheFreshQuerySet)):  # type: ignore[misc]
    """Make it a model's default manager to cache that model's instances."""

    #: Read by the registry (cachefresh.registry.CACHING_MANAGER_FLAG), which cannot import us.
    caches_model_instances = True

    # A near hit answered before Django's proxy method builds a queryset to call these on.
    def cached_get(self, *args: Any, **kwargs: Any) -> Any:
        pk = pk_of_lookup(self.model, args, kwargs)
        if pk is not NOT_PK and builds_plain(self):
            held = held_get(self, None, pk, in_event_loop=False)
            if held is not None:
                return held
        return self.get_queryset().cached_get(*args, **kwargs)

    async def acached_get(self, *args: Any, **kwargs: Any) -> Any:
        pk = pk_of_lookup(self.model, args, kwargs)
        if pk is not NOT_PK and builds_plain(self):
            held = held_get(self, None, pk, in_event_loop=True)
            if held is not None:
                return held
        return await self.get_queryset().acached_get(*args, **kwargs)
