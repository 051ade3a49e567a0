"""The read path: serve rows from valid entries, fill misses without ever storing a stale row.

A hit needs the entry's header to carry the row's current token and the table's current
generation (both fetched with the entry in one round trip). A filler first makes sure a token
exists, then reads the database, then stores the row under that token: a write committed after
the token was read retires it, so a row read before that write can never be served.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any, TypeVar

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Model, QuerySet

from cachefresh import codec, stats
from cachefresh.codec import EncodeError
from cachefresh.columns import column_fetch
from cachefresh.conf import get_settings
from cachefresh.invalidation import in_transaction as transaction_open
from cachefresh.invalidation import written_in_transaction
from cachefresh.keys import RowKeys
from cachefresh.registry import ModelPlan, registry
from cachefresh.signals import cache_hit, report_miss
from cachefresh.signing import mac_key
from cachefresh.store import GuardedStore, get_store
from cachefresh.store.base import is_token

logger = logging.getLogger("cachefresh")

#: How long a reader waits for another reader's fill of the same row before reading the
#: database itself (without storing).
HERD_WAIT = 0.05
#: Not shorter: 31 waiters polling every 3 ms starved the filler of CPU and GIL on 2 cores,
#: its query passed HERD_WAIT and every waiter fell back to the database (tests/test_herd.py).
HERD_POLL = 0.010
#: A filler that dies leaves its lock to expire after this long.
LOCK_TTL = 2.0

M = TypeVar("M", bound=Model)

_reported_garbage: set[str] = set()


def valid_values(plan: ModelPlan, found: list[Any], pk: Any, offset: int = 0) -> list[Any] | None:
    """The row in ``found[offset]`` if the entry is valid under the token and generation.

    The row must also be the one with ``pk``: with signing on, an entry copied with its token
    from another row's keys verifies, and must still be refused.
    """
    entry, token, generation = found[offset], found[offset + 1], found[-1]
    if entry is None:
        return None
    # Checked before the tokens: garbage must be reported even when a write retired the row.
    if type(entry) is not bytes or len(entry) < codec.HEADER_SIZE or entry[:2] != codec.MAGIC:
        _report_garbage(plan, "an entry that cachefresh did not write")
        return None
    if not is_token(token) or not is_token(generation):
        return None
    key = mac_key()
    if not entry.startswith(codec.header(plan.schema, generation, token, key is not None)):
        return None
    values = codec.decode(entry, len(plan.attnames), key)
    if values is None:
        _report_garbage(plan, "an entry that does not decode")
    elif values[plan.pk_index] != pk:
        _report_garbage(plan, "an entry of another row")
        return None
    return values


def _report_garbage(plan: ModelPlan, what: str) -> None:
    label = plan.model._meta.label
    if label not in _reported_garbage:
        _reported_garbage.add(label)
        logger.warning("cachefresh: %s under a key of %s; treated as a miss", what, label)


def encode_row(
    plan: ModelPlan, generation: bytes, token: bytes, values: Iterable[Any]
) -> bytes | None:
    try:
        return codec.encode(plan.schema, generation, token, list(values), mac_key())
    except EncodeError as exc:
        logger.warning("cachefresh: a row of %s cannot be cached: %s", plan.model._meta.label, exc)
        return None


def _select(plan: ModelPlan, alias: str, pks: list[Any]) -> list[list[Any]]:
    """The rows with ``pks``, every concrete column, with SQL built once per model and alias:
    the ORM would spend more building the query than a local database spends running it."""
    fetch = column_fetch(plan.model, plan.attnames, alias, plan.schema)
    if len(pks) == 1:
        row = fetch.fetch_one(pks[0])
        return [] if row is None else [row]
    return fetch.fetch_many(pks)


def _does_not_exist(model: type[Model]) -> Exception:
    # The stubs' plugin gives DoesNotExist to concrete model classes only, not to type[Model].
    does_not_exist: type[ObjectDoesNotExist] = model.DoesNotExist  # type: ignore[attr-defined]
    return does_not_exist(f"{model._meta.object_name} matching query does not exist.")


def get_one(queryset: QuerySet[M], raw_pk: Any) -> M:
    """``queryset.get(pk=raw_pk)`` through the cache; ``queryset`` must carry no filters."""
    model = queryset.model
    plan = registry.plan(model)
    alias = queryset.db
    # A replica's rows are its primary's: same keys, and fills read the primary, never a lag.
    primary = get_settings().replicas.get(alias, alias)
    label = plan.model._meta.label
    try:
        pk = plan.normalize_pk(raw_pk, alias)
    except Exception:
        return queryset.get(pk=raw_pk)  # Django's own error, or its answer
    in_transaction = transaction_open(primary)
    if in_transaction and written_in_transaction(primary, plan.table):
        stats.record(label, "bypass_transaction")
        report_miss(model, alias, [pk], "written_in_transaction")
        return queryset.get(pk=pk)
    store = get_store()
    row = RowKeys(plan.table_tag(primary), pk)
    wanted = [row.entry, row.token, plan.generation_key(primary)]
    found = store.get_many(wanted)
    if found is not None:
        values = valid_values(plan, found, pk)
        if values is not None:
            stats.record(label, "hit")
            if cache_hit.receivers:
                cache_hit.send(model, using=alias, pk=pk)
            return model.from_db(alias, plan.attnames, values)
    stats.record(label, "miss")
    if in_transaction:
        reason = "in_transaction"
    elif found is None:
        reason = "cache_unavailable"
    elif store.is_pending(row.token):
        reason = "retirement_pending"
    else:
        reason = "absent"
    report_miss(model, alias, [pk], reason)
    if reason != "absent":
        # Nothing read inside a transaction is stored: its snapshot may predate the token.
        return queryset.get(pk=pk)
    return _fill_one(queryset, primary, plan, store, pk, row, wanted)


def _fill_one(
    queryset: QuerySet[M],
    primary: str,
    plan: ModelPlan,
    store: GuardedStore,
    pk: Any,
    row: RowKeys,
    wanted: list[str],
) -> M:
    model, alias = queryset.model, queryset.db
    begun = store.begin_fill(wanted[1:], row.lock, LOCK_TTL, row.entry)
    if begun is None:
        return queryset.get(pk=pk)
    tokens, locked, entry_now = begun
    if not locked:
        return _wait_for_fill(queryset, plan, store, pk, wanted)
    # Another fill may have landed between our miss and our lock: serve it, don't query again.
    # Without this a herd refilled the row once per released lock (4 queries; test_herd.py).
    values = valid_values(plan, [entry_now, *tokens], pk)
    if values is not None:
        store.fill({}, [row.lock])
        stats.record(plan.model._meta.label, "hit_after_wait")
        return model.from_db(alias, plan.attnames, values)
    rows: list[list[Any]] = []
    entry = None
    try:
        rows = _select(plan, primary, [pk])
        if rows:
            entry = encode_row(plan, tokens[1], tokens[0], rows[0])
    finally:
        store.fill({row.entry: entry} if entry else {}, [row.lock])
    if not rows:
        raise _does_not_exist(model)
    stats.record(plan.model._meta.label, "fill")
    return model.from_db(alias, plan.attnames, rows[0])


def _wait_for_fill(
    queryset: QuerySet[M], plan: ModelPlan, store: GuardedStore, pk: Any, wanted: list[str]
) -> M:
    """Another reader is filling this row: wait a little for it, then read without storing."""
    deadline = time.monotonic() + HERD_WAIT
    while time.monotonic() < deadline:
        time.sleep(HERD_POLL)
        found = store.get_many(wanted)
        if found is None:
            break
        values = valid_values(plan, found, pk)
        if values is not None:
            stats.record(plan.model._meta.label, "hit_after_wait")
            return queryset.model.from_db(queryset.db, plan.attnames, values)
    stats.record(plan.model._meta.label, "herd_fallback")
    return queryset.get(pk=pk)


def get_many(queryset: QuerySet[M], raw_pks: Iterable[Any]) -> dict[Any, M]:
    """``queryset.in_bulk(raw_pks)`` through the cache: one round trip, one query for misses."""
    raw_pks = list(raw_pks)
    model = queryset.model
    plan = registry.plan(model)
    alias = queryset.db
    primary = get_settings().replicas.get(alias, alias)
    label = plan.model._meta.label
    try:
        pks = list(dict.fromkeys(plan.normalize_pk(pk, alias) for pk in raw_pks))
    except Exception:
        return queryset.in_bulk(raw_pks)  # Django's own error, or its answer
    if not pks:
        return {}
    in_transaction = transaction_open(primary)
    if in_transaction and written_in_transaction(primary, plan.table):
        stats.record(label, "bypass_transaction", len(pks))
        report_miss(model, alias, pks, "written_in_transaction")
        return queryset.in_bulk(pks)
    store = get_store()
    tag = plan.table_tag(primary)
    rows = [RowKeys(tag, pk) for pk in pks]
    wanted = [key for row in rows for key in (row.entry, row.token)]
    wanted.append(plan.generation_key(primary))
    found = store.get_many(wanted)
    result: dict[Any, M] = {}
    missing: dict[Any, RowKeys] = {}
    for index, (pk, row) in enumerate(zip(pks, rows, strict=True)):
        values = valid_values(plan, found, pk, 2 * index) if found is not None else None
        if values is None:
            missing[pk] = row
        else:
            result[pk] = model.from_db(alias, plan.attnames, values)
    stats.record(label, "hit", len(result))
    if cache_hit.receivers:
        for pk in result:
            cache_hit.send(model, using=alias, pk=pk)
    if not missing:
        return result
    stats.record(label, "miss", len(missing))
    reason = "absent" if found is not None else "cache_unavailable"
    reason = "in_transaction" if in_transaction else reason
    report_miss(model, alias, list(missing), reason)
    tokens = None
    if not in_transaction and found is not None:
        tokens = store.ensure_tokens([row.token for row in missing.values()] + wanted[-1:])
    token_of = dict(zip(missing, tokens or (), strict=False))
    entries = {}
    for selected in _select(plan, alias if tokens is None else primary, list(missing)):
        pk = plan.normalize_pk(selected[plan.pk_index], alias)
        result[pk] = model.from_db(alias, plan.attnames, selected)
        missed = missing.get(pk)
        if tokens is not None and missed is not None and not store.is_pending(missed.token):
            entry = encode_row(plan, tokens[-1], token_of[pk], selected)
            if entry is not None:
                entries[missed.entry] = entry
    if entries:
        store.fill(entries, ())
        stats.record(label, "fill", len(entries))
    return result
