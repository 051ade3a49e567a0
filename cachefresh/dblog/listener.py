"""The worker behind ``manage.py cachefresh listen``: claim log rows, retire them, commit.

How rows are claimed is each database's (:mod:`cachefresh.dblog.dialect`): whatever the
database, a claim hands out rows no other worker holds, and removes them only when the block
that retires them ends; a worker that dies in between leaves its rows in the log, and the next
one retires them again (harmless). Between drains the worker waits for a wake-up where the
database sends one (``pg_notify``), and polls everywhere, as wake-ups sent while it is
disconnected are lost.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from django.db import connections

from cachefresh.dblog.dialect import Dialect, Link, dialect
from cachefresh.dblog.retire import Undelivered, retire_rows

log = logging.getLogger("cachefresh.dblog")

FIRST_BACKOFF = 0.1
MAX_BACKOFF = 5.0


@dataclass
class Listener:
    alias: str
    batch_size: int = 500
    poll_interval: float = 1.0
    stopping: threading.Event = field(default_factory=threading.Event)
    #: Log rows retired and committed by this worker.
    retired: int = 0
    _backoff: float = field(default=FIRST_BACKOFF, init=False)

    @property
    def dialect(self) -> Dialect:
        return dialect(connections[self.alias])

    def run(self) -> None:
        """Serve until :attr:`stopping` is set, reconnecting with backoff after any failure."""
        found = self.dialect
        survived: tuple[type[Exception], ...] = (*found.errors, Undelivered)
        with found.listening(self.alias):
            while not self.stopping.is_set():
                try:
                    link = self._connect(found)
                    try:
                        self._serve(link)
                    finally:
                        link.close()
                except survived as exc:
                    log.warning(
                        "listener on %r: %s; retrying in %.1f s", self.alias, exc, self._backoff
                    )
                    self.stopping.wait(self._backoff)
                    self._backoff = min(self._backoff * 2, MAX_BACKOFF)
        log.info("listener on %r: stopped after retiring %d log rows", self.alias, self.retired)

    def _connect(self, found: Dialect) -> Link:
        link = found.connect(self.alias)
        wake = "listening on channel cachefresh" if found.can_notify else "polling the log"
        log.info("listener on %r: connected, %s", self.alias, wake)
        return link

    def _serve(self, link: Link) -> None:
        while not self.stopping.is_set():
            while self.drain_batch(link) == self.batch_size:
                if self.stopping.is_set():
                    return
            link.wait(self.poll_interval, self.stopping)

    def drain_batch(self, link: Link) -> int:
        """Claim, retire and commit one batch; how many log rows it held."""
        with link.claim(self.batch_size) as rows:
            if rows:
                # Raising here gives the claim back: the rows stay for the next attempt.
                keys = retire_rows(self.alias, [(table, pk) for _, table, pk in rows])
        self._backoff = FIRST_BACKOFF
        if rows:
            self.retired += len(rows)
            log.info(
                "listener on %r: retired %d keys from %d log rows", self.alias, keys, len(rows)
            )
            log.debug("committed log rows %s", [row[0] for row in rows])
        return len(rows)
