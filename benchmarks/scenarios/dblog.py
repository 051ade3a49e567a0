"""The invalidation log: what its triggers cost writers, and how fast a listener retires.

Runs in a process of its own: it creates a scratch PostgreSQL database and its own tables on
the run's server (:mod:`benchmarks.env.dblogenv`), uses a key prefix of its own on Redis, and
removes all of it at the end. Measured:

* write cost: a single-row ``UPDATE`` and a 1,000-row ``UPDATE`` (each its own commit) on a
  table without triggers, with triggers that notify, and with poll-only triggers;
* commit throughput of 4 writer processes, single-row ``UPDATE`` commits, same three tables;
* listener throughput: log rows retired per second from a backlog;
* the delay from a raw-SQL commit to the first fresh ``cached_get`` in another process, with a
  listener running (notify and poll-only).

Variants are interleaved in many short rounds in shuffled order; each figure is the median of
per-round values, and ratios are medians of per-round ratios to "no triggers".
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any

import psycopg

from benchmarks.env import dblogenv
from benchmarks.env.backends import delete_prefixed, env_redis_url
from benchmarks.env.dblogenv import CACHED, ROWS, TABLES, dsn
from benchmarks.harness import stats
from benchmarks.harness.child import Job
from benchmarks.harness.results import Results
from benchmarks.harness.stats import paired, summarize_seconds
from benchmarks.harness.timing import interleave
from benchmarks.workers.dblog import writer

NAME = "dblog"
VARIANTS = {"none": "no triggers", "notify": "triggers, notify", "poll": "triggers, poll only"}
WRITERS = 4


@dataclass(frozen=True)
class Sizes:
    rounds: int
    #: Single-row and 1,000-row UPDATEs per variant per round.
    single: int
    bulk: int
    #: One throughput window of the writers.
    window_s: float
    #: The log rows a listener retires per round (rounds: a third of the others, at least 3).
    backlog: int
    #: Commits timed until fresh, with triggers that notify, and poll-only.
    notify_samples: int
    poll_samples: int


SIZES = {
    "tiny": Sizes(
        2, single=20, bulk=2, window_s=0.1, backlog=2000, notify_samples=5, poll_samples=2
    ),
    "quick": Sizes(
        15, single=200, bulk=5, window_s=0.5, backlog=20000, notify_samples=200, poll_samples=20
    ),
    "full": Sizes(
        30, single=200, bulk=5, window_s=0.5, backlog=20000, notify_samples=400, poll_samples=40
    ),
}


def measure(job: Job, results: Results) -> None:
    sizes, redis = job.sizes(SIZES), env_redis_url()
    prefix = f"dblogbench{uuid.uuid4().hex[:8]}"
    with dblogenv.scratch_database(dblogenv.server()) as conninfo:
        Row = dblogenv.setup_django(conninfo, redis, prefix)
        env = {**os.environ, **dblogenv.environment(conninfo, redis, prefix)}
        try:
            dblogenv.prepare(Row)
            with psycopg.connect(dsn(conninfo), autocommit=True) as conn:
                _writes(job, results, conn, sizes)
                _commits(job, results, dsn(conninfo), conn, sizes)
                conn.execute("TRUNCATE cachefresh_log")
                _listener(job, results, conn, sizes)
                for notify, samples in ((True, sizes.notify_samples), (False, sizes.poll_samples)):
                    delays = commit_to_fresh(Row, conn, env, notify, samples, job.rng(NAME, notify))
                    _fresh(job, results, VARIANTS["notify" if notify else "poll"], delays)
        finally:
            from django.db import connections

            from cachefresh import stats as counters

            connections.close_all()
            counters.flush()  # now, not at exit: its counters are among the keys deleted here
            delete_prefixed(redis, f"*{prefix}*")


def _writes(job: Job, results: Results, conn: psycopg.Connection[Any], sizes: Sizes) -> None:
    """Per round and variant: a loop of single-row UPDATEs, then a loop of 1,000-row ones."""

    def write(table: str) -> tuple[float, float]:
        start = time.perf_counter()
        for i in range(sizes.single):
            conn.execute(f"UPDATE {table} SET n = n + 1 WHERE id = %s", [i % ROWS + 1])
        single = (time.perf_counter() - start) / sizes.single
        start = time.perf_counter()
        for _ in range(sizes.bulk):
            conn.execute(f"UPDATE {table} SET n = n + 1")
        bulk = (time.perf_counter() - start) / sizes.bulk
        conn.execute("TRUNCATE cachefresh_log")
        return single, bulk

    loops = {VARIANTS[v]: (lambda table=table: write(table)) for v, table in TABLES.items()}
    found = interleave(loops, sizes.rounds, job.rng(NAME, "writes"))
    for index, (group, calls) in enumerate(
        (("single-row UPDATE", sizes.single), ("1,000-row UPDATE", sizes.bulk))
    ):
        seconds = {name: [pair[index] for pair in rounds] for name, rounds in found.items()}
        results.measured(NAME, job.backend, group, summarize_seconds(seconds, calls))
        _to_none(job, results, group, seconds)


def _to_none(job: Job, results: Results, group: str, found: dict[str, list[float]]) -> None:
    """Each variant with triggers against "no triggers", round by round."""
    none = VARIANTS["none"]
    for name in (VARIANTS["notify"], VARIANTS["poll"]):
        results.ratio(NAME, job.backend, group, name, none, paired(found[name], found[none]))


def _commits(
    job: Job, results: Results, dsn_: str, conn: psycopg.Connection[Any], sizes: Sizes
) -> None:
    """Per round and variant: commits per second of the writer processes together."""
    ctx = multiprocessing.get_context("spawn")
    jobs, done = ctx.Queue(), ctx.Queue()
    workers = [
        ctx.Process(target=writer, args=(dsn_, i, WRITERS, jobs, done)) for i in range(WRITERS)
    ]
    for worker in workers:
        worker.start()

    def commits(table: str) -> float:
        for _ in workers:
            jobs.put((table, sizes.window_s))
        rate = sum(done.get(timeout=60) for _ in workers) / sizes.window_s
        conn.execute("TRUNCATE cachefresh_log")
        return float(rate)

    try:
        loops = {VARIANTS[v]: (lambda table=table: commits(table)) for v, table in TABLES.items()}
        found = interleave(loops, sizes.rounds, job.rng(NAME, "commits"))
    finally:
        for _ in workers:
            jobs.put(None)
        for worker in workers:
            worker.join(10)
    for name, rates in found.items():
        results.fact(
            NAME,
            job.backend,
            "commits",
            variant=name,
            writers=WRITERS,
            window_s=sizes.window_s,
            commits_per_s=statistics.median(rates),
            min_commits_per_s=min(rates),
            max_commits_per_s=max(rates),
            samples=rates,
        )
    _to_none(job, results, f"commits/s, {WRITERS} writer processes", found)


def _listener(job: Job, results: Results, conn: psycopg.Connection[Any], sizes: Sizes) -> None:
    """Log rows retired (and committed) per second by one listener draining a backlog."""
    from cachefresh.dblog.listener import Listener

    rates = []
    with psycopg.connect(conn.info.dsn, autocommit=True) as own:
        for _ in range(max(3, sizes.rounds // 3)):
            conn.execute(
                "INSERT INTO cachefresh_log (table_name, row_pk) "
                f"SELECT '{CACHED}', (g % {ROWS} + 1)::text "
                f"FROM generate_series(1, {sizes.backlog}) g"
            )
            worker = Listener("default")
            start = time.perf_counter()
            while worker.drain_batch(own):
                pass
            rates.append(sizes.backlog / (time.perf_counter() - start))
    results.fact(
        NAME,
        job.backend,
        "listener",
        backlog=sizes.backlog,
        rows_per_s=statistics.median(rates),
        min_rows_per_s=min(rates),
        max_rows_per_s=max(rates),
        samples=rates,
    )


def commit_to_fresh(
    Row: Any,
    conn: psycopg.Connection[Any],
    env: dict[str, str],
    notify: bool,
    samples: int,
    rng: Any,
) -> list[float]:
    """Seconds from a raw-SQL commit to the first fresh cached_get, a listener running in
    another process."""
    from django.db import connection

    from cachefresh import cached_get
    from cachefresh.dblog import triggers

    with connection.cursor() as cursor:
        log = triggers.log_table(connection)
        for sql in triggers.install_sql(connection, CACHED, "id", log, notify):
            cursor.execute(sql)
    child = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.workers.dblog"], env=env, stderr=subprocess.DEVNULL
    )
    delays = []
    try:
        # The first sample waits for the listener's start-up, and is not counted.
        for i in range(-1, samples):
            pk = rng.randrange(1, ROWS + 1)
            cached_get(Row, pk)
            title = f"t{i}-{uuid.uuid4().hex[:6]}"
            conn.execute(f"UPDATE {CACHED} SET title = %s WHERE id = %s", [title, pk])
            committed = time.perf_counter()
            while cached_get(Row, pk).title != title:
                pass
            if i >= 0:
                delays.append(time.perf_counter() - committed)
            # Writes land at random moments of the listener's wait (its poll interval is 1 s).
            time.sleep(rng.uniform(0, 0.02 if notify else 1.0))
    finally:
        child.terminate()
        child.wait(15)
    return delays


def _fresh(job: Job, results: Results, variant: str, seconds: list[float]) -> None:
    group = "from a raw-SQL commit to a fresh cached_get, a listener in another process"
    fresh = stats.delays(seconds)
    results.fact(NAME, job.backend, "commit to fresh", group=group, variant=variant, **fresh)
