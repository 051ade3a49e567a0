"""What the invalidation log costs and how fast it retires: ``python -m benchmarks.dblog_bench``.

Self-contained: it creates a scratch PostgreSQL database and its own tables, uses a key prefix
of its own on Redis, and removes all of it at the end. Measured:

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

import argparse
import contextlib
import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg

TABLES = {"none": "dblog_bench_plain", "notify": "dblog_bench_notify", "poll": "dblog_bench_poll"}
CACHED = "dblog_bench_row"
ROWS = 1000
WRITERS = 4


def settings_for(conninfo: dict[str, Any], redis_url: str, prefix: str) -> dict[str, Any]:
    return {
        "DATABASES": {
            "default": {
                "ENGINE": "django.db.backends.postgresql",
                "HOST": conninfo["host"],
                "PORT": conninfo["port"],
                "NAME": conninfo["dbname"],
                "USER": conninfo["user"],
                "CONN_MAX_AGE": None,
            }
        },
        "CACHES": {
            "default": {
                "BACKEND": "django_redis.cache.RedisCache",
                "LOCATION": redis_url,
                "KEY_PREFIX": prefix,
            }
        },
        "INSTALLED_APPS": ["cachefresh", "benchmarks.dblog_bench"],
        "CACHEFRESH": {"KEY_PREFIX": prefix},
        "USE_TZ": True,
        "SECRET_KEY": "dblog-bench",
        "DEFAULT_AUTO_FIELD": "django.db.models.AutoField",
    }


def setup_django(conninfo: dict[str, Any], redis_url: str, prefix: str) -> Any:
    import django
    from django.conf import settings

    settings.configure(**settings_for(conninfo, redis_url, prefix))
    django.setup()
    from django.db import models
    from django.test.utils import override_settings

    class Row(models.Model):
        title = models.CharField(max_length=40)

        class Meta:
            app_label = "dblog_bench"
            db_table = CACHED

        def __str__(self) -> str:
            return self.title

    # Defined after start-up (this module is the app), so cached only from here on.
    override_settings(CACHEFRESH={"KEY_PREFIX": prefix, "MODELS": ["dblog_bench.Row"]}).enable()
    return Row


def dsn(conninfo: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in conninfo.items())


@contextlib.contextmanager
def scratch_database(server: dict[str, Any]) -> Iterator[dict[str, Any]]:
    name = f"cfdblog_bench_{os.getpid()}"
    with psycopg.connect(dsn(server), autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield {**server, "dbname": name}
    finally:
        with psycopg.connect(dsn(server), autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def prepare(Row: Any) -> None:
    from django.db import connection

    from cachefresh.dblog import schema, triggers

    with connection.schema_editor() as editor:
        schema.create_log_table(None, editor)
        editor.create_model(Row)
    with connection.cursor() as cursor:
        for table in (*TABLES.values(), CACHED):
            if table != CACHED:
                cursor.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, n int NOT NULL)")
            cursor.execute(
                f"INSERT INTO {table} (id, {'title' if table == CACHED else 'n'}) "
                f"SELECT g, {'g::text' if table == CACHED else 'g'} "
                f"FROM generate_series(1, {ROWS}) g"
            )
        log = triggers.log_table(connection)
        for variant, table in TABLES.items():
            if variant != "none":
                for sql in triggers.install_sql(connection, table, "id", log, variant == "notify"):
                    cursor.execute(sql)


def write_costs(conn: psycopg.Connection[Any], rounds: int) -> dict[str, list[dict[str, float]]]:
    """Per round and variant: µs per single-row UPDATE, ms per 1,000-row UPDATE."""
    results: dict[str, list[dict[str, float]]] = {"single": [], "bulk": []}
    rng = random.Random(1)
    for _ in range(rounds):
        single: dict[str, float] = {}
        bulk: dict[str, float] = {}
        for variant in rng.sample(list(TABLES), len(TABLES)):
            table = TABLES[variant]
            start = time.perf_counter()
            for i in range(200):
                conn.execute(f"UPDATE {table} SET n = n + 1 WHERE id = %s", [i % ROWS + 1])
            single[variant] = (time.perf_counter() - start) / 200 * 1e6
            start = time.perf_counter()
            for _ in range(5):
                conn.execute(f"UPDATE {table} SET n = n + 1")
            bulk[variant] = (time.perf_counter() - start) / 5 * 1e3
            conn.execute("TRUNCATE cachefresh_log")
        results["single"].append(single)
        results["bulk"].append(bulk)
    return results


def _writer(dsn_: str, index: int, jobs: Any, done: Any) -> None:
    with psycopg.connect(dsn_, autocommit=True) as conn:
        while (job := jobs.get()) is not None:
            table, seconds = job
            count, end = 0, time.perf_counter() + seconds
            while time.perf_counter() < end:
                # Each writer its own rows: commits contend only on what commit itself locks.
                pk = index * (ROWS // WRITERS) + count % (ROWS // WRITERS) + 1
                conn.execute(f"UPDATE {table} SET n = n + 1 WHERE id = %s", [pk])
                count += 1
            done.put(count)


def throughput(dsn_: str, conn: psycopg.Connection[Any], rounds: int) -> list[dict[str, float]]:
    """Per round and variant: commits per second of 4 writer processes together."""
    ctx = multiprocessing.get_context("spawn")
    jobs, done = ctx.Queue(), ctx.Queue()
    workers = [ctx.Process(target=_writer, args=(dsn_, i, jobs, done)) for i in range(WRITERS)]
    for worker in workers:
        worker.start()
    rng = random.Random(2)
    per_round = []
    try:
        for _ in range(rounds):
            figures = {}
            for variant in rng.sample(list(TABLES), len(TABLES)):
                seconds = 0.5
                for _ in workers:
                    jobs.put((TABLES[variant], seconds))
                figures[variant] = sum(done.get(timeout=60) for _ in workers) / seconds
                conn.execute("TRUNCATE cachefresh_log")
            per_round.append(figures)
    finally:
        for _ in workers:
            jobs.put(None)
        for worker in workers:
            worker.join(10)
    return per_round


def listener_rate(conn: psycopg.Connection[Any], rounds: int, backlog: int = 20000) -> list[float]:
    """Log rows retired (and committed) per second by one listener draining a backlog."""
    from cachefresh.dblog.listener import Listener

    rates = []
    with psycopg.connect(conn.info.dsn, autocommit=True) as own:
        for _ in range(rounds):
            conn.execute(
                "INSERT INTO cachefresh_log (table_name, row_pk) "
                f"SELECT '{CACHED}', (g % {ROWS} + 1)::text FROM generate_series(1, {backlog}) g"
            )
            worker = Listener("default")
            start = time.perf_counter()
            while worker.drain_batch(own):
                pass
            rates.append(backlog / (time.perf_counter() - start))
    return rates


def commit_to_fresh(
    Row: Any, conn: psycopg.Connection[Any], env: dict[str, str], notify: bool, samples: int
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
        [sys.executable, "-m", "benchmarks.dblog_bench", "--listener"],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    delays = []
    try:
        rng = random.Random(3)
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


def run_listener() -> None:
    conninfo, redis_url, prefix = _from_env()
    setup_django(conninfo, redis_url, prefix)
    from cachefresh.dblog.listener import Listener

    stop = threading.Event()
    import signal

    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    Listener("default", stopping=stop).run()


def _from_env() -> tuple[dict[str, Any], str, str]:
    conninfo = dict(part.split("=", 1) for part in os.environ["DBLOG_BENCH_DSN"].split())
    return conninfo, os.environ["DBLOG_BENCH_REDIS"], os.environ["DBLOG_BENCH_PREFIX"]


def sig3(value: float) -> str:
    return f"{float(f'{value:.3g}'):,.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def ratio(per_round: list[dict[str, float]], variant: str) -> float:
    return statistics.median(r[variant] / r["none"] for r in per_round)


def median_of(per_round: list[dict[str, float]], variant: str) -> float:
    return statistics.median(r[variant] for r in per_round)


def report(results: dict[str, Any]) -> str:
    lines = [
        "| measure | no triggers | triggers, notify | triggers, poll only |",
        "| --- | --- | --- | --- |",
    ]
    for key, title, unit in (
        ("single", "single-row UPDATE", "µs"),
        ("bulk", "1,000-row UPDATE", "ms"),
        ("throughput", f"commits/s, {WRITERS} writer processes", "/s"),
    ):
        per_round = results[key]
        cells = [f"{sig3(median_of(per_round, 'none'))} {unit}"]
        for variant in ("notify", "poll"):
            cells.append(
                f"{sig3(median_of(per_round, variant))} {unit} ({ratio(per_round, variant):.3g}x)"
            )
        lines.append(f"| {title} | {' | '.join(cells)} |")
    rates = results["listener"]
    lines.append(f"| listener, log rows retired/s | | {sig3(statistics.median(rates))} /s | |")
    for variant, delays in (("notify", results["delay_notify"]), ("poll", results["delay_poll"])):
        ms = sorted(d * 1e3 for d in delays)
        p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
        text = f"median {sig3(statistics.median(ms))} ms, p99 {sig3(p99)} ms (n={len(ms)})"
        cells = ["", text, ""] if variant == "notify" else ["", "", text]
        lines.append(f"| commit → fresh cached_get | {' | '.join(cells)} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--samples", type=int, default=200, help="commit → fresh samples (notify)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", default="5432")
    parser.add_argument("--user", default="postgres")
    parser.add_argument("--dbname", default="test", help="where to create the scratch database")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--listener", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.listener:
        run_listener()
        return 0
    server = {"host": args.host, "port": args.port, "user": args.user, "dbname": args.dbname}
    prefix = f"dblogbench{uuid.uuid4().hex[:8]}"
    with scratch_database(server) as conninfo:
        Row = setup_django(conninfo, args.redis_url, prefix)
        env = dict(
            os.environ,
            DBLOG_BENCH_DSN=dsn(conninfo),
            DBLOG_BENCH_REDIS=args.redis_url,
            DBLOG_BENCH_PREFIX=prefix,
        )
        try:
            prepare(Row)
            with psycopg.connect(dsn(conninfo), autocommit=True) as conn:
                results: dict[str, Any] = write_costs(conn, args.rounds)
                results["throughput"] = throughput(dsn(conninfo), conn, args.rounds)
                conn.execute("TRUNCATE cachefresh_log")
                results["listener"] = listener_rate(conn, max(3, args.rounds // 3))
                results["delay_notify"] = commit_to_fresh(Row, conn, env, True, args.samples)
                results["delay_poll"] = commit_to_fresh(
                    Row, conn, env, False, max(10, args.samples // 10)
                )
        finally:
            from django.db import connections

            connections.close_all()
            _delete_keys(args.redis_url, prefix)
    print(report(results))
    return 0


def _delete_keys(url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    doomed = list(client.scan_iter(match=f"*{prefix}*", count=1000))
    if doomed:
        client.delete(*doomed)
    client.close()


if __name__ == "__main__":
    raise SystemExit(main())
