"""Which models are cached, and what the cache needs to know about each (its plan)."""

from __future__ import annotations

import fnmatch
import threading
from dataclasses import dataclass, field
from typing import Any, cast

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.db.models import Field, Model

from cachefresh import codec, keys
from cachefresh.conf import get_settings

ModelType = type[Model]


def concrete_model(model: ModelType) -> ModelType:
    """``model._meta.concrete_model``: the stubs allow ``None``, which a model class never has."""
    return cast(ModelType, model._meta.concrete_model)


def column(field: Field[Any, Any]) -> str:
    """``field.column``: the stubs allow ``None``, which a concrete field never has."""
    return cast(str, field.column)


def unsupported_reason(model: ModelType) -> str | None:
    """Why cachefresh cannot cache ``model`` correctly, or ``None`` when it can."""
    meta = model._meta
    if meta.abstract:
        return "it is abstract"
    if meta.swapped:
        return f"it is swapped for {meta.swapped}"
    if getattr(meta, "is_composite_pk", False):
        return "it has a composite primary key"
    if not meta.managed:
        return "it is unmanaged (managed = False), so writes to its table happen out of sight"
    concrete_parents = [p for p in concrete_model(model)._meta.parents if not p._meta.proxy]
    if len(concrete_parents) > 1:
        return "it inherits from several concrete models"
    return _pk_problem(meta.pk)


#: Primary key types whose equal values have one spelling once prepared, so one row has one key.
#: A Decimal (1.5 / 1.50), an aware datetime (one instant, many zones) or a float (0.0 / -0.0)
#: would let a reader and a writer name one row by two keys: a stale entry.
KEYABLE_PK_TYPES = frozenset(
    {
        "AutoField",
        "BigAutoField",
        "SmallAutoField",
        "IntegerField",
        "BigIntegerField",
        "SmallIntegerField",
        "PositiveIntegerField",
        "PositiveBigIntegerField",
        "PositiveSmallIntegerField",
        "CharField",
        "SlugField",
        "TextField",
        "UUIDField",
    }
)


def _pk_problem(pk: Field[Any, Any] | None) -> str | None:
    target = pk
    while target is not None and target.is_relation:  # a link to a parent or another model
        target = target.target_field  # type: ignore[attr-defined]
    if target is None:
        return "it has no primary key"
    kind = target.get_internal_type()
    if kind not in KEYABLE_PK_TYPES:
        return (
            f"its primary key is a {kind}; cachefresh caches models whose primary key is an "
            "integer, a string or a UUID"
        )
    if getattr(target, "db_collation", None):
        return (
            "its primary key has a db_collation, under which several spellings of a key can "
            "name the same row"
        )
    return None


@dataclass(eq=False)
class ModelPlan:
    """What reads and writes of one concrete model need, computed once per shape."""

    model: ModelType
    fields: tuple[Field[Any, Any], ...]
    attnames: tuple[str, ...]
    schema: bytes
    pk_field: Field[Any, Any]
    pk_index: int
    family: tuple[str, ...]
    _tags: dict[tuple[str, str], str] = field(default_factory=dict)
    _generation_keys: dict[str, str] = field(default_factory=dict)
    _int_bounds: dict[str, tuple[int | None, int | None] | None] = field(default_factory=dict)

    @property
    def table(self) -> str:
        return self.model._meta.db_table

    def table_tag(self, alias: str, table: str | None = None) -> str:
        table = table or self.table
        tag = self._tags.get((alias, table))
        if tag is None:
            tag = self._tags[alias, table] = keys.table_tag(get_settings().key_prefix, alias, table)
        return tag

    def generation_key(self, alias: str) -> str:
        key = self._generation_keys.get(alias)
        if key is None:
            key = self._generation_keys[alias] = keys.generation_key(
                get_settings().key_prefix, alias, self.table
            )
        return key

    def _integer_bounds(self, alias: str) -> tuple[int | None, int | None] | None:
        """The column's integer range on ``alias``, ``None`` for a pk that is not an integer."""
        if alias not in self._int_bounds:
            target = self.pk_field
            while target.is_relation:  # a multi-table child's pk is a link to its parent's
                target = target.target_field  # type: ignore[attr-defined]
            ranges = connections[alias].ops.integer_field_ranges
            self._int_bounds[alias] = ranges.get(target.get_internal_type())
        return self._int_bounds[alias]

    def normalize_pk(self, value: Any, alias: str) -> Any:
        """The pk as the database will compare it; raises for values Django would refuse.

        Callers hand anything unusual back to the ORM so that users get Django's own errors.
        """
        bounds = self._integer_bounds(alias)
        if type(value) is int and bounds is not None:  # the hot path: an int for an int pk
            prepared = value
        # get() refuses an instance for a plain pk and accepts one for a relational pk:
        # the ORM answers either way.
        elif value is None or hasattr(value, "resolve_expression") or isinstance(value, Model):
            raise ValueError("not a plain primary key value")
        else:
            prepared = self.pk_field.get_prep_value(self.pk_field.to_python(value))
        if isinstance(prepared, int) and not isinstance(prepared, bool) and bounds is not None:
            low, high = bounds
            if (low is not None and prepared < low) or (high is not None and prepared > high):
                raise ValueError("primary key out of range for the column")
        elif isinstance(prepared, str) and "\x00" in prepared:
            raise ValueError("NUL in primary key")
        return prepared


