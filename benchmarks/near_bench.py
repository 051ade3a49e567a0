"""``python -m benchmarks.near_bench [--charts DIR] [--rounds N]``: the near cache's figures.

A companion of the main suite: it creates a PostgreSQL database of its own on
``CACHEFRESH_PG_HOST``/``PORT`` (dropped at the end), uses the test app's ``Article`` model and
a fresh key prefix on the Redis at ``CACHEFRESH_REDIS_URL`` (every key with it is deleted at
the end); every process's settings are in :mod:`benchmarks.env.nearenv`, the peers' processes
in :mod:`benchmarks.workers.near_peer`, the measurements across processes in
:mod:`benchmarks.workers.near_procs`, the charts in :mod:`benchmarks.harness.charts.near`.
It measures:

* the latency of a hit: the in-process floor (a dict lookup plus ``Model.from_db``), a near
  hit, a Redis-tier hit (the near cache switched off for that call), and the hits of
  django-cacheops and django-cachalot (each in a process of its own, on the same table and
  Redis), all in every one of many short rounds, in shuffled order, on the round's one sample
  of pks; ratios are medians of per-round ratios, checked against issue 11's targets (a near
  hit within 3x the floor and at least 20x faster than each peer's hit);
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.env.backends import delete_prefixed
from benchmarks.env.nearenv import DB_NAME, PREFIX, pg, ready_near, redis_url, setup_django, warm
from benchmarks.workers.near_peer import PACKAGES, PEERS, Peer
from benchmarks.workers.near_procs import delays, throughput

ROWS = 200
LABELS = {
    "floor": "in-process floor",
    "near": "near hit",
    "redis": "Redis-tier hit",
    "cacheops": "django-cacheops hit",
    "cachalot": "django-cachalot hit",
}
#: Issue 11's latency targets: (numerator, denominator, bound, whether the bound is at most).
TARGETS = (
    ("near", "floor", 3.0, True),
    ("cacheops", "near", 20.0, False),
    ("cachalot", "near", 20.0, False),
)


# --- latency ----------------------------------------------------------------------------------


def _timed(call: Callable[[int], Any]) -> Callable[[list[int]], float]:
    def run(sample: list[int]) -> float:
        started = time.perf_counter()
        for pk in sample:
            call(pk)
        return (time.perf_counter() - started) / len(sample)

    return run


def latency(rounds: int, calls: int, peers: list[Peer]) -> dict[str, list[float]]:
    """Seconds per call, per round, of each variant: every variant runs in every round, in
    an order shuffled each round, on the round's one sample of pks; a peer times its loop in
    its own process."""
    from cachefresh import cached_get, near
    from cachefresh.registry import registry
    from tests.testapp.models import Article

    pks = list(Article.objects.values_list("pk", flat=True))
    ready_near()
    warm(pks)
    for peer in peers:
        peer.ready()
    plan = registry.plan(Article)
    rows = {a.pk: [getattr(a, n) for n in plan.attnames] for a in Article.objects.all()}
    cache = near.current()
    rng = random.Random(1)
    near_hit = _timed(lambda pk: cached_get(Article, pk))

    def redis_hit(sample: list[int]) -> float:
        near._near = None  # the Redis tier alone, for this round's calls
        try:
            return near_hit(sample)
        finally:
            near._near = cache

    variants = {
        "floor": _timed(lambda pk: Article.from_db("default", plan.attnames, rows[pk])),
        "near": near_hit,
        "redis": redis_hit,
        **{peer.name: peer.time for peer in peers},
    }
    results: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        order = list(variants)
        rng.shuffle(order)
        sample = [rng.choice(pks) for _ in range(calls)]
        for name in order:
            results[name].append(variants[name](sample))
    return results


def paired(lat: dict[str, list[float]], numerator: str, denominator: str) -> float:
    """``numerator / denominator``, the median of per-round ratios (both ran in every round)."""
    pairs = zip(lat[numerator], lat[denominator], strict=True)
    return statistics.median(a / b for a, b in pairs)


def verdicts(lat: dict[str, list[float]]) -> list[dict[str, Any]]:
    """Issue 11's latency targets, each with its measured ratio and whether it was met."""
    out = []
    for numerator, denominator, bound, at_most in TARGETS:
        value = paired(lat, numerator, denominator)
        met = value <= bound if at_most else value >= bound
        shown = f"{'≤' if at_most else '≥'} {bound:g}x"
        out.append({"numerator": numerator, "denominator": denominator, "ratio": value,
                    "bound": shown, "met": met})  # fmt: skip
    return out


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
    peers = [Peer(name) for name in PEERS]  # they start while this process warms up
    try:
        lat = latency(args.rounds, 200, peers)
    finally:
        for peer in peers:
            peer.close()
    mem = memory_per_row()
    tput = {(p, on): throughput(p, on, 2.0) for p in (1, 2, 4) for on in (False, True)}
    seen = delays(60)
    targets = verdicts(lat)
    versions = ", ".join(f"{PACKAGES[peer.name]} {peer.version}" for peer in peers)
    print(f"## Hit latency (µs per call, median of {args.rounds} rounds)\n")
    print(f"Each round runs all five variants one after another, in shuffled order, on one sample "
          f"of 200 pks; each peer in a process of its own ({versions}), its hits checked to run "
          f"no queries.\n")  # fmt: skip
    print("| variant | median µs | x floor (median of per-round ratios) |\n| --- | --- | --- |")
    for name, label in LABELS.items():
        x_floor = paired(lat, name, "floor")
        print(f"| {label} | {_sig(statistics.median(lat[name]) * 1e6)} | {_sig(x_floor)} |")
    speedup = paired(lat, "redis", "near")
    print(f"\nRedis-tier hit / near hit: {_sig(speedup)}x\n")
    print("## Targets (issue 11; medians of per-round ratios)\n")
    print("| ratio | measured | target | verdict |\n| --- | --- | --- | --- |")
    for t in targets:
        ratio = f"{LABELS[t['numerator']]} / {LABELS[t['denominator']]}"
        verdict = "met" if t["met"] else "**missed**"
        print(f"| {ratio} | {_sig(t['ratio'])}x | {t['bound']} | {verdict} |")
    print()
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

    near_charts.draw(Path(args.charts), lat, LABELS, targets, tput, seen)
    print(f"\nCharts in {args.charts}/")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
