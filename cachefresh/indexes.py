"""Index entries: which row holds a value of a unique column, under the entry protocol of rows.

An index lookup of value ``v`` of one unique column reads three keys in one round trip::

    index entry, index token (one per value), field generation (one per column)

The entry is valid when its header carries the current index token and field generation (and,
with signing on, its MAC verifies) and its body is ``[v, pk]``: the value it is stored under and
the pk of the row that held ``v`` when it was filled, or ``[v, None]`` when no row did. A fill
takes both tokens before its database read, exactly as a row fill does.

A positive entry is only a hint: the row comes from its own row entry, validated under its own
row token, and is served only if it still holds ``v`` (:mod:`cachefresh.unique`). A row that
gave its value away or was deleted therefore cannot be served for the value, whatever the index
says; so a write need not know a row's old value. What the index itself must never keep is an
answer that a write made wrong while the row check cannot see it: "no row holds ``v``" after a
write gave ``v`` to a row, or a pk after the row holding ``v`` changed. Every write that sets
the column therefore retires the token of each new value it sets, and the field generation
when a value is not known (an expression, an upsert, a raw write reported by ``invalidate()``).

Nothing outside this module knows the order of the keys.
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import connections
from django.db.models import Field, UniqueConstraint

from cachefresh import codec, collations, entries, fills, keys
from cachefresh.keys import IndexKeys
from cachefresh.plans import IntBounds, ModelPlan, integer_bounds, normalize_pk
from cachefresh.signing import mac_key
from cachefresh.store import GuardedStore
from cachefresh.support import column, concrete_model

#: Column types whose ``=`` we can vouch for: the database compares exactly the prepared value
#: (case- and accent-sensitively for text, given no collation of the column's own).
_EXACT_TYPES = frozenset(
    {
        "CharField",
        "SlugField",
        "TextField",
        "IntegerField",
        "BigIntegerField",
        "SmallIntegerField",
        "PositiveIntegerField",
        "PositiveBigIntegerField",
        "PositiveSmallIntegerField",
        "UUIDField",
    }
)
#: PostgreSQL's default collations are deterministic and SQLite's ``=`` is BINARY (a
#: ``db_collation`` of the field's own may compare case-insensitively there); MySQL and MariaDB
#: are asked for each column's collation; other vendors are not vouched for.
_EXACT_VENDORS = frozenset({"postgresql", "sqlite"})

#: What :meth:`IndexLookup.pk` says of a missing or invalid entry.
MISSING: Any = object()
#: What :meth:`IndexLookup.pk` says of a valid "no row holds the value" entry.
NO_ROW: Any = object()


@dataclass(frozen=True, eq=False)
class IndexedField:
    """A column whose exact lookups may be served through index entries."""

    field: Field[Any, Any]
    column: str
    #: Its entries: ``[value, pk]``, owned by the value (of the very type asked for).
    shape: entries.Shape
    #: alias -> the column's integer range there, once a lookup through ``alias`` found ``=``
    #: on it exact (:func:`compares_exactly`): both need a connection, which an event loop
    #: may not touch (:func:`cachefresh.aread.get_by_unique` serves only what is here).
    exact_on: dict[str, IntBounds] = dataclasses.field(default_factory=dict)

    def normalize(self, value: Any, alias: str) -> Any:
        """``value`` as the database compares it; raises for what Django would refuse or
        match by anything but ``=`` (None is an ``IS NULL`` query)."""
        return normalize_pk(self.field, value, integer_bounds(self.field, alias))

    def column_tag(self, plan: ModelPlan, alias: str) -> str:
        return keys.column_tag(plan.table_tag(alias), self.column)


_indexed: weakref.WeakKeyDictionary[ModelPlan, dict[str, IndexedField | None]] = (
    weakref.WeakKeyDictionary()
)


def indexed_field(plan: ModelPlan, name: str) -> IndexedField | None:
    """The indexed field a lookup ``name`` (field name or attname) names, or ``None``."""
    known = _indexed.get(plan)
    if known is None:
        known = _indexed[plan] = {}
    if name not in known:
        known[name] = _build(plan, name)
    return known[name]


def indexed_fields(plan: ModelPlan) -> list[IndexedField]:
    """Every indexed field of ``plan``'s own table."""
    found = (indexed_field(plan, f.name) for f in plan.fields)
    return [index for index in found if index is not None]


