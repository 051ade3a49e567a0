"""``CacheFreshManager`` / ``CacheFreshQuerySet``: ``cached_get()`` as a drop-in for ``get()``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.db.models import Manager, Model, QuerySet
from django.db.models.query import ModelIterable

from cachefresh import hooks, indexes, read, unique
from cachefresh.registry import registry

M = TypeVar("M", bound=Model)

_EXACT = "__exact"
#: What _pk_lookup returns for a lookup that is not the primary key alone.
_NOT_PK: Any = object()


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
        if args or len(kwargs) != 1:
            return _NOT_PK
        ((name, value),) = kwargs.items()
        if name.endswith(_EXACT):
            name = name[: -len(_EXACT)]
        pk = self.model._meta.pk
        if pk is None or name not in ("pk", pk.name, pk.attname) or not is_plain(self):
            return _NOT_PK
        return value

    def cached_get_many(self, pks: Iterable[Any]) -> dict[Any, M]:
        """``in_bulk(pks)`` served from the cache: missing pks are absent from the result."""
        registry.plan(self.model)
        hooks.ensure_installed()
        if not is_plain(self):
            return self.in_bulk(list(pks))
        return read.get_many(self, pks)

    async def acached_get(self, *args: Any, **kwargs: Any) -> M:
        pk = self._pk_lookup(args, kwargs)
        if pk is not _NOT_PK:
            held = read.get_one_held(self, pk)
            if held is not None:
                return held  # a near hit: no I/O, so no thread
        return await sync_to_async(self.cached_get)(*args, **kwargs)

    async def acached_get_many(self, pks: Iterable[Any]) -> dict[Any, M]:
        return await sync_to_async(self.cached_get_many)(pks)


class CacheFreshManager(Manager.from_queryset(CacheFreshQuerySet)):  # type: ignore[misc]
    """Make it a model's default manager to cache that model's instances."""

    #: Read by the registry (cachefresh.registry.CACHING_MANAGER_FLAG), which cannot import us.
    caches_model_instances = True
