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
    async_reads: bool = False,
    cachefresh_settings: dict[str, Any] | None = None,
) -> StormResult:
    """Run ``episodes`` episodes on ``rows`` hot rows; ``rows * episodes`` row-episodes.

    ``atomic_readers`` of the ``readers`` read in short ``transaction.atomic()`` blocks. With
    ``async_reads`` (cachefresh only) readers and checker read through ``acached_get``, several
    reads at once on an event loop of their own.
    ``cachefresh_settings`` are merged into the workers' ``CACHEFRESH`` (cachefresh only).
    """
    if writes_per_episode < rows:
        raise ValueError("writes_per_episode must be >= rows: every row is written every episode")
    if not 0 <= atomic_readers <= readers:
        raise ValueError(f"atomic_readers must be between 0 and readers ({readers})")
    if async_reads and (library != "cachefresh" or atomic_readers):
        raise ValueError("async_reads: cachefresh's, outside atomic() blocks")
    plan = _Plan(
        library, writers, readers, atomic_readers, episodes, writes_per_episode, seed, async_reads
    )
    reason = unavailable(library)
    if reason is not None:
        return StormResult(library, 0, 0, [], 0.0, plan.settings(), skipped=reason)
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
        return _Storm(lab, crew, plan).run(conn)


@dataclass(frozen=True)
class _Plan:
    library: str
    writers: int
    readers: int
    atomic_readers: int
    episodes: int
    writes_per_episode: int
    seed: int
    async_reads: bool

    def settings(self) -> dict[str, Any]:
        """What a result records about the storm (the lab's settings join them)."""
        settings: dict[str, Any] = {
            "writers": self.writers,
            "readers": self.readers,
            "atomic_readers": self.atomic_readers,
            "episodes": self.episodes,
            "writes_per_episode": self.writes_per_episode,
            "write_mix": "save(), save(update_fields=), QuerySet.update(), bulk_update() at random",
            "seed": self.seed,
            "async_reads": self.async_reads,
        }
        if self.library == "cacheops":
            settings["cacheops_writes"] = (
                "QuerySet.update() and bulk_update() are followed by cacheops.invalidate_obj(), "
                "its documented remedy: cacheops does not see those writes"
            )
        return settings


class _Storm:
    """One storm in a lab: the workers, the barriers of an episode's phases, the stale count."""

    def __init__(self, lab: Lab, crew: Crew, plan: _Plan) -> None:
        self.lab, self.crew, self.plan = lab, crew, plan
        self.go = crew.barrier(plan.writers + plan.readers + 1)
        self.writes_done = crew.barrier(plan.writers + 1)
        self.reads_done = crew.barrier(plan.readers + 1)
        self.stop = crew.context.Event()
        self.check = crew.barrier(2)
        self.replies = crew.context.Queue()
        self.stale = 0
        self.examples: list[dict[str, Any]] = []

    def start(self) -> None:
        crew, plan, pks = self.crew, self.plan, self.lab.pks
        library, episodes, seed = plan.library, plan.episodes, plan.seed
        for index in range(plan.writers):
            crew.start(
                writer,
                *(library, index, pks, episodes, plan.writes_per_episode, seed),
                *(self.go, self.writes_done),
                config=self.lab.writer_config,
            )
        for index in range(plan.readers):
            atomic = index < plan.atomic_readers
            crew.start(
                reader,
                library,
                index,
                pks,
                episodes,
                seed,
                atomic,
                plan.async_reads,
                self.go,
                self.stop,
                self.reads_done,
            )
        crew.start(checker, library, pks, episodes, plan.async_reads, self.check, self.replies)

    def run(self, conn: Any) -> StormResult:
        self.start()
        crew, plan = self.crew, self.plan
        crew.wait(self.go)
        started = time.perf_counter()
        for episode in range(plan.episodes):
            if episode:
                crew.wait(self.go)
            crew.wait(self.writes_done)
            self.stop.set()
            crew.wait(self.reads_done)
            self.stop.clear()
            crew.wait(self.check)
            self.compare(episode, crew.receive(self.replies), self.lab.committed(conn))
        duration = time.perf_counter() - started
        totals = crew.collect(plan.writers + plan.readers + 1)
        return StormResult(
            plan.library,
            self.lab.rows * plan.episodes,
            self.stale,
            self.examples,
            duration,
            {**plan.settings(), **self.lab.settings()},
            writes=sum(t.get("writes", 0) for t in totals),
            reads=sum(t.get("reads", 0) for t in totals),
            atomic_reads=sum(t.get("atomic_reads", 0) for t in totals),
        )

    def compare(self, episode: int, cached: dict[int, Any], committed: dict[int, Any]) -> None:
        """Count each row whose cached read differs from the committed row as stale."""
        for pk, row in committed.items():
            if cached[pk] != row:
                self.stale += 1
                if len(self.examples) < MAX_EXAMPLES:
                    self.examples.append(
                        {"episode": episode, "pk": pk, "cached": cached[pk], "committed": row}
                    )
