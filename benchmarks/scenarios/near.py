"""The near cache (``NEAR_CACHE``) on PostgreSQL + Redis, in a process of its own.

It creates a PostgreSQL database of its own on the run's server (dropped at the end), uses the
test app's ``Article`` model and a fresh key prefix on the run's Redis (every key with it is
deleted at the end); every process's settings are in :mod:`benchmarks.env.nearenv`, the peers'
processes in :mod:`benchmarks.workers.near_peer`, the measurements across processes in
:mod:`benchmarks.workers.near_procs`. It measures:

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

import importlib.util
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from benchmarks.env.backends import delete_prefixed, env_redis_url
from benchmarks.env.nearenv import PREFIX, ready_near, scratch_database, seed, warm
from benchmarks.harness import stats
from benchmarks.harness.child import Job
from benchmarks.harness.results import Results
from benchmarks.harness.stats import paired, summarize_seconds
from benchmarks.harness.targets import RATIO_TARGETS
from benchmarks.harness.timing import interleave
from benchmarks.workers.near_peer import PACKAGES, PEERS, Peer
from benchmarks.workers.near_procs import delays, throughput

NAME = "near"
GROUP = "hit latency"
ROWS = 200
MODEL = "Article (6 columns, 200-character body)"
LABELS = {
    "floor": "in-process floor",
    "near": "near hit",
    "redis": "Redis-tier hit",
    "cacheops": "django-cacheops hit",
    "cachalot": "django-cachalot hit",
}


@dataclass(frozen=True)
class Sizes:
    rounds: int
    #: Hits per variant per round (the round's sample of pks).
    calls: int
    processes: tuple[int, ...]
    #: Each throughput window, and the wait before it for the workers to set up and warm.
    window_s: float
    settle_s: float
    #: Writes timed until another process sees them.
    writes: int


SIZES = {
    "tiny": Sizes(rounds=3, calls=20, processes=(1, 2), window_s=0.2, settle_s=1.0, writes=5),
    "quick": Sizes(60, 200, (1, 2, 4), window_s=2.0, settle_s=3.0, writes=60),
    "full": Sizes(100, 200, (1, 2, 4), window_s=2.0, settle_s=3.0, writes=200),
}


def measure(job: Job, results: Results) -> None:
    with scratch_database():
        try:
            _measure(job, results, job.sizes(SIZES))
        finally:
            from django.conf import settings

            from cachefresh import stats as counters

            # Now, not at exit: cachefresh may have been imported before any exit hook of
            # ours (then its flush at exit would run after our delete), and its counters are
            # our keys.
            if settings.configured:
                counters.flush()
            delete_prefixed(env_redis_url(), f"*{PREFIX}*")


def _measure(job: Job, results: Results, sizes: Sizes) -> None:
    seed(ROWS)
    peers = _peers(job, results)  # they start while this process warms up
    try:
        lat = latency(sizes, peers, job.rng(NAME, "latency"))
    finally:
        for peer in peers:
            peer.close()
    _record_latency(job, results, lat, sizes.calls, {peer.name: peer.version for peer in peers})
    memory = {"bytes_per_row": memory_per_row(), "rows": ROWS, **redis_bytes_per_row()}
    results.fact(NAME, job.backend, "near memory", model=MODEL, **memory)
    _across_processes(job, results, sizes)


def _across_processes(job: Job, results: Results, sizes: Sizes) -> None:
    """Hit throughput near cache off and on, and the delay until another process sees a write."""
    for count in sizes.processes:
        off, on = (throughput(count, on, sizes.window_s, sizes.settle_s) for on in (False, True))
        rates = {"near_off": off, "near_on": on, "window_s": sizes.window_s}
        results.fact(NAME, job.backend, "near throughput", processes=count, **rates)
    group = "from a commit to another process seeing it (loopback)"
    seen = stats.delays(delays(sizes.writes))
    results.fact(NAME, job.backend, "near delay", group=group, variant="near cache", **seen)


def _peers(job: Job, results: Results) -> list[Peer]:
    if not job.peers:
        results.skip(NAME, "the peers' hits", "not asked for (--peers to include them)")
        return []
    found = []
    for name in PEERS:
        if importlib.util.find_spec(name) is None:
            why = f"{PACKAGES[name]} is not installed (pip install '.[bench]')"
            results.skip(NAME, f"{PACKAGES[name]}'s hits", why)
            continue
        found.append(Peer(name))
    return found


def _timed(call: Callable[[int], Any]) -> Callable[[list[int]], float]:
    def run(sample: list[int]) -> float:
        started = time.perf_counter()
        for pk in sample:
            call(pk)
        return (time.perf_counter() - started) / len(sample)

    return run


def latency(sizes: Sizes, peers: list[Peer], rng: Any) -> dict[str, list[float]]:
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
    near_hit = _timed(lambda pk: cached_get(Article, pk))

    def redis_hit(sample: list[int]) -> float:
        near._near = None  # the Redis tier alone, for this round's calls
        _resolve_again(Article)
        try:
            return near_hit(sample)
        finally:
            near._near = cache
            _resolve_again(Article)

    variants: dict[str, Callable[[list[int]], float]] = {
        "floor": _timed(lambda pk: Article.from_db("default", plan.attnames, rows[pk])),
        "near": near_hit,
        "redis": redis_hit,
        **{peer.name: peer.time for peer in peers},
    }
    sample: list[int] = []

    def draw() -> None:
        sample[:] = [rng.choice(pks) for _ in range(sizes.calls)]

    calls = {name: (lambda run=run: run(sample)) for name, run in variants.items()}
    return interleave(calls, sizes.rounds, rng, before=draw)


def _resolve_again(model: Any) -> None:
    """Reads keep the tier they resolved (cachefresh.routes) until something changes: say it
    did, and resolve the route again before the timed calls."""
    from cachefresh import changes, routes

    changes.bump()
    routes.route(model, "default")


def _record_latency(
    job: Job, results: Results, lat: dict[str, list[float]], calls: int, versions: dict[str, str]
) -> None:
    summaries = summarize_seconds({LABELS[name]: seconds for name, seconds in lat.items()}, calls)
    for name in lat:
        label = LABELS[name]
        extra = {"peer_version": versions[name]} if name in versions else {}
        results.measured(NAME, job.backend, GROUP, {label: summaries[label]}, **extra)
    pairs = [(name, "floor") for name in lat if name != "floor"]
    pairs += [(name, "near") for name in lat if name not in ("floor", "near")]
    for numerator, denominator in pairs:
        ratio = paired(lat[numerator], lat[denominator])
        results.ratio(NAME, job.backend, GROUP, LABELS[numerator], LABELS[denominator], ratio)


def verdicts(lat: dict[str, list[float]]) -> list[dict[str, Any]]:
    """Issue 11's latency targets (the suite's, :data:`RATIO_TARGETS`) judged on per-round
    seconds keyed as :data:`LABELS` is: each with its measured ratio and whether it was met."""
    keys = {label: key for key, label in LABELS.items()}
    out = []
    for t in RATIO_TARGETS:
        numerator, denominator = keys.get(t.top), keys.get(t.bottom)
        if t.scenario != NAME or numerator not in lat or denominator not in lat:
            continue
        value = paired(lat[numerator], lat[denominator])["median"]
        verdict = {"ratio": value, "bound": t.shown, "met": t.met_when(value, t.bound)}
        out.append({"numerator": numerator, "denominator": denominator, **verdict})
    return out


def redis_bytes_per_row() -> dict[str, float]:
    """What a cached row costs in Redis (``MEMORY USAGE`` of its entry and its token; the
    table's generation is one key shared by every row), the entry's own length, and the pickle
    of the same row as an instance (what a pickling cache would store)."""
    import pickle

    from django.core.cache import caches
    from django_redis import get_redis_connection

    from cachefresh.keys import RowKeys
    from cachefresh.registry import registry
    from tests.testapp.models import Article

    client, make_key = get_redis_connection("default"), caches["default"].make_key
    tag = registry.plan(Article).table_tag("default")
    rows = list(Article.objects.all())
    used, lengths = 0, 0
    for row in rows:
        keys = RowKeys(tag, row.pk)
        for key in (keys.entry, keys.token):
            used += client.memory_usage(make_key(key), samples=0) or 0
        lengths += len(client.get(make_key(keys.entry)) or b"")
    pickled = sum(len(pickle.dumps(row, pickle.HIGHEST_PROTOCOL)) for row in rows)
    return {
        "redis_bytes_per_row": used / len(rows),
        "entry_bytes_per_row": lengths / len(rows),
        "pickled_bytes_per_row": pickled / len(rows),
    }


def memory_per_row() -> float:
    from cachefresh import cached_get, near
    from tests.testapp.models import Article

    cache = near.current()
    assert cache is not None
    pks = list(Article.objects.values_list("pk", flat=True))
    for pk in pks:
        cached_get(Article, pk)  # in Redis
    for link in cache.tier.links:
        cache.tier.flush(link, until=link.until)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for pk in pks:
        cached_get(Article, pk)  # a Redis hit fills the tier
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    held = len(cache.tier)
    return (after - before) / max(held, 1)
