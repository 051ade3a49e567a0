"""The entry protocol, for rows and for index entries alike: the keys a lookup reads, when
what came back is valid, how fills store.

A lookup of ``n`` entries sharing one generation reads ``2n + 1`` keys in one round trip::

    entry 0, token 0, entry 1, token 1, …, entry n-1, token n-1, generation

Rows of one table share the table's generation; index entries of one unique column share the
field's (:mod:`cachefresh.indexes`). An entry is valid when its header carries its current
token and the current generation under its kind's schema (and, with signing on, its MAC
verifies), and it is its owner's: the row holds the pk it is stored under, the index entry the
value. A fill takes the tokens first (creating missing ones), then reads the database, then
stores each entry under the tokens it took: a write committed after the tokens were taken
retires them (:mod:`cachefresh.retire` deletes tokens or generations), so a value read before
that write can never be served.

Nothing outside this module knows the order of the keys.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from cachefresh import codec, stats, tiers
from cachefresh.keys import RowKeys
from cachefresh.plans import ModelPlan
from cachefresh.signing import mac_key
from cachefresh.store import GuardedStore

logger = logging.getLogger("cachefresh")

_reported_garbage: set[str] = set()


class Shape(NamedTuple):
    """What the entries of one lookup hold."""

    schema: bytes
    #: Values in an entry.
    width: int
    #: Which of them names the entry's owner: the row's pk, the index entry's value.
    owner_at: int
    #: Whether the owner must have the very type asked for too (an index value: 1 is not True).
    typed: bool


class Lookup:
    """The keys of some entries of one kind on one database, and what the cache said of them.

    :meth:`rows` reads rows; an index lookup (:mod:`cachefresh.indexes`) builds its own.
    """

    __slots__ = ("found", "held", "keys", "local", "mac", "owners", "pairs", "plan", "shape")

    def __init__(
        self,
        plan: ModelPlan,
        shape: Shape,
        pairs: Sequence[Any],
        generation: str,
        owners: Sequence[Any],
        local: tiers.LocalTier | None = None,
        mac: bytes | None = None,
    ) -> None:
        """A lookup of entries with keys ``pairs`` (each with ``.entry`` and ``.token``), one
        per owner, sharing ``generation``, checked with the signing key ``mac``, through the
        ``local`` tier if given (rows only)."""
        self.plan, self.shape, self.pairs, self.owners = plan, shape, pairs, owners
        self.local = local
        self.mac = mac
        wanted = []
        for pair in pairs:
            wanted.append(pair.entry)
            wanted.append(pair.token)
        wanted.append(generation)
        self.keys = wanted
        self.found: list[Any] | None = None
        #: Values answered by the local tier (or validated for it), by position.
        self.held: list[list[Any] | None] | None = None

    @classmethod
    def rows(cls, plan: ModelPlan, alias: str, pks: Sequence[Any]) -> Lookup:
        """A lookup of ``plan``'s rows with (normalised) ``pks`` on ``alias``, through the local
        tier if one runs (:class:`cachefresh.routes.Route` resolves all this once)."""
        _, tag, generation = plan.keys_of(alias)
        shape = Shape(plan.schema, len(plan.attnames), plan.pk_index, typed=False)
        pairs = [RowKeys(tag, pk) for pk in pks]
        return cls(plan, shape, pairs, generation, pks, tiers.local(), mac_key())

    @property
    def row_keys(self) -> Sequence[Any]:
        """The keys of each row (``.entry``, ``.token``, ``.lock``) of a row lookup."""
        return self.pairs

    @property
    def pks(self) -> Sequence[Any]:
        return self.owners

    def read(self, store: GuardedStore) -> bool:
        """Fetch every key in one round trip; ``False`` when the cache did not answer.

        With a local tier in front of the cache, rows it holds cost no round trip, and only the
        others are read.
        """
        local = self.local
        if local is not None:
            return self._read_through(store, local)
        self.found = store.get_many(self.keys)
        return self.found is not None

    def _read_through(self, store: GuardedStore, local: tiers.LocalTier) -> bool:
        rows, label = self.row_keys, self.plan.label
        held = local.get_many([row.entry for row in rows])
        if held is None:  # not serving: the shared cache alone, and nothing kept
            stats.count(label, local.miss_event, len(rows))
            self.found = store.get_many(self.keys)
            return self.found is not None
        self.held = held
        missed = [position for position, values in enumerate(held) if values is None]
        if len(missed) < len(rows):
            stats.count(label, local.hit_event, len(rows) - len(missed))
        self.found = [None] * len(self.keys)
        if not missed:
            return True
        stats.count(label, local.miss_event, len(missed))
        generation = self.keys[-1]
        # Marked before the read is sent: an invalidation heard from now on cancels the fill.
        fill = local.begin([(rows[p].entry, rows[p].token, generation) for p in missed])
        try:
            wanted = [key for p in missed for key in (rows[p].entry, rows[p].token)]
            wanted.append(generation)
            found = store.get_many(wanted) if fill is None else local.read(store, wanted)
            if found is None:
                self.found = None
                return False
            for index, position in enumerate(missed):
                self.found[2 * position] = found[2 * index]
                self.found[2 * position + 1] = found[2 * index + 1]
            self.found[-1] = found[-1]
            for index, position in enumerate(missed):
                values = self._decode(position)
                held[position] = values
                if values is not None and fill is not None:
                    local.keep(fill, index, values)
            return True
        finally:
            if fill is not None:
                local.end(fill)

    def all_values(self) -> list[list[Any] | None]:
        """:meth:`values` of every position, in order, with what all rows share checked once."""
        held, found = self.held, self.found
        if held is None and found is not None:  # no local tier: every row is in ``found``
            return _valid_many(self, found[0:-1:2], found[1:-1:2], found[-1], self.owners)
        values: list[list[Any] | None] = [None] * len(self.pks) if held is None else list(held)
        if found is None:
            return values
        missing = [position for position, row in enumerate(values) if row is None]
        if not missing:  # the local tier held every row
            return values
        rows = _valid_many(
            self,
            [found[2 * p] for p in missing],
            [found[2 * p + 1] for p in missing],
            found[-1],
            [self.owners[p] for p in missing],
        )
        for position, row in zip(missing, rows, strict=True):
            values[position] = row
        return values

    def values(self, position: int) -> list[Any] | None:
        """The row at ``position`` if its entry is valid, else ``None`` (a miss)."""
        held = self.held
        if held is not None and held[position] is not None:
            return held[position]
        found = self.found
        if found is None or found[2 * position] is None:
            return None
        shared = _shared_header(self, found[-1])
        token, owner = found[2 * position + 1], self.owners[position]
        return _checked(self, found[2 * position], token, shared, owner)

    def _decode(self, position: int) -> list[Any] | None:
        found = self.found
        if found is None:
            return None
        return valid(
            self, found[2 * position], found[2 * position + 1], found[-1], self.owners[position]
        )

    def token_keys(self, positions: Iterable[int]) -> list[str]:
        """The tokens at ``positions``, then the generation: what a fill takes."""
        return [self.pairs[p].token for p in positions] + [self.keys[-1]]

    def retirement_pending(self, store: GuardedStore, positions: Iterable[int]) -> bool:
        """Whether a retirement of any of these entries (or of their generation) waits in the
        outbox: fill none of them."""
        return any(store.is_pending(key) for key in self.token_keys(positions))


def valid(lookup: Lookup, entry: Any, token: Any, generation: Any, owner: Any) -> list[Any] | None:
    """The values in ``entry`` if it is valid under ``token`` and ``generation`` and is
    ``owner``'s."""
    if entry is None:
        return None
    return _checked(lookup, entry, token, _shared_header(lookup, generation), owner)


