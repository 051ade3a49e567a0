"""``prefetch_cached()``: Django's ``prefetch_related_objects()``, with forward foreign keys and
one-to-ones to cached models filled from the cache.

Each level of a lookup (``"writer"``, then ``"publisher"`` of ``"writer__publisher"``) costs one
cache round trip for all its targets and one query for the misses. Everything else Django's
prefetch does is done the same way, so the instances end up exactly as
``prefetch_related_objects`` leaves them (``tests/read/test_prefetch.py`` compares the two):

* targets come from the target model's base manager, routed with the first instance as hint;
* every instance of a level gets a ``_prefetched_objects_cache`` dict if it has none;
* instances whose relation is already cached are not fetched again; when any were fetched,
  only the fetched targets are walked into at the next level, otherwise the cached ones;
* an instance whose key is NULL or names a missing row gets ``None`` in its relation cache;
* a one-to-one target gets its reverse cache set to the (last) instance pointing at it.

A lookup that reaches a level it cannot serve (a reverse or many-to-many relation, an
uncached target, a ``Prefetch`` object, a key to a field other than the pk) is handed to
``prefetch_related_objects`` whole, after the levels before it: Django walks those through
their caches and runs its own queries for the rest.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import ForeignKey, Model, Prefetch, prefetch_related_objects
from django.db.models.constants import LOOKUP_SEP
from django.db.models.fields.related_descriptors import ForwardManyToOneDescriptor

from cachefresh import front
from cachefresh.registry import registry


def prefetch_cached(
    model_instances: Iterable[Model], *related_lookups: str | Prefetch[Any]
) -> None:
    """Like ``prefetch_related_objects(model_instances, *related_lookups)``."""
    instances = list(model_instances)
    if not instances:
        return
    done: dict[str, list[Model]] = {}
    unserved: list[str | Prefetch[Any]] = []
    for lookup in related_lookups:
        if not (isinstance(lookup, str) and _serve(instances, lookup, done)):
            unserved.append(lookup)
    if unserved:
        prefetch_related_objects(instances, *unserved)


def _serve(instances: list[Model], lookup: str, done: dict[str, list[Model]]) -> bool:
    """Fill the levels of ``lookup`` this module can serve; ``False`` when one is left."""
    objects = instances
    parts = lookup.split(LOOKUP_SEP)
    for level, name in enumerate(parts):
        if not objects:
            return True
        path = LOOKUP_SEP.join(parts[: level + 1])
        if path in done:
            objects = done[path]
            continue
        field = _cached_target_field(objects[0], name)
        if field is None:
            return False
        cache_name = field.cache_name
        to_fetch = []
        for obj in objects:
            if not hasattr(obj, "_prefetched_objects_cache"):
                obj._prefetched_objects_cache = {}  # type: ignore[attr-defined]
            if cache_name not in obj._state.fields_cache:  # field.is_cached(obj)
                to_fetch.append(obj)
        if to_fetch:
            objects = done[path] = _fetch_level(to_fetch, field)
        else:
            objects = [target for obj in objects if (target := _cached(obj, field)) is not None]
    return True


def _cached_target_field(obj: Model, name: str) -> ForeignKey[Any, Any] | None:
    """The forward FK or one-to-one ``name`` of ``obj`` if its target is cached, by its pk."""
    descriptor = getattr(type(obj), name, None)
    if not isinstance(descriptor, ForwardManyToOneDescriptor):
        return None
    field: ForeignKey[Any, Any] = descriptor.field
    target = field.related_model
    if (
        field.name != name
        or not isinstance(target, type)
        or registry.plan_or_none(target) is None
        or len(field.foreign_related_fields) != 1
        or not field.foreign_related_fields[0].primary_key
    ):
        return None
    return field


def _cached(obj: Model, field: ForeignKey[Any, Any]) -> Model | None:
    # Django walks a cached relation with getattr(), which cannot query here: it is cached.
    target: Model | None = field.get_cached_value(obj)
    return target


def _fetch_level(objects: list[Model], field: ForeignKey[Any, Any]) -> list[Model]:
    """Set ``field``'s relation cache on each of ``objects``; return the targets found."""
    target_model: type[Model] = field.related_model
    queryset = target_model._base_manager.db_manager(hints={"instance": objects[0]}).all()
    # Django 6.1+: targets load in their source's fetch mode, as the relation's descriptor has it.
    fetch_mode = getattr(objects[0]._state, "fetch_mode", None)
    if fetch_mode is not None:
        queryset = queryset.fetch_mode(fetch_mode)
    attname = field.attname
    raw_keys = [getattr(obj, attname) for obj in objects]
    # In the order the keys first appear, not a set's: the targets are built, and so are
    # Django 6.1's peers listed, in this order.
    keys = [key for key in dict.fromkeys(raw_keys) if key is not None]
    # A base manager that filters gets Django's own query.
    found = front.serve_get_many(queryset, keys)
    normalize, alias = registry.plan(target_model).normalize_pk, queryset.db
    # One look-up per distinct key, in the order the keys first appear.
    by_key: dict[Any, Model | None] = {None: None}
    for key in raw_keys:
        if key not in by_key:
            # An int equal to a pk found is that pk normalised: no need to normalise it again.
            target = found.get(key) if type(key) is int else None
            by_key[key] = target if target is not None else _target(found, normalize, key, alias)
    cache_name = field.cache_name
    for obj, key in zip(objects, raw_keys, strict=True):
        obj._state.fields_cache[cache_name] = by_key[key]
    if not field.remote_field.multiple:  # one-to-one: the target caches who points at it
        pointing = {key: obj for obj, key in zip(objects, raw_keys, strict=True)}
        for key, obj in pointing.items():
            target = by_key[key]
            if target is not None:
                field.remote_field.set_cached_value(target, obj)
    return list({id(t): t for t in by_key.values() if t is not None}.values())


def _target(found: dict[Any, Model], normalize: Any, key: Any, alias: str) -> Model | None:
    try:
        return found.get(normalize(key, alias))
    except Exception:  # a key no row can have (Django's query finds nothing for it either)
        return None
