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

from cachefresh import hooks, indexes, read, read_many, routes, unique
from cachefresh.indexes import IndexedField
from cachefresh.instances import DEFAULT_FETCH_MODE
from cachefresh.plans import ModelPlan
from cachefresh.routes import Route

__all__ = [
    "NOT_PK",
    "Route",
    "Wanted",
    "builds_plain",
    "is_plain",
    "manager_get",
    "manager_get_many",
    "manager_get_pk",
    "route",
    "serve_get",
]

M = TypeVar("M", bound=Model)

_EXACT = "__exact"


def route(model: type[M], alias: str) -> Route[M]:
    """The route of a read of ``model`` through ``alias`` (resolved once per model and alias,
    :mod:`cachefresh.routes`), the hooks checked; ``ImproperlyConfigured`` if the model is not
    cached."""
    found = routes.route(model, alias)
    hooks.ensure_installed()
    return found


def route_or_none(model: type[M], alias: str) -> Route[M] | None:
    """:func:`route`, or ``None`` for a model cachefresh does not cache."""
    found = routes.route_or_none(model, alias)
    if found is not None:
        hooks.ensure_installed()
    return found


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


def manager_get(
    manager: Manager[M], using: str | None, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> M:
    """``manager.get(*args, **kwargs)`` (on ``using`` if given) as :func:`serve_get` serves it,
    with no queryset built for a pk lookup when the manager builds plain ones, unless the cache
    cannot answer."""
    plain = _plain_by_construction.get(type(manager))
    if plain if plain is not None else builds_plain(manager):
        found = routes.route(manager.model, using or manager.db)
        hooks.ensure_installed()
        if not args and len(kwargs) == 1:
            ((name, value),) = kwargs.items()
            if name in found.pk_names:
                return read.get_pk(found, value, DEFAULT_FETCH_MODE, lambda: _all(manager, using))
    return serve_get(_all(manager, using), args, kwargs)


def manager_get_pk(manager: Manager[M], using: str | None, pk: Any) -> M:
    """:func:`manager_get` of ``get(pk=pk)``, with no lookup to parse (``cached_get(Model,
    pk)``)."""
    plain = _plain_by_construction.get(type(manager))
    if plain if plain is not None else builds_plain(manager):
        found = routes.route(manager.model, using or manager.db)
        hooks.ensure_installed()
        return read.get_pk(found, pk, DEFAULT_FETCH_MODE, lambda: _all(manager, using))
    return serve_get(_all(manager, using), (), {"pk": pk})


def manager_get_many(manager: Manager[M], using: str | None, pks: Iterable[Any]) -> dict[Any, M]:
    """``manager.in_bulk(pks)`` (on ``using`` if given) as :func:`serve_get_many` serves it,
    with no queryset built when the manager builds plain ones, unless some row misses."""
    plain = _plain_by_construction.get(type(manager))
    if plain if plain is not None else builds_plain(manager):
        found = routes.route(manager.model, using or manager.db)
        hooks.ensure_installed()
        return read_many.get_pks(found, pks, DEFAULT_FETCH_MODE, lambda: _all(manager, using))
    return serve_get_many(_all(manager, using), pks)


def _all(manager: Manager[M], using: str | None) -> QuerySet[M]:
    queryset = manager.all()
    return queryset.using(using) if using else queryset


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
