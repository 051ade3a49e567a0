"""Retirement: what a write makes wrong, and delivering it to the cache.

Every kind of write comes here to say what it retires: rows by primary key, tables whole (by
their generation), values of unique columns (their index tokens), or every index of a table
(its field generations). A :class:`Retirement` collects that, and :func:`deliver` deletes the keys
in one round trip, tells the local tier, counts and signals. When to deliver is
:mod:`cachefresh.transactions`' call: at once in autocommit, at commit inside a transaction
(which also counts the tables as written by it). The writers are the compiler hook
(:mod:`cachefresh.invalidation`), the statement net (:mod:`cachefresh.statements`),
``invalidate()``, the invalidation log (:mod:`cachefresh.dblog`) and ``smart_refresh`` finding
a row gone.

Deliver only once the write is committed: a filler that took the old token before that must
find it gone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cachefresh import indexes, keys, signals, stats, tiers
from cachefresh.conf import get_settings
from cachefresh.databases import database_segment
from cachefresh.indexes import IndexedField
from cachefresh.keys import RowKeys
from cachefresh.plans import ModelPlan
from cachefresh.store import get_store


@dataclass
class Retirement:
    """What writes on one database retire."""

    alias: str
    #: Row pks (normalised) retired by table.
    rows: dict[str, set[Any]] = field(default_factory=dict)
    #: Tables retired whole.
    tables: set[str] = field(default_factory=set)
    #: Index tokens and field generations.
    index_keys: set[str] = field(default_factory=set)
    #: The tables written, for a transaction's reads: every table above, and those written
    #: with nothing to retire (a plain insert).
    written: set[str] = field(default_factory=set)

    def add(self, other: Retirement) -> None:
        for table, pks in other.rows.items():
            self.rows.setdefault(table, set()).update(pks)
        self.tables |= other.tables
        self.index_keys |= other.index_keys
        self.written |= other.written


def rows(alias: str, tables: Iterable[str], pks: Iterable[Any] | None) -> Retirement:
    """Rows ``pks`` of each of ``tables`` (its family), or every row when ``pks`` is None."""
    tables = tuple(tables)
    if pks is None:
        return Retirement(alias, tables=set(tables), written=set(tables))
    wanted = set(pks)
    return Retirement(alias, rows={table: set(wanted) for table in tables}, written=set(tables))


def written(alias: str, tables: Iterable[str]) -> Retirement:
    """Nothing to retire, but the tables were written (a plain insert): a transaction that
    wrote them must not store what it reads of them."""
    return Retirement(alias, written=set(tables))


def index_values(
    plan: ModelPlan, alias: str, pairs: Iterable[tuple[IndexedField, Any]]
) -> Retirement:
    """What writing ``(field, value)`` pairs to ``plan``'s table makes wrong in its indexes:
    each value's token, or the field's generation where the value is not known here."""
    dead = indexes.retirement_keys(plan, alias, pairs)
    return Retirement(alias, index_keys=set(dead), written={plan.table})


def every_index(plan: ModelPlan, alias: str) -> Retirement:
    """A write of unknown values (out of Django's sight) may have set any value of any unique
    column: every field generation of ``plan``'s table."""
    return Retirement(
        alias, index_keys=set(indexes.generation_keys(plan, alias)), written={plan.table}
    )


def deliver(retirement: Retirement) -> None:
    """Delete every key ``retirement`` names, in one round trip; then drop what the local tier
    holds of them, count and signal."""
    alias, prefix = retirement.alias, get_settings().key_prefix
    database = database_segment(alias)
    dead = sorted(retirement.index_keys)
    for table in sorted(retirement.tables):
        dead.append(keys.generation_key(prefix, database, table))
        stats.count_invalidation(table, None)
    for table, pks in retirement.rows.items():
        if table in retirement.tables or not pks:
            continue  # retired whole already
        tag = keys.table_tag(prefix, database, table)
        dead.extend(RowKeys(tag, pk).token for pk in pks)
        stats.count_invalidation(table, len(pks))
    try:
        get_store().retire(dead)
    finally:
        # After the retirement, not before: a fill by another thread of this process that read
        # the old token before the cache retired it is dropped (or its mark killed) here, so
        # this thread's next read cannot find it: read-your-writes, even while the cache is down.
        local = tiers.local()
        if local is not None:
            local.retire(dead)
    if signals.invalidated.receivers:
        for table in sorted(retirement.tables):
            signals.report_invalidated(alias, table, None)
        for table, pks in retirement.rows.items():
            if table not in retirement.tables and pks:
                signals.report_invalidated(alias, table, list(pks))