def _valid_many(
    lookup: Lookup,
    entries: Sequence[Any],
    tokens: Sequence[Any],
    generation: Any,
    owners: Sequence[Any],
) -> list[list[Any] | None]:
    """For each entry, its values if it is valid under its token and ``generation`` and is its
    owner's, else ``None``. What every entry shares (the header up to the token) is worked out
    once: a prefetch checks a hundred rows at a time."""
    shared = _shared_header(lookup, generation)
    return [
        None if entry is None else _checked(lookup, entry, token, shared, owner)
        for entry, token, owner in zip(entries, tokens, owners, strict=True)
    ]


def _shared_header(lookup: Lookup, generation: Any) -> bytes | None:
    """What every valid entry under ``generation`` starts with, before its own token; ``None``
    when the generation is not a token (then no entry is valid)."""
    if type(generation) is not bytes or len(generation) != codec.TOKEN_SIZE:  # is_token()
        return None
    return codec.header(lookup.shape.schema, generation, b"", lookup.mac is not None)


_TOKEN_AT = codec.HEADER_SIZE - codec.TOKEN_SIZE


def _checked(
    lookup: Lookup, entry: Any, token: Any, shared: bytes | None, owner: Any
) -> list[Any] | None:
    """The values of one entry (not ``None``) if it starts with ``shared`` and ``token`` and is
    ``owner``'s.

    The entry must be its owner's: with signing on, an entry copied with its token from
    another row's (or value's) keys verifies, and must still be refused.
    """
    # Checked before the tokens: garbage must be reported even when a write retired the row.
    if type(entry) is not bytes or len(entry) < codec.HEADER_SIZE or entry[:2] != codec.MAGIC:
        report_garbage(lookup.plan, "an entry that cachefresh did not write")
        return None
    if (
        shared is None
        or type(token) is not bytes
        or len(token) != codec.TOKEN_SIZE
        or not entry.startswith(shared)
        or not entry.startswith(token, _TOKEN_AT)
    ):
        return None
    shape = lookup.shape
    values = codec.decode(entry, shape.width, lookup.mac)
    if values is None:
        report_garbage(lookup.plan, "an entry that does not decode")
        return None
    found = values[shape.owner_at]
    if found != owner or (shape.typed and type(found) is not type(owner)):
        report_garbage(lookup.plan, "an entry of another row or value")
        return None
    return values


def report_garbage(plan: ModelPlan, what: str) -> None:
    label = plan.label
    if label not in _reported_garbage:
        _reported_garbage.add(label)
        logger.warning("cachefresh: %s under a key of %s; treated as a miss", what, label)
