"""The stale-set storm: are rows ever left stale in the cache once writes stop?

Each episode, writer processes make a bounded burst of committed ORM writes to a few hot rows
while reader processes hammer the same rows through the library's cached read. Then the
writers stop, the readers stop (so any fill still in flight has landed), and a checker
process that took no part in the burst reads every row through the library's cached read.
The cache is shared, so what the checker gets is what any process would get from then on;
each row whose cached read differs from the row read by raw SQL is a stale row-episode.

Worker database connections go through a latency proxy (``db_latency_ms`` each way). The
stale-set race is won by a fill that reads a row before a write commits and stores it after
the write's invalidation: with writers and readers equally far from the database, the two
delays cancel and only jitter opens that window; with the writers closer to the database
(``writer_db_latency_ms`` below ``db_latency_ms``) it opens by the difference.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from benchmarks.env.lab import Lab, default_database, unavailable
from benchmarks.workers.crew import Crew
from benchmarks.workers.storm import checker, reader, writer

MAX_EXAMPLES = 5


@dataclass
class StormResult:
    library: str
    row_episodes: int
    stale: int
    stale_examples: list[dict[str, Any]]
    duration: float
    settings: dict[str, Any]
    skipped: str | None = None
    writes: int = 0
    reads: int = 0
    #: Of ``reads``, those made inside ``transaction.atomic()`` blocks.
    atomic_reads: int = 0


def run_storm(
    library: str = "cachefresh",
    *,
    writers: int = 2,
    readers: int = 3,
    rows: int = 5,
    episodes: int = 60,
    writes_per_episode: int = 12,
    db_latency_ms: float = 2.0,
    db_jitter_ms: float = 0.0,
    writer_db_latency_ms: float | None = None,
    redis_latency_ms: float = 0.0,
    database: dict[str, Any] | None = None,
    redis_url: str | None = None,
    key_prefix: str = "",
    seed: int = 0,
    atomic_readers: int = 0,
    cachefresh_settings: dict[str, Any] | None = None,
) -> StormResult:
    """Run ``episodes`` episodes on ``rows`` hot rows; ``rows * episodes`` row-episodes.

    ``atomic_readers`` of the ``readers`` read in short ``transaction.atomic()`` blocks.
    ``cachefresh_settings`` are merged into the workers' ``CACHEFRESH`` (cachefresh only).
    """
    if writes_per_episode < rows:
        raise ValueError("writes_per_episode must be >= rows: every row is written every episode")
    if not 0 <= atomic_readers <= readers:
        raise ValueError(f"atomic_readers must be between 0 and readers ({readers})")
    settings: dict[str, Any] = {
        "writers": writers,
        "readers": readers,
        "atomic_readers": atomic_readers,
        "episodes": episodes,
        "writes_per_episode": writes_per_episode,
        "write_mix": "save(), save(update_fields=), QuerySet.update(), bulk_update() at random",
        "seed": seed,
    }
    if library == "cacheops":
        settings["cacheops_writes"] = (
            "QuerySet.update() and bulk_update() are followed by cacheops.invalidate_obj(), "
            "its documented remedy: cacheops does not see those writes"
        )
    reason = unavailable(library)
    if reason is not None:
        return StormResult(library, 0, 0, [], 0.0, settings, skipped=reason)
    lab = Lab(
        library,
        rows,
        db_latency_ms,
        redis_latency_ms,
        database or default_database(),
        **({"redis_url": redis_url} if redis_url else {}),
        key_prefix=key_prefix,
        db_jitter_ms=db_jitter_ms,
        writer_db_latency_ms=writer_db_latency_ms,
        cachefresh_settings=cachefresh_settings or {},
    )
    with lab, Crew(lab.config) as crew, lab.connect() as conn:
        settings.update(lab.settings())
        go = crew.barrier(writers + readers + 1)
        writes_done = crew.barrier(writers + 1)
        reads_done = crew.barrier(readers + 1)
        stop = crew.context.Event()
        check = crew.barrier(2)
        replies = crew.context.Queue()
        for index in range(writers):
            crew.start(
                writer,
                *(library, index, lab.pks, episodes, writes_per_episode, seed, go, writes_done),
                config=lab.writer_config,
            )
        for index in range(readers):
            atomic = index < atomic_readers
            crew.start(
                reader, library, index, lab.pks, episodes, seed, atomic, go, stop, reads_done
            )
        crew.start(checker, library, lab.pks, episodes, check, replies)

        stale, examples = 0, []
        crew.wait(go)
        started = time.perf_counter()
        for episode in range(episodes):
            if episode:
                crew.wait(go)
            crew.wait(writes_done)
            stop.set()
            crew.wait(reads_done)
            stop.clear()
            crew.wait(check)
            cached = crew.receive(replies)
            committed = lab.committed(conn)
            for pk, row in committed.items():
                if cached[pk] != row:
                    stale += 1
                    if len(examples) < MAX_EXAMPLES:
                        examples.append(
                            {"episode": episode, "pk": pk, "cached": cached[pk], "committed": row}
                        )
        duration = time.perf_counter() - started
        totals = crew.collect(writers + readers + 1)
    return StormResult(
        library,
        rows * episodes,
        stale,
        examples,
        duration,
        settings,
        writes=sum(t.get("writes", 0) for t in totals),
        reads=sum(t.get("reads", 0) for t in totals),
        atomic_reads=sum(t.get("atomic_reads", 0) for t in totals),
    )