def _build(plan: ModelPlan, name: str) -> IndexedField | None:
    field = next((f for f in plan.fields if name in (f.name, f.attname)), None)
    if (
        field is None
        or field.primary_key
        or concrete_model(field.model) is not plan.model  # a parent's column: its table
        # The database computes it from other columns: no write carries its new value.
        or getattr(field, "generated", False)
        or field.get_internal_type() not in _EXACT_TYPES
        or not _unique_by_itself(plan, field)
    ):
        return None
    schema = codec.fingerprint(
        [("index", plan.table, column(field), field.get_internal_type()), ("pk", *plan.attnames)]
    )
    return IndexedField(field, column(field), entries.Shape(schema, 2, 0, typed=True))


def _unique_by_itself(plan: ModelPlan, field: Field[Any, Any]) -> bool:
    if field.unique:
        return True
    return any(
        isinstance(c, UniqueConstraint)
        and tuple(c.fields) == (field.name,)
        and c.condition is None
        and not c.expressions
        and not getattr(c, "opclasses", ())
        and getattr(c, "nulls_distinct", None) is None
        for c in plan.model._meta.constraints
    )


def compares_exactly(alias: str, plan: ModelPlan, index: IndexedField) -> bool:
    """Whether ``=`` on ``index``'s column, on the database behind ``alias``, compares exactly
    the value the index keys: then one key stands for one value."""
    vendor = connections[alias].vendor
    if vendor in _EXACT_VENDORS:
        return not getattr(index.field, "db_collation", None)
    if vendor == "mysql":
        # A UUID is stored as 32 lowercase hex digits, which no collation confuses.
        return index.field.get_internal_type() == "UUIDField" or collations.compares_exactly(
            alias, plan.table, index.column
        )
    return False


class IndexLookup:
    """One value of one indexed column on one database, read as an entry of the entry protocol
    (:mod:`cachefresh.entries`): its entry holds ``[value, pk]``, under the value's token and
    the field's generation."""

    __slots__ = ("index", "lookup", "value")

    def __init__(self, plan: ModelPlan, index: IndexedField, column_tag: str, value: Any) -> None:
        """``column_tag``: :meth:`IndexedField.column_tag` on the database whose entries serve
        the lookup."""
        self.index = index
        self.value = value
        self.lookup = entries.Lookup(
            plan,
            index.shape,
            [IndexKeys(column_tag, value)],
            keys.field_generation_key(column_tag),
            [value],
            mac=mac_key(),  # read from the shared cache only: no local tier
        )

    @property
    def found(self) -> list[Any] | None:
        """What the cache answered (entry, token, generation), ``None`` when it did not."""
        return self.lookup.found

    @found.setter
    def found(self, found: list[Any] | None) -> None:
        self.lookup.found = found

    @property
    def keys(self) -> list[str]:
        """Its entry, token and generation keys, in that order."""
        return self.lookup.keys

    def read(self, store: GuardedStore) -> bool:
        """Fetch the three keys in one round trip; ``False`` when the cache did not answer."""
        return self.lookup.read(store)

    def pk(self) -> Any:
        """The pk the valid entry names, :data:`NO_ROW`, or :data:`MISSING`."""
        body = self.lookup.values(0)
        if body is None:
            return MISSING
        return NO_ROW if body[1] is None else body[1]

    def take_tokens(self, store: GuardedStore) -> fills.Tokens | None:
        """The tokens for a fill, taken before the database read; ``None``: store nothing."""
        return fills.take_tokens(store, self.lookup, [0])

    def store(self, store: GuardedStore, tokens: fills.Tokens, pk: Any) -> None:
        """Store that the row with ``pk`` holds the value (``None``: no row does)."""
        fills.store_rows(store, self.lookup, tokens, {0: [self.value, pk]})


def retirement_keys(
    plan: ModelPlan, alias: str, written: Iterable[tuple[IndexedField, Any]]
) -> list[str]:
    """The index keys a write of ``(field, value)`` pairs retires: each value's token, or the
    field's generation where the value is an expression (``F()``, ``bulk_update()``'s ``Case``)
    whose result is not known here."""
    doomed: list[str] = []
    for index, value in written:
        if value is None:
            continue  # NULL is no value of the index: a lookup by None is never served from it
        column_tag = index.column_tag(plan, alias)
        try:
            if hasattr(value, "resolve_expression"):
                raise ValueError("the value the database will hold is not known here")
            doomed.append(IndexKeys(column_tag, index.normalize(value, alias)).token)
        except Exception:  # not known, or one normalize() refuses: retire the column's index
            doomed.append(keys.field_generation_key(column_tag))
    return doomed


def generation_keys(plan: ModelPlan, alias: str) -> list[str]:
    """Every field generation of ``plan``'s table: what a write of unknown values retires."""
    return [
        keys.field_generation_key(index.column_tag(plan, alias)) for index in indexed_fields(plan)
    ]
