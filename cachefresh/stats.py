"""Process-local counters of what the cache did, per model (or table) and event."""

from __future__ import annotations

import threading
from collections import Counter

_counts: Counter[tuple[str, str]] = Counter()
_lock = threading.Lock()


def record(name: str, event: str, count: int = 1) -> None:
    # Counter updates are not atomic across threads; the lock keeps counts exact.
    with _lock:
        _counts[name, event] += count


def record_invalidation(table: str, rows: int | None) -> None:
    record(table, "invalidated_rows" if rows is not None else "invalidated_tables", rows or 1)


def snapshot() -> dict[str, dict[str, int]]:
    """``{name: {event: count}}`` for this process."""
    with _lock:
        items = list(_counts.items())
    result: dict[str, dict[str, int]] = {}
    for (name, event), count in items:
        result.setdefault(name, {})[event] = count
    return result


def reset() -> None:
    with _lock:
        _counts.clear()
