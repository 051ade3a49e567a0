"""What ``refresh_from_db()`` does, for values found elsewhere.

:func:`prepare` reads a refresh request as ``refresh_from_db()`` would (which fields, which
database), or declines what it does not model so that Django itself answers; :func:`apply_values`
sets the values and clears relation caches step by step as ``refresh_from_db()`` does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import django
from django.core.exceptions import FieldDoesNotExist
from django.db import router
from django.db.models import Model

from cachefresh import front
from cachefresh.plans import ModelPlan
from cachefresh.registry import registry

# Django 6 walks every field (non-concrete relations included); Django 5.2 the concrete ones.
_REFRESHED_FIELDS = "fields" if django.VERSION >= (6, 0) else "concrete_fields"


@dataclass
class RefreshRequest:
    """One instance's refresh, as ``refresh_from_db()`` would see it."""

    instance: Model
    plan: ModelPlan
    alias: str  # where keys, fills and database reads go: the primary for a replica
    pk: Any
    requested: set[str] | None  # the ``fields`` argument as a set, None for "all loaded"
    loaded: tuple[str, ...]  # attnames the refresh sets, in field order
    state_db: str  # the alias asked for, which ``_state.db`` ends up as
    cached: bool  # whether the model is cached; if not, only the database strategies apply

    @property
    def whole_row(self) -> bool:
        return len(self.loaded) == len(self.plan.attnames)

    @property
    def label(self) -> str:
        return self.plan.label


def prepare(
    instance: Model, fields: Iterable[str] | None, using: str | None
) -> RefreshRequest | None:
    """The refresh to run, or ``None`` to hand the call to ``refresh_from_db()``."""
    model = type(instance)
    alias = using or router.db_for_read(model, instance=instance)
    # Checks the write hooks and maps a replica to its primary, as every cached read does.
    route = front.route_or_none(model, alias)
    plan = route.plan if route is not None else registry.database_plan(model)
    if plan is None or instance.pk is None:
        return None
    meta = model._meta
    if fields is None:
        deferred = instance.get_deferred_fields()
        loaded = tuple(name for name in plan.attnames if name not in deferred)
        requested = None
    else:
        requested = set(fields)
        prefetched = getattr(instance, "_prefetched_objects_cache", ())
        if not requested or any(name in prefetched or "__" in name for name in requested):
            return None
        wanted = {plan.pk_field.attname}
        for name in requested:
            try:
                field = meta.get_field(name)
            except FieldDoesNotExist:
                return None
            attname = getattr(field, "attname", None)
            if not field.concrete or attname not in plan.attnames:
                return None
            wanted.add(attname)
        loaded = tuple(name for name in plan.attnames if name in wanted)
    cached = route is not None
    try:
        # An uncached model's pk names no key; the database compares it as refresh_from_db().
        pk = (
            plan.normalize_pk(instance.pk, alias)
            if cached
            else plan.pk_field.to_python(instance.pk)
        )
    except Exception:
        return None
    primary = route.primary if route is not None else alias
    return RefreshRequest(instance, plan, primary, pk, requested, loaded, alias, cached)


def apply_values(request: RefreshRequest, values: Mapping[str, Any]) -> None:
    """Set ``values`` on the instance and clear relation caches as ``refresh_from_db()`` does."""
    instance, requested = request.instance, request.requested
    meta = instance._meta
    for field in getattr(meta, _REFRESHED_FIELDS):
        if field.concrete:
            if field.attname not in values:
                continue
            setattr(instance, field.attname, values[field.attname])
        # The row read has no related objects cached, so Django drops ours.
        if field.is_relation and field.is_cached(instance):
            field.delete_cached_value(instance)
    for rel in meta.related_objects:
        if (requested is None or rel.name in requested) and rel.is_cached(instance):
            rel.delete_cached_value(instance)
    for private in meta.private_fields:
        if (
            (requested is None or private.name in requested)
            and private.is_relation
            and private.is_cached(instance)
        ):
            private.delete_cached_value(instance)
    instance._state.db = request.state_db


def apply_row(request: RefreshRequest, attnames: Sequence[str], row: Sequence[Any]) -> None:
    """Apply the loaded fields of a row read as ``attnames`` (whole, or just the loaded ones)."""
    by_name = dict(zip(attnames, row, strict=True))
    apply_values(request, {name: by_name[name] for name in request.loaded})
