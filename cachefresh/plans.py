"""A model's plan: what reads and writes of it need (fields, schema fingerprint, keys, pk
spelling), computed once per shape."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.db import connections
from django.db.models import Field, Model

from cachefresh import codec, keys
from cachefresh.conf import get_settings
from cachefresh.databases import database_segment
from cachefresh.instances import InstanceBuilder
from cachefresh.support import ModelType, column
from cachefresh.tables import family_tables

M = TypeVar("M", bound=Model)

_UNKNOWN: Any = object()


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
    #: ``model._meta.label``, which Django computes on every access; stats name models by it.
    label: str
    _tags: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    _int_bounds: dict[str, IntBounds] = field(default_factory=dict)
    _builders: dict[type[Model], InstanceBuilder[Any]] = field(default_factory=dict)

    @property
    def table(self) -> str:
        return self.model._meta.db_table

    def keys_of(self, alias: str) -> tuple[str, str, str]:
        """``(database segment, table tag, generation key)`` of this model's table on the
        database ``alias`` points at now; a read asks once, whatever it reads."""
        database = database_segment(alias)
        known = self._tags.get(alias)
        if known is None or known[0] != database:
            prefix = get_settings().key_prefix
            known = self._tags[alias] = (
                database,
                keys.table_tag(prefix, database, self.table),
                keys.generation_key(prefix, database, self.table),
            )
        return known

    def table_tag(self, alias: str) -> str:
        return self.keys_of(alias)[1]

    def builder(self, model: type[M]) -> InstanceBuilder[M]:
        """What builds hits of ``model``: this plan's model or a proxy of it."""
        built = self._builders.get(model)
        if built is None:
            built = self._builders[model] = InstanceBuilder(model, self.fields)
        return built

    def knows_bounds(self, alias: str) -> bool:
        """Whether :meth:`normalize_pk` on ``alias`` is ready to run without asking the
        connection for the pk column's range: what an event loop needs."""
        return alias in self._int_bounds

    def normalize_pk(self, value: Any, alias: str) -> Any:
        """:func:`normalize_pk` for this model's pk, with its integer range looked up once."""
        bounds = self._int_bounds.get(alias, _UNKNOWN)
        if bounds is _UNKNOWN:
            bounds = self._int_bounds[alias] = integer_bounds(self.pk_field, alias)
        if type(value) is int and bounds is not None:  # the hot path, without a call
            low, high = bounds
            if (low is None or value >= low) and (high is None or value <= high):
                return value
        return normalize_pk(self.pk_field, value, bounds)


IntBounds = tuple[int | None, int | None] | None


def integer_bounds(pk_field: Field[Any, Any], alias: str) -> IntBounds:
    """The pk column's integer range on ``alias``; ``None`` for a pk that is not an integer."""
    target = pk_field
    while target.is_relation:  # a multi-table child's pk is a link to its parent's
        target = target.target_field  # type: ignore[attr-defined]
    return connections[alias].ops.integer_field_ranges.get(target.get_internal_type())


def normalize_pk(pk_field: Field[Any, Any], value: Any, bounds: IntBounds) -> Any:
    """A primary key value as the database will compare it: one row, one key.

    Reads, writes and ``invalidate()`` all name rows through this one function, so a row read
    and the same row written always get the same key. ``bounds`` is :func:`integer_bounds`.
    Raises for values Django would refuse; callers hand those back to the ORM so that users
    get Django's own errors.
    """
    if type(value) is int and bounds is not None:  # the hot path: an int for an int pk
        prepared = value
    # get() refuses an instance for a plain pk and accepts one for a relational pk:
    # the ORM answers either way.
    elif value is None or hasattr(value, "resolve_expression") or isinstance(value, Model):
        raise ValueError("not a plain primary key value")
    else:
        prepared = pk_field.get_prep_value(pk_field.to_python(value))
    if isinstance(prepared, int) and not isinstance(prepared, bool) and bounds is not None:
        low, high = bounds
        if (low is not None and prepared < low) or (high is not None and prepared > high):
            raise ValueError("primary key out of range for the column")
    elif isinstance(prepared, str) and "\x00" in prepared:
        raise ValueError("NUL in primary key")
    return prepared


def build_plan(model: ModelType, models: list[ModelType]) -> ModelPlan:
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
        family=family_tables(model, models),
        label=meta.label,
    )