def _family(model: ModelType) -> tuple[str, ...]:
    """The tables of every concrete model sharing rows with ``model`` by multi-table inheritance."""
    root = model
    while root._meta.parents:
        root = concrete_model(next(iter(root._meta.parents)))
    return tuple(
        sorted(
            m._meta.db_table
            for m in apps.get_models()
            if not m._meta.proxy and (m is root or root in m._meta.get_parent_list())
        )
    )


def _build_plan(model: ModelType) -> ModelPlan:
    meta = model._meta
    # The very object Options caches, so Registry.plan() can tell by identity that it changed.
    fields = meta.concrete_fields
    shape = [(f.attname, column(f), type(f).__name__, f.get_internal_type()) for f in fields]
    pk = meta.pk
    assert pk is not None
    return ModelPlan(
        model=model,
        fields=fields,
        attnames=tuple(f.attname for f in fields),
        schema=codec.fingerprint([(meta.db_table, *part) for part in shape]),
        pk_field=pk,
        pk_index=fields.index(pk),
        family=_family(model),
    )


class Registry:
    """Which concrete models are cached, built from managers and ``CACHEFRESH['MODELS']``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cached: frozenset[ModelType] | None = None
        self._skipped: dict[ModelType, str] = {}
        self._watched: dict[str, tuple[str, ...]] = {}
        self._plans: dict[ModelType, ModelPlan] = {}

    def _build(self) -> frozenset[ModelType]:
        from cachefresh.manager import CacheFreshManager

        patterns = get_settings().models
        cached: set[ModelType] = set()
        skipped: dict[ModelType, str] = {}
        errors = []
        for model in apps.get_models():
            meta = model._meta
            explicit = isinstance(model._default_manager, CacheFreshManager) or (
                meta.label in patterns or meta.label_lower in patterns
            )
            wildcard = any(
                p == "*" or (p.endswith(".*") and fnmatch.fnmatch(meta.label, p)) for p in patterns
            )
            if not (explicit or wildcard):
                continue
            reason = unsupported_reason(model)
            if reason is None:
                cached.add(concrete_model(model))
            elif explicit:
                errors.append(f"cachefresh cannot cache {meta.label}: {reason}.")
            else:
                skipped[model] = reason
        unknown = [
            p for p in patterns if p != "*" and not p.endswith(".*") and not _label_exists(p)
        ]
        errors += [
            f"CACHEFRESH['MODELS'] names {p!r}, which is not an installed model." for p in unknown
        ]
        if errors:
            raise ImproperlyConfigured(
                " ".join(errors)
                + " Remove it from CACHEFRESH['MODELS'] or give it a plain models.Manager."
            )
        self._skipped = skipped
        # Keyed by label, so data migrations' historical models are seen too.
        self._watched = {}
        for model in cached:
            family = _family(model)
            for member in apps.get_models():
                if member._meta.db_table in family:
                    self._watched[member._meta.label_lower] = family
        return frozenset(cached)

    def cached_models(self) -> frozenset[ModelType]:
        cached = self._cached
        if cached is None:
            with self._lock:
                if self._cached is None:
                    self._cached = self._build()
                cached = self._cached
        return cached

    def skipped(self) -> dict[ModelType, str]:
        self.cached_models()
        return dict(self._skipped)

    def watched_family(self, model: ModelType) -> tuple[str, ...] | None:
        """The tables to invalidate when ``model``'s table is written, ``None`` if uncached."""
        self.cached_models()
        return self._watched.get(concrete_model(model)._meta.label_lower)

    def plan(self, model: ModelType) -> ModelPlan:
        """The plan of a cached model (or its proxy); ``ImproperlyConfigured`` if not cached."""
        # Annotated, not cast: this is the hot read path (a model class always has one).
        concrete: ModelType = model._meta.concrete_model  # type: ignore[assignment]
        plan = self._plans.get(concrete)
        # A model whose fields changed at run time gets a new plan, so a new fingerprint.
        if plan is not None and plan.fields is concrete._meta.concrete_fields:
            return plan
        if concrete not in self.cached_models():
            raise ImproperlyConfigured(
                f"{model._meta.label} is not cached by cachefresh. Give it "
                f"`objects = cachefresh.CacheFreshManager()` as its default manager, or add "
                f"'{model._meta.label}' to settings.CACHEFRESH['MODELS']."
            )
        plan = self._plans[concrete] = _build_plan(concrete)
        return plan

    def reset(self) -> None:
        with self._lock:
            self._cached = None
            self._plans = {}
            self._watched = {}


def _label_exists(label: str) -> bool:
    try:
        apps.get_model(label)
    except (LookupError, ValueError):
        return False
    return True


registry = Registry()


def reset() -> None:
    registry.reset()
