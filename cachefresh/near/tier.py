"""The near tier: an LRU of decoded rows in this process, each tied to the keys that validated it.

A row is kept with the full Redis keys of its row token and its table generation (its
*dependencies*). An invalidation of a dependency, pushed by Redis or made by a write in this
process, drops every row that depends on it: a token names one row, a generation a whole table.

**The fill race.** A reply to a read can be older than an invalidation the listener has already
handled: the write lands after Redis answered the read but before the reader stores what it
found. So a fill registers a :class:`Marker` per row *before* the read is sent; any
invalidation of one of the row's dependencies kills the marker, and :meth:`NearTier.keep`
stores only under a live marker.

**Links.** Each tracked server is a :class:`Link`: one for a single Redis, one per primary on a
Redis Cluster (plus one for the cluster's slot map, :mod:`cachefresh.near.cluster`). A row and
a fill name the links of their dependencies. A flush of a link (its tracking lost, its
heartbeat silent, a ``FLUSHDB`` on it, its slots moved) drops every row that names it, kills
every fill in progress that names it, and moves the link's epoch on, so no fill begun before
it can land after it. Rows of other links stay.

**Serving** a row needs each of its links to have answered a heartbeat sent within the last
``max_lag`` seconds (:attr:`Link.until`); this is checked on every read, so staleness is
bounded by ``max_lag`` even if a listener thread is late noticing the silence.

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


class Link:
    """One tracked server (or a cluster's slot map): what the rows naming it need to be served."""

    __slots__ = ("epoch", "name", "until")

    def __init__(self, name: str) -> None:
        self.name = name
        #: Serve rows of this link until then (monotonic seconds): the send time of the last
        #: heartbeat answered, plus ``max_lag``; 0 while the link is not tracking.
        self.until = 0.0
        #: Moved on by every flush of this link: a fill begun before a flush never lands.
        self.epoch = 0

    def __repr__(self) -> str:
        return f"<Link {self.name}>"


class Marker:
    """A fill of one row in progress: stored only if no invalidation killed it first."""

    __slots__ = ("deps", "entry", "epochs", "links", "live")

    def __init__(
        self, entry: str, deps: tuple[str, str], links: tuple[Link, ...], now: float
    ) -> None:
        self.entry = entry
        self.deps = deps
        self.links = links
        self.epochs = tuple(link.epoch for link in links)
        # Born dead when a link does not track now: nothing read from it may be kept.
        self.live = all(link.until >= now for link in links)


class _Row:
    __slots__ = ("deps", "expires", "links", "mutable", "values")

    def __init__(self, values: list[Any], marker: Marker, expires: float) -> None:
        self.mutable = any(type(value) not in _IMMUTABLE for value in values)
        # A JSON dict or an array held here must not be changed through an instance.
        self.values = _copied(values) if self.mutable else values
        self.deps = marker.deps
        self.links = marker.links
        self.expires = expires


def _unheard(links: tuple[Link, ...], now: float) -> bool:
    return any(link.until < now for link in links)


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
        #: Every link a row may name (the trackers add theirs).
        self.links: list[Link] = []

    # --- reads ------------------------------------------------------------------------------

    def serving(self) -> bool:
        """Whether every link tracks now (and there is one)."""
        return bool(self.links) and not _unheard(tuple(self.links), time.monotonic())

    def get(self, entry: str) -> list[Any] | None:
        """The row held under ``entry``; ``None`` when it is not held or one of its links is
        not heard from within ``max_lag``."""
        now = time.monotonic()
        with self._lock:
            row = self._rows.get(entry)
            if row is None or row.expires < now:
                return None
            for link in row.links:  # inlined: this is the hit path
                if link.until < now:
                    return None
            self._rows.move_to_end(entry)
            return _copied(row.values) if row.mutable else row.values

    def get_many(self, entries: Sequence[str]) -> list[list[Any] | None]:
        """The rows held under ``entries``, ``None`` where not held or where a link of the row
        is not heard from within ``max_lag``."""
        now = time.monotonic()
        found: list[list[Any] | None] = []
        with self._lock:
            rows = self._rows
            for entry in entries:
                row = rows.get(entry)
                if row is not None and row.expires >= now:
                    for link in row.links:  # inlined: this is the hit path
                        if link.until < now:
                            break
                    else:
                        rows.move_to_end(entry)
                        found.append(_copied(row.values) if row.mutable else row.values)
                        continue
                found.append(None)
        return found

    def __len__(self) -> int:
        return len(self._rows)

    # --- fills ------------------------------------------------------------------------------

    def begin(
        self, wanted: Iterable[tuple[str, tuple[str, str], tuple[Link, ...]]]
    ) -> list[Marker] | None:
        """Markers for fills of ``(entry, (token key, generation key), links)``, set before
        the read; ``None`` when no link tracks now (nothing read now may be kept)."""
        now = time.monotonic()
        with self._lock:
            markers = [Marker(entry, deps, links, now) for entry, deps, links in wanted]
            if not any(marker.live for marker in markers):
                return None
            for marker in markers:
                for dep in marker.deps:
                    self._watch.setdefault(dep, set()).add(marker)
            return markers

    def keep(self, marker: Marker, values: list[Any]) -> bool:
        """Store a validated row under ``marker`` if nothing invalidated it since the marker
        was set; either way the marker is done."""
        now = time.monotonic()
        with self._lock:
            self._unwatch(marker)
            if not marker.live or _unheard(marker.links, now):
                return False
            if any(
                link.epoch != epoch for link, epoch in zip(marker.links, marker.epochs, strict=True)
            ):
                return False  # a link was flushed since the marker was set
            self._drop_entry(marker.entry)
            self._rows[marker.entry] = _Row(values, marker, now + self.ttl)
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

    def flush(self, link: Link, until: float = 0.0) -> int:
        """Forget every row naming ``link`` and kill every fill in progress naming it; serve
        its rows again until ``until`` (0: not before its next heartbeat). How many rows were
        dropped."""
        with self._lock:
            link.epoch += 1
            link.until = until
            for markers in self._watch.values():
                for marker in markers:
                    if link in marker.links:
                        marker.live = False
            if len(self.links) == 1:  # one server: every row names it
                dropped = len(self._rows)
                self._rows.clear()
                self._deps.clear()
                return dropped
            doomed = [entry for entry, row in self._rows.items() if link in row.links]
            for entry in doomed:
                self._drop_entry(entry)
            return len(doomed)

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
