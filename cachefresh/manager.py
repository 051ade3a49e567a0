"""``CacheFreshManager`` / ``CacheFreshQuerySet``: ``cached_get()`` as a drop-in for ``get()``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.db.models import Manager, Model, QuerySet

from cachefresh import aread, front
from cachefresh.front import NOT_PK, builds_plain, pk_of_lookup

M = TypeVar("M", bound=Model)


class CacheFreshQuerySet(QuerySet[M]):
    def cached_get(self, *args: Any, **kwargs: Any) -> M:
        """``get()``, served from the cache when the lookup is the primary key or a unique
        field alone."""
        return front.serve_get(self, args, kwargs)

    def cached_get_many(self, pks: Iterable[Any]) -> dict[Any, M]:
        """``in_bulk(pks)`` served from the cache: missing pks are absent from the result."""
        return front.serve_get_many(self, pks)

    async def acached_get(self, *args: Any, **kwargs: Any) -> M:
        """``cached_get()`` from async code: a hit is served on the event loop, the rest in a
        thread (``sync_to_async``)."""
        pk = pk_of_lookup(self.model, args, kwargs)
        if pk is not NOT_PK:
            hit = await aread.get_in(self, pk)
        else:
            hit = await aread.get_unique_in(self, args, kwargs)
        if hit is not None:
            return hit
        return await sync_to_async(self.cached_get)(*args, **kwargs)

    async def acached_get_many(self, pks: Iterable[Any]) -> dict[Any, M]:
        pks = list(pks)
        hits = await aread.get_many_in(self, pks)
        if hits is not None:
            return hits
        return await sync_to_async(self.cached_get_many)(pks)


class CacheFreshManager(Manager.from_queryset(CacheFreshQuerySet)):  # type: ignore[misc]
    """Make it a model's default manager to cache that model's instances."""

    #: Read by the registry (cachefresh.registry.CACHING_MANAGER_FLAG), which cannot import us.
    caches_model_instances = True

    # A hit is answered before Django's proxy method builds a queryset.
    def cached_get(self, *args: Any, **kwargs: Any) -> Any:
        return front.manager_get(self, None, args, kwargs)

    def cached_get_many(self, pks: Iterable[Any]) -> Any:
        return front.manager_get_many(self, None, pks)

    async def acached_get(self, *args: Any, **kwargs: Any) -> Any:
        if not builds_plain(self):
            return await self.get_queryset().acached_get(*args, **kwargs)
        pk = pk_of_lookup(self.model, args, kwargs)
        hit: Any
        if pk is not NOT_PK:
            hit = await aread.get_in_manager(self, None, pk)
        else:
            hit = await aread.get_unique_in_manager(self, None, args, kwargs)
        if hit is not None:
            return hit
        return await sync_to_async(self.cached_get)(*args, **kwargs)
