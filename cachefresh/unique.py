"""Reads by a unique field: the index entry names the pk, the row comes from its own entry.

A lookup reads the index entry (with its token and the field generation), then the row's
entry (with its token and the table generation): two round trips and no query. The row is
served only if it still holds the value asked for, so an index entry that a row has left
behind (it gave the value away, or was deleted) is a miss, never a wrong row. A miss reads the
database with ``get()`` after taking the index tokens, and stores which pk holds the value, or
that none does, so an insert or update that gives a row the value retires the answer. It then
fills the row's own entry too, so that the next lookup runs no query.

That row check is also what makes a warm hit one round trip: each process remembers which pk
it last found holding a value, and reads that row's entry straight away. The guess needs no
invalidation: a row that no longer holds the value, or whose entry was retired, fails the
check, and the lookup goes through the index as above.
"""

from __future__ import annotations

import threading
from typing import Any, TypeVar

from django.db.models import Model, QuerySet

from cachefresh import indexes, keys, read, stats
from cachefresh.indexes import MISSING, IndexedField, IndexLookup
from cachefresh.plans import integer_bounds, normalize_pk
from cachefresh.routes import Route
from cachefresh.signals import cache_hit, report_miss
from cachefresh.store import GuardedStore, get_store
from cachefresh.transactions import ReadMode, read_mode

M = TypeVar("M", bound=Model)

#: (column tag, value) -> the pk this process last found holding the value: a guess only.
_guesses: dict[tuple[str, Any], Any] = {}
_guesses_lock = threading.Lock()
#: A guess costs about a hundred bytes; forgetting one costs one round trip.
GUESSES_HELD = 10_000


def get_by_unique(queryset: QuerySet[M], route: Route[M], index: IndexedField, raw_value: Any) -> M:
    """``queryset.get(<field>=raw_value)`` through the cache; ``queryset`` carries no filters."""
    name, plan, alias, primary = index.field.name, route.plan, route.alias, route.primary
    if not indexes.compares_exactly(primary, plan, index):
        return queryset.get(**{name: raw_value})
    bounds = index.exact_on.get(alias, MISSING)
    if bounds is MISSING:
        bounds = index.exact_on[alias] = integer_bounds(index.field, alias)
    try:
        value = normalize_pk(index.field, raw_value, bounds)
    except Exception:
        return queryset.get(**{name: raw_value})  # Django's own error, or its answer
    mode = read_mode(primary, plan.table)
    if mode is ReadMode.DATABASE:
        stats.count(plan.label, "index_miss")
        report_miss(queryset.model, alias, [None], mode.value)
        return queryset.get(**{name: value})
    guess_key = guess_key_of(route, index, value)
    guessed = _guesses.get(guess_key)
    if guessed is not None:
        found = read.get_one_cached(queryset, route, guessed)
        if found is not None and holds(found, index, value):
            stats.count(plan.label, "index_hit")
            return found
        with _guesses_lock:
            _guesses.pop(guess_key, None)
    store = get_store()
    lookup = IndexLookup(plan, index, guess_key[0], value)
    if lookup.read(store):
        found = _from_index(queryset, route, lookup, guess_key)
        if found is not None:
            return found
    stats.count(plan.label, "index_miss")
    report_miss(queryset.model, alias, [None], _miss_reason(mode, lookup))
    return _fill(queryset, route, lookup, store, mode, guess_key)


def _from_index(
    queryset: QuerySet[M], route: Route[M], lookup: IndexLookup, guess_key: tuple[str, Any]
) -> M | None:
    """The row a valid index entry names, if it still holds the value; ``DoesNotExist`` for a
    valid "no row holds it"; ``None`` when the index cannot answer."""
    pk = lookup.pk()
    if pk is indexes.NO_ROW:
        stats.count(route.plan.label, "index_hit")
        # Answered from the cache, though no row: a hit with no pk.
        if cache_hit.receivers:
            cache_hit.send(queryset.model, using=route.alias, pk=None)
        raise read.does_not_exist(queryset.model)
    if pk is indexes.MISSING:
        return None
    found = _row_holding(queryset, route, lookup.index, pk, lookup.value)
    if found is not None:
        stats.count(route.plan.label, "index_hit")
        guess(guess_key, pk)
    return found


def _fill(
    queryset: QuerySet[M],
    route: Route[M],
    lookup: IndexLookup,
    store: GuardedStore,
    mode: ReadMode,
    guess_key: tuple[str, Any],
) -> M:
    """Read the database under index tokens taken first, and store which pk holds the value."""
    tokens = None
    if mode is ReadMode.FILL and lookup.found is not None:
        tokens = lookup.take_tokens(store)
    source = route.primary if tokens is not None else route.alias
    try:
        instance = _read(queryset, source, lookup.index.field.name, lookup.value)
    except queryset.model.DoesNotExist:  # type: ignore[attr-defined]
        if tokens is not None:
            lookup.store(store, tokens, None)
        raise
    pk = route.plan.normalize_pk(instance.pk, route.alias)
    if tokens is not None:
        lookup.store(store, tokens, pk)
        # Warm after one lookup: fill the row's entry now, so the next lookup runs no query.
        # Not with the row read above: it was read before any token of its row could be
        # taken (its pk was unknown), and a write between that read and the token would
        # leave it stale. The fill reads it by pk under its token, with prebuilt SQL.
        warm = _row_holding(queryset, route, lookup.index, pk, lookup.value)
        instance = instance if warm is None else warm
    guess(guess_key, pk)
    return instance


def _miss_reason(mode: ReadMode, lookup: IndexLookup) -> str:
    if mode is not ReadMode.FILL:
        return str(mode.value)
    return "cache_unavailable" if lookup.found is None else "absent"


def _read(queryset: QuerySet[M], source: str, name: str, value: Any) -> M:
    """``queryset.get(<name>=value)`` read on ``source``: the primary when the answer will be
    stored, since a lagging replica's answer would then be served for the primary too."""
    if source == queryset.db:
        return queryset.get(**{name: value})
    instance = queryset.using(source).get(**{name: value})
    instance._state.db = queryset.db  # as the replica's get() would have built it
    return instance


def guess_key_of(route: Route[Any], index: IndexedField, value: Any) -> tuple[str, Any]:
    """Where the guess for ``value`` (normalised) is kept; its first item is the column's tag
    on the database whose entries serve ``route``."""
    return (keys.column_tag(route.tag, index.column), value)


def guessed_pk(guess_key: tuple[str, Any]) -> Any:
    """The pk this process last found holding the value, or ``None``."""
    return _guesses.get(guess_key)


def guess(guess_key: tuple[str, Any], pk: Any) -> None:
    with _guesses_lock:
        _guesses[guess_key] = pk
        if len(_guesses) > GUESSES_HELD:
            _guesses.pop(next(iter(_guesses)))  # the oldest


def _row_holding(
    queryset: QuerySet[M], route: Route[M], index: IndexedField, pk: Any, value: Any
) -> M | None:
    """The row with ``pk`` through its own entry, if it still holds ``value``."""
    try:
        instance = read.get_one(queryset, route, pk)
    except queryset.model.DoesNotExist:  # type: ignore[attr-defined]
        return None  # deleted since the index entry was stored
    return instance if holds(instance, index, value) else None


def holds(instance: Model, index: IndexedField, value: Any) -> bool:
    """The row check: what keeps an index entry or a guess that a row has left behind from
    serving it."""
    held = getattr(instance, index.field.attname)
    return type(held) is type(value) and held == value
