"""The invalidation log scenario's other processes (:mod:`benchmarks.scenarios.dblog`).

* :func:`writer`: one of the writer processes whose commits per second are counted;
* ``python -m benchmarks.workers.dblog ALIAS``: a listener (``cachefresh listen``'s loop) on
  the scratch database ``ALIAS`` of those the environment names
  (:func:`benchmarks.env.dblogenv.environment`), until SIGTERM.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from typing import Any

import psycopg

from benchmarks.env.dblogenv import ROWS, from_env, setup_django


def writer(dsn: str, index: int, writers: int, jobs: Any, done: Any) -> None:
    """Single-row UPDATE commits for each ``(table, seconds)`` job; the count to ``done``."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        while (job := jobs.get()) is not None:
            table, seconds = job
            count, end = 0, time.perf_counter() + seconds
            while time.perf_counter() < end:
                # Each writer its own rows: commits contend only on what commit itself locks.
                pk = index * (ROWS // writers) + count % (ROWS // writers) + 1
                conn.execute(f"UPDATE {table} SET n = n + 1 WHERE id = %s", [pk])
                count += 1
            done.put(count)


def listen(alias: str) -> None:
    databases, redis, prefix = from_env()
    setup_django(databases, redis, prefix)
    from cachefresh.dblog.listener import Listener

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    Listener(alias, stopping=stop).run()


if __name__ == "__main__":
    listen(sys.argv[1])
