"""Counters of what the cache did, per model (or table) and event, summed across processes.

Recording is a locked in-memory increment: the read path never pays a round trip for it. A
daemon thread, started by the first record of a process, adds what each process counted since
its last flush to shared counters in the cache (``INCRBY`` in one pipeline on Redis, ``add`` +
``incr`` elsewhere) every :data:`FLUSH_INTERVAL` seconds and at exit. The shared keys sit in the
cache cachefresh uses, so processes that share invalidations share statistics too; each key
expires :data:`SHARED_TTL` after its last flush, so idle counters fade away.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from collections import Counter
from collections.abc import Iterable

from cachefresh import keys
from cachefresh.conf import get_settings
from cachefresh.store import get_store
from cachefresh.strategy import Strategy

#: Events with shared counters, in the order ``manage.py cachefresh stats`` shows them.
EVENTS = (
    "hit",
    "miss",
    # Why reads missed (cachefresh.signals.MISS_REASONS).
    "miss_absent",
    "miss_cache_unavailable",
    "miss_in_transaction",
    "miss_written_in_transaction",
    "miss_retirement_pending",
    "fill",
    "hit_after_wait",
    "herd_fallback",
    # The near cache (cachefresh.near): rows served without leaving the process, rows it had
    # to ask Redis for; and, under the name "near", its flushes and tracking connections.
    "near_hit",
    "near_miss",
    "near_flush",
    "near_tracking_up",
    "near_tracking_lost",
    # Lookups by a unique field (cachefresh.unique): the index entry, not the row's.
    "index_hit",
    "index_miss",
    "invalidated_rows",
    "invalidated_tables",
    # The strategy smart_refresh() ran, every one there is: "auto" always runs another.
    *(f"refresh_{strategy}" for strategy in Strategy if strategy is not Strategy.AUTO),
    # Why smart_refresh(strategy="auto") chose what it chose (cachefresh.cost).
    "refresh_reason_warmup",
    "refresh_reason_cost",
    "refresh_reason_explore",
    "refresh_reason_miss",
    "refresh_reason_forced",
    "refresh_reason_transaction",
    "refresh_reason_django",
    "refresh_reason_batch",
    "refresh_reason_uncached",
)
FLUSH_INTERVAL = 10.0
SHARED_TTL = 24 * 3600

_counts: Counter[tuple[str, str]] = Counter()
_flushed: Counter[tuple[str, str]] = Counter()
_lock = threading.Lock()
_flush_lock = threading.Lock()
_flusher: threading.Thread | None = None


def count(name: str, event: str, times: int = 1) -> None:
    # Counter updates are not atomic across threads; the lock keeps counts exact.
    with _lock:
        _counts[name, event] += times
    if _flusher is None:
        _start_flusher()


def count_events(name: str, events: Iterable[str], times: int = 1) -> None:
    """Count ``times`` of each of ``events`` under one lock."""
    with _lock:
        for event in events:
            _counts[name, event] += times
    if _flusher is None:
        _start_flusher()


def count_invalidation(table: str, rows: int | None) -> None:
    count(table, "invalidated_rows" if rows is not None else "invalidated_tables", rows or 1)


def snapshot() -> dict[str, dict[str, int]]:
    """``{name: {event: count}}`` for this process."""
    with _lock:
        items = list(_counts.items())
    return _nest(items)


def reset() -> None:
    """Forget this process's counts (the shared counters keep what was flushed).

    Waits for a flush in progress, so none of the forgotten counts is flushed afterwards.
    """
    with _flush_lock, _lock:
        _counts.clear()
        _flushed.clear()


def _nest(items: Iterable[tuple[tuple[str, str], int]]) -> dict[str, dict[str, int]]:
    result: dict[str, dict[str, int]] = {}
    for (name, event), count in items:
        if count:
            result.setdefault(name, {})[event] = count
    return result


def shared_key(name: str, event: str) -> str:
    return f"{get_settings().key_prefix}:stats:{keys.segment(name)}:{event}"


def flush() -> bool:
    """Add this process's unflushed counts to the shared counters; ``False`` if the cache failed.

    Counts that could not be written stay unflushed and go with the next flush.
    """
    with _flush_lock:
        with _lock:
            delta = {
                item: count - _flushed[item]
                for item, count in _counts.items()
                if count != _flushed[item] and item[1] in EVENTS
            }
        if not delta:
            return True
        # The cache is an optimisation and statistics are its least part: what the cache did
        # not take is retried with the next flush.
        if not get_store().add_counters(
            {shared_key(*item): count for item, count in delta.items()}, SHARED_TTL
        ):
            return False
        with _lock:
            _flushed.update(delta)
        return True


def shared_snapshot(names: Iterable[str]) -> dict[str, dict[str, int]]:
    """``{name: {event: count}}`` summed over every process that flushed into the cache; the
    cache's own error when it does not answer (the ``stats`` command reports it)."""
    wanted = {shared_key(name, event): (name, event) for name in names for event in EVENTS}
    ordered = list(wanted)
    values = get_store().store.get_many(ordered)
    items = []
    for key, value in zip(ordered, values, strict=True):
        # Counters are plain integers; anything else under the key is ignored, never decoded.
        if isinstance(value, bytes) and value.isdigit():
            items.append((wanted[key], int(value)))
        elif type(value) is int:
            items.append((wanted[key], value))
    return _nest(items)


def clear_shared(names: Iterable[str]) -> None:
    get_store().store.clear([shared_key(name, event) for name in names for event in EVENTS])


def _flush_forever() -> None:
    while True:
        time.sleep(FLUSH_INTERVAL)
        flush()


def _start_flusher() -> None:
    global _flusher
    with _flush_lock:
        if _flusher is None:
            _flusher = threading.Thread(target=_flush_forever, name="cachefresh-stats", daemon=True)
            _flusher.start()


def _after_fork_in_child() -> None:
    # The parent flushes what it counted before the fork; the child starts from zero.
    global _flusher, _lock, _flush_lock
    _lock = threading.Lock()
    _flush_lock = threading.Lock()
    _counts.clear()
    _flushed.clear()
    _flusher = None


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(flush)
