"""The thundering herd: many readers in several processes ask for one cold row at once.

Each round, every reader thread (spread over worker processes) waits at one barrier, then
reads a row nobody has read yet through the library's cached read. Each thread counts the
statements its own database connection sends for the row's table while the round runs
(``connection.execute_wrapper``, so it sees exactly what reaches the database driver); the
counts are summed over threads and processes. Each reader's wait is the time from the barrier
to having its instance.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from benchmarks.env.lab import Lab, default_database, unavailable
from benchmarks.workers.crew import Crew
from benchmarks.workers.herd import herd_process


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
        outcomes, duration = _herd(lab, crew, library, readers, processes)
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


def _herd(
    lab: Lab, crew: Crew, library: str, readers: int, processes: int
) -> tuple[list[dict[str, Any]], float]:
    """Every process's outcome, and how long the rounds took."""
    start = crew.barrier(readers)
    cold = lab.pks[1:]
    shares = [readers // processes + (i < readers % processes) for i in range(processes)]
    for threads in shares:
        crew.start(herd_process, library, threads, lab.pks[0], cold, start)
    began = time.perf_counter()
    outcomes = crew.collect(processes)
    return outcomes, time.perf_counter() - began
