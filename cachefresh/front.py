"""The front door: what every public read does before it may use the cache, done once.

``cached_get`` and its manager and async forms, ``cached_get_many``, ``get_object_or_404``,
the view mixins, ``prefetch_cached``, ``smart_refresh``, ``smart_refresh_many`` and ``audit``
all come here first:

* :func:`route`: the model's plan (``ImproperlyConfigured`` for a model that is not cached),
  the write hooks checked (:mod:`cachefresh.hooks`: a read may use the cache only while every
  write is seen), and the database whose entries serve the read: a declared replica reads its
  primary's entries and fills from the primary, never from a lagging copy;
* :func:`is_plain`: whether the queryset would return exactly the cached row;
* :func:`wanted`: what a ``get()`` lookup asks for, parsed once: the pk, one field unique by
  itself (:mod:`cachefresh.indexes`), or anything else (Django answers).

:func:`serve_get` puts them together for ``get()``-shaped calls.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple, TypeVar

from django.db.models import Manager, Model, QuerySet
from django.db.models.manager import BaseManager
from django.db.models.query import ModelIterable

from cachefresh import hooks, indexes, read, read_many, tiers, unique
from cachefresh.conf import get_settings
from cachefresh.indexes import IndexedField
from cachefresh.instances import DEFAULT_FETCH_MODE, fetch_mode_of
from cachefresh.plans import ModelPlan
from cachefresh.read import Route
from cachefresh.registry import registry

__all__ = ["NOT_PK", "Route", "Wanted", "builds_plain", "is_plain", "route", "serve_get"]

M = TypeVar("M", bound=Model)

_EXACT = "__exact"


def route(model: type[Model], alias: str) -> Route:
    """The route of a read of ``model`` through ``alias``; ``ImproperlyConfigured`` if the
    model is not cached."""
    plan = registry.plan(model)
    hooks.ensure_installed()
    return Route(plan, alias, get_settings().replicas.get(alias, alias))


def route_or_none(model: type[Model], alias: str) -> Route | None:
    """:func:`route`, or ``None`` for a model cachefresh does not cache."""
    plan = registry.plan_or_none(model)
    if plan is None:
        return None
    hooks.ensure_installed()
    return Route(plan, alias, get_settings().replicas.get(alias, alias))


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
    Django's own ``all()``, ``get_queryset()`` and queryset constructor, none overridden. A
    read held in the process then needs no queryset at all."""
    manager_class = type(manager)
    known = _plain_by_construction.get(manager_class)
    if known is None:
        known = _plain_by_construction[manager_class] = (
            manager_class.all is BaseManager.all
            and manager_class.get_queryset is BaseManager.get_queryset
            and manager._queryset_class.__init__ is QuerySet.__init__  # type: ignore[attr-defined]
        )
    return known


class Wanted(NamedTuple):
    """One exact lookup the cache can answer: ``unique`` is ``None`` for the pk."""

    unique: IndexedField | None
    value: Any


#: What :func:`pk_of_lookup` says of a lookup that is not the primary key alone.
NOT_PK: Any = object()


def pk_of_lookup(model: type[Model], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The pk value if ``get(*args, **kwargs)`` names the primary key alone, else ``NOT_PK``:
    the question a hit from the local tier asks before anything else is resolved."""
    name_value = _one_exact(args, kwargs)
    pk = model._meta.pk
    if name_value is None or pk is None or name_value[0] not in ("pk", pk.name, pk.attname):
        return NOT_PK
    return name_value[1]


def wanted(plan: ModelPlan, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Wanted | None:
    """What ``get(*args, **kwargs)`` asks for if the cache can answer it, else ``None``."""
    name_value = _one_exact(args, kwargs)
    if name_value is None:
        return None
    name, value = name_value
    pk = plan.pk_field
    if name in ("pk", pk.name, pk.attname):
        return Wanted(None, value)
    index = indexes.indexed_field(plan, name)
    return None if index is None else Wanted(index, value)


def _one_exact(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, Any] | None:
    if args or len(kwargs) != 1:
        return None
    ((name, value),) = kwargs.items()
    return (name[: -len(_EXACT)], value) if name.endswith(_EXACT) else (name, value)


def held_get(manager: Manager[M], using: str | None, pk: Any) -> M | None:
    """A hit of ``manager.get(pk=pk)`` from the local tier (on ``using`` if given), with no
    queryset built when the manager builds plain ones; ``None`` sends the call down the whole
    path."""
    if tiers.local() is None:
        return None  # the whole path checks all this again: not twice per call
    model = manager.model
    if builds_plain(manager):
        alias, fetch_mode = using or manager.db, DEFAULT_FETCH_MODE
    else:
        queryset = manager.all()
        queryset = queryset.using(using) if using else queryset
        if not is_plain(queryset):
            return None
        alias, fetch_mode = queryset.db, fetch_mode_of(queryset)
    return read.get_one_held(model, route(model, alias), pk, fetch_mode=fetch_mode)


def serve_get(queryset: QuerySet[M], args: tuple[Any, ...], kwargs: dict[str, Any]) -> M:
    """``queryset.get(*args, **kwargs)``, served from the cache when the lookup is one exact
    match on the primary key or on a field unique by itself; ``ImproperlyConfigured`` for a
    model that is not cached."""
    found = route(queryset.model, queryset.db)
    lookup = wanted(found.plan, args, kwargs) if is_plain(queryset) else None
    if lookup is None:
        return queryset.get(*args, **kwargs)
    if lookup.unique is None:
        return read.get_one(queryset, found, lookup.value)
    return unique.get_by_unique(queryset, found, lookup.unique, lookup.value)


def serve_get_many(queryset: QuerySet[M], pks: Iterable[Any]) -> dict[Any, M]:
    """``queryset.in_bulk(pks)``, served from the cache when the queryset is plain."""
    found = route(queryset.model, queryset.db)
    if not is_plain(queryset):
        return queryset.in_bulk(list(pks))
    return read_many.get_many(queryset, found, pks)
