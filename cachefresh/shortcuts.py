"""``get_object_or_404`` through the cache, for views that fetch by pk, slug, email…"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django import shortcuts
from django.db.models import Manager, Model, QuerySet
from django.http import Http404

from cachefresh import aread
from cachefresh.front import NOT_PK, pk_of_lookup, serve_get
from cachefresh.registry import registry


def _cached_queryset(klass: Any) -> QuerySet[Any] | None:
    """The queryset ``get_object_or_404(klass, …)`` reads, if its model is cached."""
    queryset = klass._default_manager.all() if hasattr(klass, "_default_manager") else klass
    if isinstance(queryset, Manager):
        queryset = queryset.all()
    if not isinstance(queryset, QuerySet) or registry.plan_or_none(queryset.model) is None:
        return None
    return queryset


def get_object_or_404(klass: Any, *args: Any, **kwargs: Any) -> Any:
    """Django's ``get_object_or_404``, served from the cache when the lookup allows it (one exact
    match on the pk or on a field unique by itself, of a cached model, with no filters)."""
    queryset = _cached_queryset(klass)
    if queryset is None:
        return shortcuts.get_object_or_404(klass, *args, **kwargs)
    model: type[Model] = queryset.model
    try:
        return serve_get(queryset, args, kwargs)
    except model.DoesNotExist as exc:  # type: ignore[attr-defined]
        raise _not_found(model) from exc


async def aget_object_or_404(klass: Any, *args: Any, **kwargs: Any) -> Any:
    """:func:`get_object_or_404` from async code: a hit by the pk or by a field unique by
    itself is served on the event loop, the rest in a thread (``sync_to_async``)."""
    queryset = _cached_queryset(klass)
    if queryset is not None:
        model: type[Model] = queryset.model
        pk = pk_of_lookup(model, args, kwargs)
        try:
            if pk is not NOT_PK:
                hit = await aread.get_in(queryset, pk)
            else:
                hit = await aread.get_unique_in(queryset, args, kwargs)
        except model.DoesNotExist as exc:  # type: ignore[attr-defined]
            raise _not_found(model) from exc
        if hit is not None:
            return hit
    return await sync_to_async(get_object_or_404)(klass, *args, **kwargs)


def _not_found(model: type[Model]) -> Http404:
    return Http404(f"No {model._meta.object_name} matches the given query.")
