"""How long a reader waits for another reader's fill of the same row (the thundering herd).

A reader that finds the row's fill lock taken polls the cache for the filler's entry instead of
querying the database too. How long is worth waiting depends on how long a fill takes, which
varies a hundredfold (a local database, one 100 ms away): a fixed wait shorter than the fill
sends the whole herd to the database exactly when it is slow. So waiters wait in proportion to
the fill time observed for the model (an average over this process's fills), never more than
:data:`MAX_WAIT` in all, and up to that bound while nothing is known yet; then they read the
database without storing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

#: The longest any reader waits for another's fill before reading the database itself.
MAX_WAIT = 1.0
#: Never shorter: a fill on a local database takes a millisecond, a busy one several.
MIN_WAIT = 0.05
#: Waiters give the filler this many times its usual fill time.
WAIT_FACTOR = 3.0
#: Not shorter: 31 waiters polling every 3 ms starved the filler of CPU and GIL on 2 cores,
#: its query passed the wait and every waiter fell back to the database (tests/read/test_herd.py).
MIN_POLL = 0.010
#: A filler that dies leaves its lock to expire after this long (longer than any wait).
LOCK_TTL = 2.0
_ALPHA = 0.3

_fill_seconds: dict[str, float] = {}


class HerdWait:
    """The wait policy for one model's fills."""

    __slots__ = ("label",)

    def __init__(self, label: str) -> None:
        self.label = label

    def observe_fill(self, seconds: float) -> None:
        known = _fill_seconds.get(self.label)
        _fill_seconds[self.label] = seconds if known is None else known + _ALPHA * (seconds - known)

    def budget(self) -> float:
        known = _fill_seconds.get(self.label)
        if known is None:
            return MAX_WAIT
        return min(MAX_WAIT, max(MIN_WAIT, WAIT_FACTOR * known))

    def polls(self) -> Iterator[None]:
        """Sleep between looks at the cache until the budget is spent."""
        budget = self.budget()
        interval = max(MIN_POLL, budget / 50)
        deadline = time.monotonic() + budget
        while time.monotonic() < deadline:
            time.sleep(interval)
            yield
