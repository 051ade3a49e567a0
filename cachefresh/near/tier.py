"""The near tier: an LRU of decoded rows in this process, each tied to the keys that validated it.

A row is kept with the full Redis keys of its row token and its table generation (its
*dependencies*). An invalidation of a dependency, pushed by Redis or made by a write in this
process, drops every row that depends on it: a token names one row, a generation a whole table.

**The fill race.** A reply to a read can be older than an invalidation the listener has already
handled: the write lands after Redis answered the read but before the reader stores what it
found. So a fill registers a :class:`Marker` per row *before* the read is sent; any
invalidation of one of the row's dependencies kills the marker, and :meth:`NearTier.keep`
stores only under a live marker. A flush (tracking lost, heartbeat silent, a ``FLUSHDB``)
kills every marker and moves the epoch on, so no fill begun before it can land after it.

**Serving** needs the tracking connection to have answered a heartbeat sent within the last
``max_lag`` seconds (:attr:`NearTier.heard`); this is checked on every read, so staleness is
bounded by ``max_lag`` even if the listener thread is late noticing the silence.

One lock guards everything: an uncontended acquire costs far less than the ``from_db`` that
follows a hit, and the listener thread and every reader thread touch the same maps.
"""

from __future__ import annotations

import copy
import datetime
import decimal
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any

#: Values a row can share with every instance built from it: nothing can change them in place.
_IMMUTABLE = frozenset(
    {int, str, float, bool, type(None), bytes, decimal.Decimal, uuid.UUID}
    | {datetime.datetime, datetime.date, datetime.time, datetime.timedelta}
)


def _copied(values: list[Any]) -> list[Any]:
    """A copy of a row that shares nothing mutable with it. A memoryview (psycopg2's value of
    a BinaryField) cannot be deep-copied: it gets a view of its own bytes."""
    return [
        value
        if type(value) in _IMMUTABLE
        else memoryview(value.tobytes())
        if type(value) is memoryview
        else copy.deepcopy(value)
        for value in values
    ]


class Marker:
    """A fill of one row in progress: stored only if no invalidation killed it first."""

    __slots__ = ("deps", "entry", "epoch", "live")

    def __init__(self, entry: str, deps: tuple[str, str], epoch: int) -> None:
        self.entry = entry
        self.deps = deps
        self.epoch = epoch
        self.live = True


class _Row:
    __slots__ = ("deps", "expires", "mutable", "values")

    def __init__(self, values: list[Any], deps: tuple[str, str], expires: float) -> None:
        self.mutable = any(type(value) not in _IMMUTABLE for value in values)
        # A JSON dict or an array held here must not be changed through an instance.
        self.values = _copied(values) if self.mutable else values
        self.deps = deps
        self.expires = expires


class NearTier:
    def __init__(self, max_entries: int, max_lag: float, ttl: float) -> None:
        self.max_entries = max_entries
        self.max_lag = max_lag
        self.ttl = ttl
        self._lock = threading.Lock()
        self._rows: OrderedDict[str, _Row] = OrderedDict()
        #: full dependency key -> entry keys of the rows that depend on it
        self._deps: dict[str, set[str]] = {}
        #: full dependency key -> markers of fills in progress that depend on it
        self._watch: dict[str, set[Marker]] = {}
        self._epoch = 0
        self._serving = False
        #: When the last heartbeat that was answered was sent (monotonic seconds).
        self.heard = 0.0

    # --- reads ------------------------------------------------------------------------------

    def serving(self) -> bool:
        return self._serving and time.monotonic() - self.heard <= self.max_lag

    def get(self, entry: str) -> list[Any] | None:
        """The row held under ``entry``; ``None`` when it is not held or the tier must not
        serve (:meth:`get_many` tells the two apart)."""
        now = time.monotonic()
        with self._lock:
            if not self._serving or now - self.heard > self.max_lag:
                return None
            row = self._rows.get(entry)
            if row is None or row.expires < now:
                return None
            self._rows.move_to_end(entry)
            return _copied(row.values) if row.mutable else row.values

    def get_many(self, entries: Sequence[str]) -> list[list[Any] | None] | None:
        """The rows held under ``entries`` (``None`` where not held), or ``None`` when the
        tier must not serve at all."""
        now = time.monotonic()
        found: list[list[Any] | None] = []
        with self._lock:
            if not self._serving or now - self.heard > self.max_lag:
                return None
            rows = self._rows
            for entry in entries:
                row = rows.get(entry)
                if row is None or row.expires < now:
                    found.append(None)
                    continue
                rows.move_to_end(entry)
                found.append(_copied(row.values) if row.mutable else row.values)
        return found

    def __len__(self) -> int:
        return len(self._rows)

    # --- fills ------------------------------------------------------------------------------

    def begin(self, wanted: Iterable[tuple[str, tuple[str, str]]]) -> list[Marker] | None:
        """Markers for fills of ``(entry, (token key, generation key))``, set before the read;
        ``None`` when the tier is not serving (nothing read now may be kept)."""
        with self._lock:
            if not self._serving:
                return None
            markers = []
            for entry, deps in wanted:
                marker = Marker(entry, deps, self._epoch)
                for dep in deps:
                    self._watch.setdefault(dep, set()).add(marker)
                markers.append(marker)
            return markers

    def keep(self, marker: Marker, values: list[Any]) -> bool:
        """Store a validated row under ``marker`` if nothing invalidated it since the marker
        was set; either way the marker is done."""
        with self._lock:
            self._unwatch(marker)
            if not marker.live or marker.epoch != self._epoch or not self._serving:
                return False
            self._drop_entry(marker.entry)
            self._rows[marker.entry] = _Row(values, marker.deps, time.monotonic() + self.ttl)
            for dep in marker.deps:
                self._deps.setdefault(dep, set()).add(marker.entry)
            while len(self._rows) > self.max_entries:
                self._drop_entry(next(iter(self._rows)))
            return True

    def abandon(self, markers: Iterable[Marker]) -> None:
        with self._lock:
            for marker in markers:
                self._unwatch(marker)

    def _unwatch(self, marker: Marker) -> None:
        for dep in marker.deps:
            watching = self._watch.get(dep)
            if watching is not None:
                watching.discard(marker)
                if not watching:
                    del self._watch[dep]

    # --- invalidation -----------------------------------------------------------------------

    def invalidate(self, keys: Iterable[str]) -> int:
        """Drop every row depending on any of the full ``keys`` and kill their fills in
        progress; how many rows were dropped."""
        dropped = 0
        with self._lock:
            for key in keys:
                for marker in self._watch.pop(key, ()):
                    marker.live = False
                    self._unwatch(marker)
                for entry in self._deps.pop(key, ()):
                    dropped += self._drop_entry(entry)
        return dropped

    def flush(self, serving: bool) -> None:
        """Forget every row and kill every fill in progress; serve again only if ``serving``."""
        with self._lock:
            for markers in self._watch.values():
                for marker in markers:
                    marker.live = False
            self._watch.clear()
            self._rows.clear()
            self._deps.clear()
            self._epoch += 1
            self._serving = serving

    def _drop_entry(self, entry: str) -> int:
        row = self._rows.pop(entry, None)
        if row is None:
            return 0
        for dep in row.deps:
            dependents = self._deps.get(dep)
            if dependents is not None:
                dependents.discard(entry)
                if not dependents:
                    del self._deps[dep]
        return 1
