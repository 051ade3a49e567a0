"""Fills: taking a lookup's tokens before the database read, and storing what was read under
them (:mod:`cachefresh.entries` says which keys and when an entry is valid). A write committed
after the tokens were taken retires them, so what this stores can then never be served.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from cachefresh import codec
from cachefresh.codec import EncodeError
from cachefresh.entries import Lookup, valid
from cachefresh.signing import mac_key
from cachefresh.store import GuardedStore

logger = logging.getLogger("cachefresh")


class Tokens:
    """The tokens a fill took before its database read, for some positions of a lookup."""

    __slots__ = ("generation", "row_tokens")

    def __init__(self, positions: Sequence[int], taken: Sequence[bytes]) -> None:
        self.row_tokens = dict(zip(positions, taken, strict=False))
        self.generation = taken[-1]


def take_tokens(store: GuardedStore, lookup: Lookup, positions: Sequence[int]) -> Tokens | None:
    """Tokens for filling ``positions``, or ``None`` when nothing may be stored."""
    if lookup.retirement_pending(store, positions):
        return None
    taken = store.ensure_tokens(lookup.token_keys(positions))
    return None if taken is None else Tokens(positions, taken)


class SingleFill:
    """The first steps of a one-row fill: tokens, the fill lock, and the entry once locked."""

    __slots__ = ("locked", "tokens", "values_now")

    def __init__(self, tokens: Tokens, locked: bool, values_now: list[Any] | None) -> None:
        self.tokens = tokens
        self.locked = locked
        #: A valid row that another filler stored between our miss and our lock.
        self.values_now = values_now


def begin_single_fill(store: GuardedStore, lookup: Lookup, lock_ttl: float) -> SingleFill | None:
    """Take tokens and the fill lock of ``lookup``'s one row in one round trip."""
    row = lookup.row_keys[0]
    begun = store.begin_fill(lookup.token_keys([0]), row.lock, lock_ttl, row.entry)
    if begun is None:
        return None
    taken, locked, entry_now = begun
    tokens = Tokens([0], taken)
    values_now = None
    if locked:
        values_now = valid(lookup, entry_now, taken[0], taken[-1], lookup.owners[0])
    return SingleFill(tokens, locked, values_now)


def store_rows(
    store: GuardedStore,
    lookup: Lookup,
    tokens: Tokens,
    rows: Mapping[int, Sequence[Any]],
    unlock: Sequence[int] = (),
) -> list[int]:
    """Store each entry's values (by position) under the tokens taken for it, release fill
    locks; return the positions stored (values the codec refuses are not)."""
    entries = {}
    stored = []
    for position, values in rows.items():
        entry = _encode(lookup, tokens.generation, tokens.row_tokens[position], values)
        if entry is not None:
            entries[lookup.pairs[position].entry] = entry
            stored.append(position)
    locks = [lookup.row_keys[p].lock for p in unlock]
    if entries or locks:
        store.fill(entries, locks)
    return stored


def release_locks(store: GuardedStore, lookup: Lookup, positions: Sequence[int]) -> None:
    store.fill({}, [lookup.row_keys[p].lock for p in positions])


def _encode(lookup: Lookup, generation: bytes, token: bytes, values: Iterable[Any]) -> bytes | None:
    try:
        return codec.encode(lookup.shape.schema, generation, token, list(values), mac_key())
    except EncodeError as exc:
        logger.warning("cachefresh: an entry of %s cannot be cached: %s", lookup.plan.label, exc)
        return None
