"""A circuit breaker: while the cache is unreachable, callers stop paying its timeout.

Closed, every call goes to the cache. The first failure opens it: for ``retry_interval``
seconds calls get their fallback at once. When the interval is over, exactly one caller (across
threads) is let through as the probe and the interval restarts, so at most one call per
interval pays the connection timeout; a success anywhere closes the breaker.
"""

from __future__ import annotations

import logging
import threading
import time

logger = logging.getLogger("cachefresh")


class Breaker:
    def __init__(self, retry_interval: float) -> None:
        self.retry_interval = retry_interval
        self.failing = False
        self.open_until = 0.0
        self._lock = threading.Lock()

    def allows(self) -> bool:
        if not self.failing:
            return True  # the healthy path takes no lock
        now = time.monotonic()
        if now < self.open_until:
            return False
        with self._lock:
            if now < self.open_until:
                return False  # another thread became the probe first
            self.open_until = now + self.retry_interval
            return True

    def trip(self, exc: BaseException) -> None:
        with self._lock:
            if not self.failing:
                logger.warning(
                    "cachefresh: cache unreachable (%s: %s); reading from the database, "
                    "retrying every %.2fs",
                    type(exc).__name__, exc, self.retry_interval,
                )  # fmt: skip
            self.failing = True
            self.open_until = time.monotonic() + self.retry_interval

    def close(self) -> None:
        if self.failing:
            with self._lock:
                if self.failing:
                    logger.warning("cachefresh: cache reachable again")
                self.failing = False
                self.open_until = 0.0
