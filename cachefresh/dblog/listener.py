"""The worker behind ``manage.py cachefresh listen``: claim log rows, retire them, commit.

Rows are claimed with ``DELETE … FOR UPDATE SKIP LOCKED … RETURNING``, so several workers
share the log without taking a row twice, and retired *before* the claim commits: a worker
that dies in between leaves its rows in the log, and the next one retires them again
(harmless). ``pg_notify`` only wakes the worker; it also polls, because notifications sent
while it is disconnected are lost.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

import psycopg
from django.db import connections

from cachefresh.dblog import CHANNEL, LOG_TABLE
from cachefresh.dblog.retire import Undelivered, retire_rows

log = logging.getLogger("cachefresh.dblog")

FIRST_BACKOFF = 0.1
MAX_BACKOFF = 5.0

CLAIM = (
    f"DELETE FROM {LOG_TABLE} WHERE id IN "
    f"(SELECT id FROM {LOG_TABLE} ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED) "
    "RETURNING id, table_name, row_pk"
)


@dataclass
class Listener:
    alias: str
    batch_size: int = 500
    poll_interval: float = 1.0
    stopping: threading.Event = field(default_factory=threading.Event)
    #: Log rows retired and committed by this worker.
    retired: int = 0
    _backoff: float = field(default=FIRST_BACKOFF, init=False)

    def run(self) -> None:
        """Serve until :attr:`stopping` is set, reconnecting with backoff after any failure."""
        while not self.stopping.is_set():
            try:
                with self._connect() as connection:
                    self._serve(connection)
            except (psycopg.Error, Undelivered) as exc:
                log.warning(
                    "listener on %r: %s; retrying in %.1f s", self.alias, exc, self._backoff
                )
                self.stopping.wait(self._backoff)
                self._backoff = min(self._backoff * 2, MAX_BACKOFF)
        log.info("listener on %r: stopped after retiring %d log rows", self.alias, self.retired)

    def _connect(self) -> psycopg.Connection[Any]:
        params = connections[self.alias].get_connection_params()
        connection = psycopg.connect(**params, autocommit=True)
        try:
            connection.execute(f"LISTEN {CHANNEL}")
        except psycopg.Error:
            connection.close()
            raise
        log.info("listener on %r: connected, listening on channel %s", self.alias, CHANNEL)
        return connection

    def _serve(self, connection: psycopg.Connection[Any]) -> None:
        while not self.stopping.is_set():
            while self.drain_batch(connection) == self.batch_size:
                if self.stopping.is_set():
                    return
            # A notification that came during the drain is kept by psycopg: no wait then.
            for _ in connection.notifies(timeout=self.poll_interval, stop_after=1):
                pass

    def drain_batch(self, connection: psycopg.Connection[Any]) -> int:
        """Claim, retire and commit one batch; how many log rows it held."""
        with connection.transaction():
            rows = connection.execute(CLAIM, (self.batch_size,)).fetchall()
            if rows:
                # Raising here rolls the claim back: the rows stay for the next attempt.
                keys = retire_rows(self.alias, [(table, pk) for _, table, pk in rows])
        self._backoff = FIRST_BACKOFF
        if rows:
            self.retired += len(rows)
            log.info(
                "listener on %r: retired %d keys from %d log rows", self.alias, keys, len(rows)
            )
            log.debug("committed log rows %s", [row[0] for row in rows])
        return len(rows)
