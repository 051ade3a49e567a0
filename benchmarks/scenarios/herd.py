"""The thundering herd: many readers in several processes ask for one cold row at once.

Each round, every reader thread (spread over worker processes) waits at one barrier, then
reads a row nobody has read yet through the library's cached read. Each thread counts the
statements its own database connection sends for the row's table while the round runs
(``connection.execute_wrapper``, so it sees exactly what reaches the database driver); the
counts are summed over threads and processes. Each reader's wait is the time from the barrier
to having its instance.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from multiprocessing.synchronize import Barrier
from typing import Any

from benchmarks.env.lab import Lab, default_database, unavailable
from benchmarks.workers.crew import PHASE_TIMEOUT, Crew


@dataclass
class HerdResult:
    library: str
    readers: int
    processes: int
    #: Per round, the statements the database received for that round's cold row.
    queries: list[int]
    #: Seconds: the longest any reader of any round waited for its row.
    max_wait: float
    median_wait: float
    duration: float
    settings: dict[str, Any]
    skipped: str | None = None

    @property
    def max_queries(self) -> int:
        return max(self.queries, default=0)


def run_herd(
    library: str = "cachefresh",
    *,
    readers: int = 32,
    processes: int = 4,
    rounds: int = 3,
    db_latency_ms: float = 2.0,
    redis_latency_ms: float = 0.0,
    database: dict[str, Any] | None = None,
    redis_url: str | None = None,
    key_prefix: str = "",
) -> HerdResult:
    """``rounds`` rounds, each on its own cold row, of ``readers`` readers at one instant."""
    if processes < 1 or readers < processes:
        raise ValueError("need at least one process and at least one reader per process")
    settings: dict[str, Any] = {"rounds": rounds}
    if library == "cacheops":
        settings["cacheops_read"] = ".cache().get(): its default, without the opt-in lock=True"
    reason = unavailable(library)
    if reason is not None:
        return HerdResult(library, readers, processes, [], 0.0, 0.0, 0.0, settings, reason)
    # Row 1 warms each connection up; rows 2.. are the cold rows, one per round.
    lab = Lab(
        library,
        rounds + 1,
        db_latency_ms,
        redis_latency_ms,
        database or default_database(),
        **({"redis_url": redis_url} if redis_url else {}),
        key_prefix=key_prefix,
    )
    with lab, Crew(lab.config) as crew:
        settings.update(lab.settings())
        start = crew.barrier(readers)
        cold = lab.pks[1:]
        shares = [readers // processes + (i < readers % processes) for i in range(processes)]
        for threads in shares:
            crew.start(_herd_process, library, threads, lab.pks[0], cold, start)
        began = time.perf_counter()
        outcomes = crew.collect(processes)
        duration = time.perf_counter() - began
    queries = [sum(outcome["queries"][r] for outcome in outcomes) for r in range(rounds)]
    waits = sorted(wait for outcome in outcomes for wait in outcome["waits"])
    return HerdResult(
        library,
        readers,
        processes,
        queries,
        waits[-1],
        waits[len(waits) // 2],
        duration,
        settings,
    )


def _herd_process(
    library: str, threads: int, warm_pk: int, cold: list[int], start: Barrier
) -> dict[str, Any]:
    queries = [0] * len(cold)
    waits: list[float] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def reader() -> None:
        from django.db import connection

        from benchmarks.workers.libraries import cached_reader

        read = cached_reader(library)
        mine = [0] * len(cold)
        current: list[int] = []  # the round being counted, if any

        def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
            if current and "stormapp_row" in sql:
                mine[current[0]] += 1
            return execute(sql, params, many, context)

        try:
            with connection.execute_wrapper(count):
                # Opens this thread's connection and warms the library up, outside any round.
                read(warm_pk)
                for index, pk in enumerate(cold):
                    start.wait(timeout=PHASE_TIMEOUT)
                    began = time.perf_counter()
                    current[:] = [index]
                    read(pk)
                    current.clear()
                    with lock:
                        waits.append(time.perf_counter() - began)
        except BaseException as exc:
            start.abort()
            errors.append(exc)
        finally:
            connection.close()
        with lock:
            for index, value in enumerate(mine):
                queries[index] += value

    pool = [threading.Thread(target=reader) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    if errors:
        raise errors[0]
    return {"queries": queries, "waits": waits}
