"""Which models cachefresh can cache, and why not the others."""

from __future__ import annotations

from typing import Any, cast

from django.db.models import Field, Model

ModelType = type[Model]


def concrete_model(model: ModelType) -> ModelType:
    """``model._meta.concrete_model``: the stubs allow ``None``, which a model class never has."""
    return cast(ModelType, model._meta.concrete_model)


def column(field: Field[Any, Any]) -> str:
    """``field.column``: the stubs allow ``None``, which a concrete field never has."""
    return cast(str, field.column)


def columns_problem(model: ModelType) -> str | None:
    """Why one primary key cannot name ``model``'s row in every table it spans, or ``None``."""
    meta = model._meta
    if meta.abstract:
        return "it is abstract"
    if meta.swapped:
        return f"it is swapped for {meta.swapped}"
    if getattr(meta, "is_composite_pk", False):
        return "it has a composite primary key"
    concrete_parents = [p for p in concrete_model(model)._meta.parents if not p._meta.proxy]
    if len(concrete_parents) > 1:
        return "it inherits from several concrete models"
    pk = meta.pk
    if concrete_parents and not (
        pk is not None and pk.remote_field and pk.remote_field.parent_link
    ):
        # Its parent's columns live in a row named by the parent link, not by this pk.
        return "it inherits from a concrete model but has a primary key of its own"
    return None


def unsupported_reason(model: ModelType) -> str | None:
    """Why cachefresh cannot cache ``model`` correctly, or ``None`` when it can."""
    problem = columns_problem(model)
    if problem is not None:
        return problem
    if not model._meta.managed:
        return "it is unmanaged (managed = False), so writes to its table happen out of sight"
    return _pk_problem(model._meta.pk)


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
