"""Retirements the cache did not take, replayed from a background thread until it does.

A retirement that cannot be delivered must not be lost: the row it retires would stay valid in
the cache, stale, until the entry's TIMEOUT. So failed retirements wait here and a daemon
thread delivers them as soon as the cache answers again, with no further request needed from
the application. Each attempt takes the whole batch out of ``pending`` first, so a retirement
added while a delivery is in flight is never swept away by that delivery's success: it stays
pending and goes out in the next round. The thread doubles as the breaker's probe: while it
fails it keeps the breaker open, so callers pay no timeouts; its success closes the breaker.

A process that exits normally makes one last synchronous attempt (``deliver_now``, run at
exit). What is not covered: a process that dies (SIGKILL, crash) with retirements in its
outbox, or exits while the cache is still unreachable, loses them; the entries they would
have retired expire after TIMEOUT.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from cachefresh.store.breaker import Breaker
from cachefresh.store.errors import cache_errors

logger = logging.getLogger("cachefresh")


class Outbox:
    def __init__(
        self, deliver: Callable[[Sequence[str]], None], breaker: Breaker, interval: float
    ) -> None:
        self.deliver = deliver
        self.breaker = breaker
        self.interval = interval
        self.pending: set[str] = set()
        # The batch being delivered: still undelivered for holds(), but out of ``pending``.
        self.sending: frozenset[str] = frozenset()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()

    def __bool__(self) -> bool:
        return bool(self.pending) or bool(self.sending)

    def holds(self, key: str) -> bool:
        """Whether a retirement of ``key`` is not yet delivered."""
        # Read without the lock: the replay sets ``sending`` before emptying ``pending`` and
        # refills ``pending`` before clearing ``sending``, so a key is never in neither.
        return key in self.pending or key in self.sending

    def held(self) -> frozenset[str]:
        """Every key not yet delivered, taken before a read (see :meth:`masked`)."""
        with self._lock:  # the failed round refills ``pending`` and clears ``sending`` under it
            return frozenset(self.pending | self.sending)

    def masked(self, keys: Sequence[str], found: list[Any], before: frozenset[str]) -> list[Any]:
        """``found`` with ``None`` under every key held before the read or now. A key held
        when the read was sent stays absent for that read even if its retirement lands before
        the reply is looked at: the reply may still carry what the retirement replaced."""
        holds = self.holds
        return [
            None if key in before or holds(key) else value
            for key, value in zip(keys, found, strict=True)
        ]

    def add(self, keys: Iterable[str]) -> None:
        with self._lock:
            self.pending.update(keys)
            if self._thread is None and not self._stopped.is_set():
                self._thread = threading.Thread(
                    target=self._replay, name="cachefresh-outbox", daemon=True
                )
                self._thread.start()

    def deliver_now(self) -> bool:
        """One synchronous attempt at everything held (at exit); whether nothing is left."""
        with self._lock:
            batch = self.pending | self.sending
        if not batch:
            return True
        try:
            self.deliver(list(batch))
        except cache_errors() as exc:
            logger.error(
                "cachefresh: %d retirements could not be delivered (%s); their rows may be "
                "served stale until their entries expire (CACHEFRESH['TIMEOUT'])",
                len(batch),
                exc,
            )
            return False
        with self._lock:
            self.pending -= batch
        return True

    def stop(self) -> None:
        """Stop replaying (the store is being replaced); what is pending is dropped."""
        self._stopped.set()

    def _replay(self) -> None:
        while not self._stopped.wait(self.interval):
            with self._lock:
                batch = self.pending
                if not batch:
                    self._thread = None
                    return
                self.sending = frozenset(batch)
                self.pending = set()
            try:
                self.deliver(list(batch))
            except cache_errors() as exc:
                with self._lock:
                    self.pending |= batch
                    self.sending = frozenset()
                self.breaker.trip(exc)
                logger.debug("cachefresh: %d retirements still undelivered: %s", len(batch), exc)
                continue
            self.sending = frozenset()
            self.breaker.close()
            logger.warning("cachefresh: delivered %d retirements held during an outage", len(batch))
