"""The invalidation log on PostgreSQL and MariaDB: what its triggers cost writers, how fast a
listener retires, and the read side beside it.

Runs in a process of its own: it creates a scratch database and its own tables on each server
the run reaches (PostgreSQL, and MariaDB/MySQL when reachable: :mod:`benchmarks.env.dblogenv`),
uses a key prefix of its own on Redis, and removes all of it at the end. Measured per database:

* a ``cached_get`` hit against ``get()``, and ``smart_refresh``'s strategies
  (:mod:`benchmarks.parts.dblog_reads`);
* write cost: a single-row ``UPDATE`` and a 1,000-row ``UPDATE`` (each its own commit) on a
  table without triggers, with triggers that notify (PostgreSQL only), and with poll-only
  triggers;
* commit throughput of 4 writer processes (PostgreSQL: what ``pg_notify`` costs at commit);
* listener throughput: log rows retired per second from a backlog;
* the delay from a raw-SQL commit to the first fresh ``cached_get`` in another process, with a
  listener running (notify, and poll-only at the default 1 s interval).

Variants are interleaved in many short rounds in shuffled order; each figure is the median of
per-round values, and ratios are medians of per-round ratios to "no triggers".
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any

from benchmarks.env import dblogenv
from benchmarks.env.backends import delete_prefixed, env_redis_url
from benchmarks.env.dblogenv import CACHED, ROWS, TABLES, Database, execute
from benchmarks.harness import stats
from benchmarks.harness.child import Job
from benchmarks.harness.results import Results
from benchmarks.harness.stats import paired, summarize_seconds
from benchmarks.harness.timing import interleave
from benchmarks.parts import dblog_reads
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
    #: Rows read (hits, get()) and refreshed per round.
    hot: int


SIZES = {
    "tiny": Sizes(
        2, single=20, bulk=2, window_s=0.1, backlog=2000, notify_samples=5, poll_samples=2, hot=20
    ),
    "quick": Sizes(
        15,
        single=200,
        bulk=5,
        window_s=0.5,
        backlog=20000,
        notify_samples=200,
        poll_samples=20,
        hot=100,
    ),
    "full": Sizes(
        30,
        single=200,
        bulk=5,
        window_s=0.5,
        backlog=20000,
        notify_samples=400,
        poll_samples=40,
        hot=200,
    ),
}


def measure(job: Job, results: Results) -> None:
    sizes, redis = job.sizes(SIZES), env_redis_url()
    prefix = f"dblogbench{uuid.uuid4().hex[:8]}"
    with dblogenv.scratch_databases(dblogenv.servers()) as databases:
        Row = dblogenv.setup_django(databases, redis, prefix)
        env = {**os.environ, **dblogenv.environment(databases, redis, prefix)}
        try:
            for db in databases:
                _database(job, results, Row, db, env, sizes)
        finally:
            from django.db import connections

            from cachefresh import stats as counters

            connections.close_all()
            counters.flush()  # now, not at exit: its counters are among the keys deleted here
            delete_prefixed(redis, f"*{prefix}*")


def _database(
    job: Job, results: Results, Row: Any, db: Database, env: dict[str, str], sizes: Sizes
) -> None:
    dblogenv.prepare(Row, db)
    dblog_reads.measure(job, results, NAME, Row, db.alias, db.backend, sizes)
    with contextlib.closing(dblogenv.connect(db)) as conn:
        _writes(job, results, conn, db, sizes)
        if db.vendor == "postgresql":
            _commits(job, results, db, conn, sizes)
        execute(conn, "DELETE FROM cachefresh_log")
        _listener(job, results, conn, db, sizes)
        for variant in db.variants[1:]:
            samples = sizes.notify_samples if variant == "notify" else sizes.poll_samples
            rng = job.rng(NAME, db.backend, variant)
            delays = commit_to_fresh(Row, conn, db, env, variant == "notify", samples, rng)
            _fresh(job, results, db, VARIANTS[variant], delays)


#: What the write loops time: each statement its own commit, then the same single-row UPDATEs
#: in one transaction (the trigger's own cost, without a commit's flush per statement).
WRITE_GROUPS = ("single-row UPDATE", "1,000-row UPDATE", "single-row UPDATE, in one transaction")


def _writes(job: Job, results: Results, conn: Any, db: Database, sizes: Sizes) -> None:
    """Per round and variant: loops of single-row UPDATEs, 1,000-row ones, and single-row ones
    in one transaction."""

    def timed(table: str, where: str, count: int) -> float:
        start = time.perf_counter()
        for i in range(count):
            execute(conn, f"UPDATE {table} SET n = n + 1{where}", [i % ROWS + 1] if where else None)
        return (time.perf_counter() - start) / count

    def write(table: str) -> tuple[float, float, float]:
        single = timed(table, " WHERE id = %s", sizes.single)
        bulk = timed(table, "", sizes.bulk)
        execute(conn, "BEGIN")
        start = time.perf_counter()
        timed(table, " WHERE id = %s", sizes.single)
        execute(conn, "COMMIT")
        in_one = (time.perf_counter() - start) / sizes.single  # its one commit included
        execute(conn, "DELETE FROM cachefresh_log")
        return single, bulk, in_one

    loops = {VARIANTS[v]: (lambda table=TABLES[v]: write(table)) for v in db.variants}
    found = interleave(loops, sizes.rounds, job.rng(NAME, db.backend, "writes"))
    for index, group in enumerate(WRITE_GROUPS):
        seconds = {name: [each[index] for each in rounds] for name, rounds in found.items()}
        calls = sizes.bulk if index == 1 else sizes.single
        results.measured(NAME, db.backend, group, summarize_seconds(seconds, calls))
        _to_none(results, db, group, seconds)


def _to_none(results: Results, db: Database, group: str, found: dict[str, list[float]]) -> None:
    """Each variant with triggers against "no triggers", round by round."""
    none = VARIANTS["none"]
    for variant in db.variants[1:]:
        name = VARIANTS[variant]
        results.ratio(NAME, db.backend, group, name, none, paired(found[name], found[none]))


def _commits(job: Job, results: Results, db: Database, conn: Any, sizes: Sizes) -> None:
    """Per round and variant: commits per second of the writer processes together."""
    ctx = multiprocessing.get_context("spawn")
    jobs, done = ctx.Queue(), ctx.Queue()
    dsn = f"host={db.host} port={db.port} user={db.user} dbname={db.name}"
    if db.password:
        dsn += f" password={db.password}"
    workers = [
        ctx.Process(target=writer, args=(dsn, i, WRITERS, jobs, done)) for i in range(WRITERS)
    ]
    for worker in workers:
        worker.start()

    def commits(table: str) -> float:
        for _ in workers:
            jobs.put((table, sizes.window_s))
        rate = sum(done.get(timeout=60) for _ in workers) / sizes.window_s
        execute(conn, "DELETE FROM cachefresh_log")
        return float(rate)

    try:
        loops = {VARIANTS[v]: (lambda table=TABLES[v]: commits(table)) for v in db.variants}
        found = interleave(loops, sizes.rounds, job.rng(NAME, "commits"))
    finally:
        for _ in workers:
            jobs.put(None)
        for worker in workers:
            worker.join(10)
    for name, rates in found.items():
        results.fact(
            NAME,
            db.backend,
            "commits",
            variant=name,
            writers=WRITERS,
            window_s=sizes.window_s,
            commits_per_s=statistics.median(rates),
            min_commits_per_s=min(rates),
            max_commits_per_s=max(rates),
            samples=rates,
        )
    _to_none(results, db, f"commits/s, {WRITERS} writer processes", found)


def _listener(job: Job, results: Results, conn: Any, db: Database, sizes: Sizes) -> None:
    """Log rows retired (and committed) per second by one listener draining a backlog."""
    from django.db import connections

    from cachefresh.dblog.dialect import dialect
    from cachefresh.dblog.listener import Listener

    rows = [(CACHED, str(g % ROWS + 1)) for g in range(sizes.backlog)]
    rates = []
    link = dialect(connections[db.alias]).connect(db.alias)
    try:
        for _ in range(max(3, sizes.rounds // 3)):
            cursor = conn.cursor()
            cursor.executemany(
                "INSERT INTO cachefresh_log (table_name, row_pk) VALUES (%s, %s)", rows
            )
            worker = Listener(db.alias)
            start = time.perf_counter()
            while worker.drain_batch(link):
                pass
            rates.append(sizes.backlog / (time.perf_counter() - start))
    finally:
        link.close()
    results.fact(
        NAME,
        db.backend,
        "listener",
        backlog=sizes.backlog,
        rows_per_s=statistics.median(rates),
        min_rows_per_s=min(rates),
        max_rows_per_s=max(rates),
        samples=rates,
    )


def commit_to_fresh(
    Row: Any, conn: Any, db: Database, env: dict[str, str], notify: bool, samples: int, rng: Any
) -> list[float]:
    """Seconds from a raw-SQL commit to the first fresh cached_get, a listener running in
    another process."""
    from django.db import connections

    from cachefresh import cached_get
    from cachefresh.dblog.dialect import dialect

    connection = connections[db.alias]
    with connection.cursor() as cursor:
        for sql in dialect(connection).install_sql(connection, CACHED, "id", notify):
            cursor.execute(sql)
    child = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.workers.dblog", db.alias],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    delays = []
    try:
        # The first sample waits for the listener's start-up, and is not counted.
        for i in range(-1, samples):
            pk = rng.randrange(1, ROWS + 1)
            cached_get(Row, pk, using=db.alias)
            title = f"t{i}-{uuid.uuid4().hex[:6]}"
            execute(conn, f"UPDATE {CACHED} SET title = %s WHERE id = %s", [title, pk])
            committed = time.perf_counter()
            while cached_get(Row, pk, using=db.alias).title != title:
                pass
            if i >= 0:
                delays.append(time.perf_counter() - committed)
            # Writes land at random moments of the listener's wait (its poll interval is 1 s).
            time.sleep(rng.uniform(0, 0.02 if notify else 1.0))
    finally:
        child.terminate()
        child.wait(15)
    return delays


def _fresh(job: Job, results: Results, db: Database, variant: str, seconds: list[float]) -> None:
    group = "from a raw-SQL commit to a fresh cached_get, a listener in another process"
    fresh = stats.delays(seconds)
    results.fact(NAME, db.backend, "commit to fresh", group=group, variant=variant, **fresh)
