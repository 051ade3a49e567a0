"""Reads by a unique field: the index entry names the pk, the row comes from its own entry.

A warm hit is two round trips and no query: the index entry (with its token and the field
generation), then the row's entry (with its token and the table generation). The row is
served only if it still holds the value asked for, so an index entry that a row has left
behind (it gave the value away, or was deleted) is a miss, never a wrong row. A miss reads the
database with ``get()`` after taking the index tokens, and stores which pk holds the value, or
that none does, so an insert or update that gives a row the value retires the answer.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.db.models import Model, QuerySet

from cachefresh import indexes, read, stats
from cachefresh.conf import get_settings
from cachefresh.indexes import IndexedField, IndexLookup
from cachefresh.registry import registry
from cachefresh.store import get_store
from cachefresh.transactions import ReadMode, read_mode

M = TypeVar("M", bound=Model)


def get_by_unique(queryset: QuerySet[M], index: IndexedField, raw_value: Any) -> M:
    """``queryset.get(<field>=raw_value)`` through the cache; ``queryset`` carries no filters."""
    name = index.field.name
    alias = queryset.db
    primary = get_settings().replicas.get(alias, alias)
    if not indexes.vouched(primary):
        return queryset.get(**{name: raw_value})
    try:
        value = index.normalize(raw_value, alias)
    except Exception:
        return queryset.get(**{name: raw_value})  # Django's own error, or its answer
    plan = registry.plan(queryset.model)
    label = plan.model._meta.label
    mode = read_mode(primary, plan.table)
    if mode is ReadMode.DATABASE:
        stats.count(label, "index_miss")
        return queryset.get(**{name: value})
    store = get_store()
    lookup = IndexLookup(plan, index, primary, value)
    if lookup.read(store):
        pk = lookup.pk()
        if pk is indexes.NO_ROW:
            stats.count(label, "index_hit")
            raise read.does_not_exist(queryset.model)
        if pk is not indexes.MISSING:
            found = _row_holding(queryset, index, pk, value)
            if found is not None:
                stats.count(label, "index_hit")
                return found
    stats.count(label, "index_miss")
    tokens = None
    if mode is ReadMode.FILL and lookup.found is not None:
        tokens = lookup.take_tokens(store)
    try:
        instance = queryset.get(**{name: value})
    except queryset.model.DoesNotExist:  # type: ignore[attr-defined]
        if tokens is not None:
            lookup.store(store, tokens, None)
        raise
    if tokens is not None:
        lookup.store(store, tokens, plan.normalize_pk(instance.pk, alias))
    return instance


def _row_holding(queryset: QuerySet[M], index: IndexedField, pk: Any, value: Any) -> M | None:
    """The row with ``pk`` through its own entry, if it still holds ``value``."""
    try:
        instance = read.get_one(queryset, pk)
    except queryset.model.DoesNotExist:  # type: ignore[attr-defined]
        return None  # deleted since the index entry was stored
    held = getattr(instance, index.field.attname)
    # The row check: what keeps an index entry that a row has left behind from serving it.
    if type(held) is not type(value) or held != value:
        return None
    return instance
