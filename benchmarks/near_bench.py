"""``python -m benchmarks.near_bench [--charts DIR] [--rounds N]``: the near cache's figures.

A companion of the main suite: it creates a PostgreSQL database of its own on
``CACHEFRESH_PG_HOST``/``PORT`` (dropped at the end), uses the test app's ``Article`` model and
a fresh key prefix on the Redis at ``CACHEFRESH_REDIS_URL`` (its keys are deleted at the end);
every process's settings are in :mod:`benchmarks.env.nearenv`, the measurements across
processes in :mod:`benchmarks.workers.near_procs`, the charts in
:mod:`benchmarks.harness.charts.near`. It measures:

* the latency of a hit: the in-process floor (a dict lookup plus ``Model.from_db``), a near
  hit, and a Redis-tier hit (the near cache switched off for that call), interleaved in many
  short rounds in shuffled order; ratios are medians of per-round ratios;
* ``cached_get`` hit throughput with 1, 2 and 4 processes, near cache on and off;
* the delay until a write in one process is seen by another (median and p99);
* the memory per row held in the near tier.
"""

from __future__ import annotations

import argparse
import atexit
import os
import random
import statistics
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

from benchmarks.env.backends import delete_prefixed
from benchmarks.env.nearenv import DB_NAME, PREFIX, pg, ready_near, redis_url, setup_django, warm
from benchmarks.workers.near_procs import delays, throughput

ROWS = 200


# --- latency ----------------------------------------------------------------------------------


def latency(rounds: int, calls: int) -> dict[str, list[float]]:
    """Seconds per call, per round, of each variant."""
    from cachefresh import cached_get, near
    from cachefresh.registry import registry
    from tests.testapp.models import Article

    pks = list(Article.objects.values_list("pk", flat=True))
    ready_near()
    warm(pks)
    plan = registry.plan(Article)
    rows = {a.pk: [getattr(a, n) for n in plan.attnames] for a in Article.objects.all()}
    cache = near.current()
    rng = random.Random(1)

    def floor(pk: int) -> Any:
        return Article.from_db("default", plan.attnames, rows[pk])

    def near_hit(pk: int) -> Any:
        return cached_get(Article, pk)

    def redis_hit(pk: int) -> Any:
        return cached_get(Article, pk)

    results: dict[str, list[float]] = {"floor": [], "near": [], "redis": []}
    variants = {"floor": floor, "near": near_hit, "redis": redis_hit}
    for _ in range(rounds):
        order = list(variants)
        rng.shuffle(order)
        sample = [rng.choice(pks) for _ in range(calls)]
        for name in order:
            call = variants[name]
            if name == "redis":
                near._near = None  # the Redis tier alone, for this round's calls
            started = time.perf_counter()
            for pk in sample:
                call(pk)
            results[name].append((time.perf_counter() - started) / calls)
            near._near = cache
    return results


# --- memory -----------------------------------------------------------------------------------


def memory_per_row() -> float:
    from cachefresh import cached_get, near
    from tests.testapp.models import Article

    cache = near.current()
    assert cache is not None
    pks = list(Article.objects.values_list("pk", flat=True))
    for pk in pks:
        cached_get(Article, pk)  # in Redis
    cache.tier.flush(serving=True)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for pk in pks:
        cached_get(Article, pk)  # a Redis hit fills the tier
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    held = len(cache.tier)
    return (after - before) / max(held, 1)


# --- report -----------------------------------------------------------------------------------


def _sig(value: float) -> str:
    return f"{value:.3g}"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.near_bench")
    parser.add_argument("--charts", default="bench-results/near", help="folder for PNG charts")
    parser.add_argument("--rounds", type=int, default=60)
    args = parser.parse_args(argv)
    import psycopg

    with psycopg.connect(dbname="postgres", autocommit=True, **pg()) as admin:
        admin.execute(f'CREATE DATABASE "{DB_NAME}"')
    os.environ["NB_DB"], os.environ["NB_PREFIX"] = DB_NAME, PREFIX  # for the workers
    # Registered before cachefresh is imported, so it runs after cachefresh's own exit hooks
    # (last in, first out): the statistics they flush at exit are under the prefix too.
    atexit.register(delete_prefixed, redis_url(), f"*{PREFIX}*")
    print(f"Database {DB_NAME}, Redis keys under {PREFIX}: both removed at the end.\n")
    try:
        return _run(args)
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(dbname="postgres", autocommit=True, **pg()) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


def _run(args: argparse.Namespace) -> int:
    setup_django(True)
    from django.db import connection

    from tests.testapp.models import Article, Author

    with connection.schema_editor() as editor:
        editor.create_model(Author)
        editor.create_model(Article)
    Article.objects.bulk_create(
        Article(title=f"row {i}", body="x" * 200, views=i) for i in range(ROWS)
    )
    lat = latency(args.rounds, 200)
    mem = memory_per_row()
    tput = {(p, on): throughput(p, on, 2.0) for p in (1, 2, 4) for on in (False, True)}
    seen = delays(60)
    ratio = {
        name: statistics.median(v / f for v, f in zip(lat[name], lat["floor"], strict=True))
        for name in ("near", "redis")
    }
    speedup = statistics.median(r / n for r, n in zip(lat["redis"], lat["near"], strict=True))
    print("## Hit latency (µs per call, median of rounds)\n")
    print("| variant | median µs | x floor (median of per-round ratios) |\n| --- | --- | --- |")
    print(f"| in-process floor | {_sig(statistics.median(lat['floor']) * 1e6)} | 1 |")
    for name, label in (("near", "near hit"), ("redis", "Redis-tier hit")):
        print(f"| {label} | {_sig(statistics.median(lat[name]) * 1e6)} | {_sig(ratio[name])} |")
    print(f"\nRedis-tier hit / near hit: {_sig(speedup)}x ({args.rounds} rounds)\n")
    print("## Hit throughput (hits/s, all processes)\n")
    print("| processes | near off | near on | on/off |\n| --- | --- | --- | --- |")
    for p in (1, 2, 4):
        off, on = tput[p, False], tput[p, True]
        print(f"| {p} | {_sig(off)} | {_sig(on)} | {_sig(on / off)} |")
    seen.sort()
    p99 = seen[int(0.99 * (len(seen) - 1))]
    print("\n## Cross-process invalidation delay (ms)\n")
    print(f"| median | p99 | max |\n| --- | --- | --- |\n| {_sig(statistics.median(seen) * 1e3)} "
          f"| {_sig(p99 * 1e3)} | {_sig(seen[-1] * 1e3)} |")  # fmt: skip
    print(f"\n## Memory per row held near\n\n{_sig(mem)} bytes (Article, 6 columns, 200-char body)")
    from benchmarks.harness.charts import near as near_charts

    near_charts.draw(Path(args.charts), lat, tput, seen)
    print(f"\nCharts in {args.charts}/")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
