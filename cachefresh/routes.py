"""Routes: where a cached read of one model through one database alias goes, resolved once.

A read needs the model's plan, the database whose entries serve it (a declared replica reads
its primary's), the keys' prefixes on that database (which name the database itself, asked of
the server once), the local tier, the instance builder, the entries' shape and signing key, and
the pk column's integer range. None of that changes from call to call, so a :class:`Route` holds
it per (model, alias), and stays until :mod:`cachefresh.changes` moves (settings, the database
behind an alias, the registry, a fork), the app registry is rebuilt, or the model's fields
change. A read compares an integer and two identities.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from django.apps import apps
from django.db.models import Model

from cachefresh import changes, stats, tiers
from cachefresh.conf import get_settings
from cachefresh.entries import Lookup, Shape
from cachefresh.instances import InstanceBuilder
from cachefresh.keys import RowKeys, pk_segment
from cachefresh.plans import IntBounds, ModelPlan, integer_bounds, normalize_pk
from cachefresh.registry import registry
from cachefresh.signing import mac_key

M = TypeVar("M", bound=Model)


class Route(Generic[M]):
    """Where cached reads of one model through one alias go, and what they need on the way."""

    __slots__ = (
        "alias",
        "bounds",
        "builder",
        "changes_at",
        "fields",
        "generation",
        "label",
        "local",
        "mac",
        "meta",
        "model",
        "models",
        "pk_names",
        "plan",
        "primary",
        "shape",
        "table",
        "tag",
    )

    def __init__(self, model: type[M], plan: ModelPlan, alias: str, changes_at: int) -> None:
        self.model, self.plan, self.alias, self.label = model, plan, alias, plan.label
        self.table: str = plan.table
        #: Whose entries serve the read, and where fills read: ``alias`` or its primary.
        self.primary: str = get_settings().replicas.get(alias, alias)
        _, self.tag, self.generation = plan.keys_of(self.primary)
        self.local = tiers.local()
        self.builder: InstanceBuilder[M] = plan.builder(model)
        self.shape = Shape(plan.schema, len(plan.attnames), plan.pk_index, typed=False)
        self.mac = mac_key()
        self.bounds: IntBounds = integer_bounds(plan.pk_field, alias)
        pk = plan.pk_field
        #: The ``get()`` keywords that name the pk alone (``front.wanted``'s pk case).
        self.pk_names = frozenset(
            spelled for name in ("pk", pk.name, pk.attname) for spelled in (name, f"{name}__exact")
        )
        # What says the route is still right, with changes_at (taken before resolving).
        self.changes_at, self.models, self.meta = changes_at, apps.get_models(), plan.model._meta
        self.fields = plan.fields

    def current(self) -> bool:
        return (
            self.changes_at == changes.count
            and self.models is apps.get_models()
            and self.fields is self.meta.concrete_fields
        )

    def normalize(self, value: Any) -> Any:
        """The pk as the database compares it (:func:`cachefresh.plans.normalize_pk`); raises
        for a value Django must judge."""
        bounds = self.bounds
        if type(value) is int and bounds is not None:  # the hot path, without a call
            low, high = bounds
            if (low is None or value >= low) and (high is None or value <= high):
                return value
        return normalize_pk(self.plan.pk_field, value, bounds)

    def entry_key(self, pk: Any) -> str:
        """The row entry's key (:class:`cachefresh.keys.RowKeys`'s ``entry``)."""
        if type(pk) is int:
            return f"{self.tag}|i{pk}}}:e"
        return f"{self.tag}|{pk_segment(pk)}}}:e"

    def held(self, pk: Any) -> list[Any] | None:
        """The row with ``pk`` if the local tier holds it (counted as a hit), else ``None``:
        the cheapest hit there is, with no :class:`Lookup` and no I/O."""
        local = self.local
        if local is None:
            return None
        # The key of an int pk without a call: the hit path of most models.
        values = local.get(f"{self.tag}|i{pk}}}:e" if type(pk) is int else self.entry_key(pk))
        if values is not None:
            stats.count_events(self.label, ("hit", local.hit_event))
        return values

    def held_many(self, pks: Sequence[Any]) -> list[list[Any]] | None:
        """The rows with ``pks`` if the local tier holds every one (counted as hits), else
        ``None``: a batch's cheapest hit."""
        local = self.local
        if local is None:
            return None
        entry_key = self.entry_key
        held = local.get_many([entry_key(pk) for pk in pks])
        if held is None or None in held:
            return None
        stats.count_events(self.label, ("hit", local.hit_event), len(held))
        return held  # type: ignore[return-value]  # no None in it, checked above

    def lookup(self, pks: Sequence[Any]) -> Lookup:
        """A lookup of the rows with (normalised) ``pks``, through the local tier if any."""
        tag = self.tag
        # One row without a list comprehension (a call of its own on Python 3.11).
        pairs = [RowKeys(tag, pks[0])] if len(pks) == 1 else [RowKeys(tag, pk) for pk in pks]
        return Lookup(self.plan, self.shape, pairs, self.generation, pks, self.local, self.mac)


_routes: dict[tuple[type[Model], str], Route[Any]] = {}


def route(model: type[M], alias: str) -> Route[M]:
    """The route of reads of ``model`` through ``alias``; ``ImproperlyConfigured`` if the model
    is not cached. May connect to the database, once, to learn which one it is."""
    found = _routes.get((model, alias))
    if (  # Route.current(), without a call: every cached read asks
        found is not None
        and found.changes_at == changes.count
        and found.models is apps.get_models()
        and found.fields is found.meta.concrete_fields
    ):
        return found
    changes_at = changes.count
    built = _routes[model, alias] = Route(model, registry.plan(model), alias, changes_at)
    return built


def route_or_none(model: type[M], alias: str) -> Route[M] | None:
    """:func:`route`, or ``None`` for a model cachefresh does not cache."""
    found = _routes.get((model, alias))
    if found is not None and found.current():
        return found
    return None if registry.plan_or_none(model) is None else route(model, alias)


def resolved_route(model: type[M], alias: str) -> Route[M] | None:
    """:func:`route` if this process has resolved it already, else ``None``: resolving reads
    ``connections[alias]`` (the pk column's range, the database's identity), which an event
    loop leaves to the thread."""
    found = _routes.get((model, alias))
    return found if found is not None and found.current() else None
