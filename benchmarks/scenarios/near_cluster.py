"""The near cache on Redis Cluster against one Redis, in a process of its own.

``python -m benchmarks -s near_cluster`` (not in the default set: it starts Redis servers of its
own on free loopback ports, a 3-primary Redis Cluster, ``redis-server --cluster-enabled yes``,
and one plain ``redis-server`` with the same options, so that neither side shares a server
with anything else; all stopped, their processes ended by PID, at the end). Like the near
scenario it creates a PostgreSQL database of its own (dropped at the end) and uses the test
app's ``Article`` model, 200 rows. It measures:

* the latency of a near hit and of a Redis-tier hit (the near cache switched off for that
  loop), each on the cluster and on the private one Redis: two side processes
  (:mod:`benchmarks.workers.near_sides`), every variant in every one of many short rounds, in
  shuffled order, on the round's one sample of pks; ratios are medians of per-round ratios;
* ``cached_get`` hit throughput with 1, 2 and 4 processes, near cache on and off, on the
  cluster and on the one Redis;
* the delay until a write in one process is seen by another on the cluster (median, p99).
"""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass
from typing import Any

from benchmarks.env.nearenv import scratch_database, seed
from benchmarks.harness import stats
from benchmarks.harness.child import Job
from benchmarks.harness.results import Results
from benchmarks.harness.stats import paired, summarize_seconds
from benchmarks.harness.timing import interleave
from benchmarks.workers.near_procs import delays, throughput
from benchmarks.workers.near_sides import Side

NAME = "near_cluster"
GROUP = "hit latency, 3-primary cluster against one Redis"
ROWS = 200
#: (side, variant) -> label
LABELS = {
    ("single", "near"): "near hit, one Redis",
    ("cluster", "near"): "near hit, cluster",
    ("single", "redis"): "Redis-tier hit, one Redis",
    ("cluster", "redis"): "Redis-tier hit, cluster",
}
BACKENDS = {"single": "one Redis", "cluster": "3-primary cluster"}


@dataclass(frozen=True)
class Sizes:
    rounds: int
    calls: int
    processes: tuple[int, ...]
    window_s: float
    settle_s: float
    #: Throughput windows per (backend, near on/off) and process count, shuffled together.
    repeats: int
    writes: int


SIZES = {
    "tiny": Sizes(
        rounds=3, calls=20, processes=(1, 2), window_s=0.2, settle_s=1.5, repeats=1, writes=5
    ),
    "quick": Sizes(40, 200, (1, 2, 4), window_s=2.0, settle_s=3.0, repeats=3, writes=60),
    "full": Sizes(100, 200, (1, 2, 4), window_s=2.0, settle_s=3.0, repeats=5, writes=200),
}


def measure(job: Job, results: Results) -> None:
    from tests.support.redis_servers import RedisCluster, RedisServer

    cluster, single = RedisCluster(), RedisServer()
    with scratch_database():
        try:
            single.start()
            cluster.start()
            # This process and its children: the private Redis is "the run's Redis", and the
            # cluster is their cache until told otherwise (_on).
            os.environ["CACHEFRESH_REDIS_URL"] = single.url
            os.environ["NB_CLUSTER"] = cluster.url
            _measure(job, results, job.sizes(SIZES), cluster.url)
        finally:
            cluster.stop()
            single.stop()


def _measure(job: Job, results: Results, sizes: Sizes, cluster_url: str) -> None:
    seed(ROWS)
    sides = {"single": Side("single", None), "cluster": Side("cluster", cluster_url)}
    try:
        for side in sides.values():
            side.ready()
        lat = latency(sizes, sides, job.rng(NAME, "latency"))
    finally:
        for side in sides.values():
            side.close()
    _record_latency(job, results, lat, sizes.calls)
    for count in sizes.processes:
        _throughput(job, results, sizes, count, cluster_url)
    _on("cluster", cluster_url)
    seen = stats.delays(delays(sizes.writes))
    group = "from a commit to another process seeing it, 3-primary cluster (loopback)"
    results.fact(NAME, job.backend, "near delay", group=group, variant="near cache", **seen)


def _throughput(job: Job, results: Results, sizes: Sizes, count: int, cluster_url: str) -> None:
    """Hits per second of ``count`` processes on each backend, near cache on and off: windows
    in an order shuffled each repeat, so a busy moment of the machine does not fall on one
    variant; each variant's median, and the cluster's per-repeat ratio to one Redis."""
    rng = job.rng(NAME, "throughput", count)
    variants = [(key, on) for key in BACKENDS for on in (False, True)]
    found = interleave(
        {
            (key, on): lambda key=key, on=on: _window(key, on, count, sizes, cluster_url)
            for key, on in variants
        },
        sizes.repeats,
        rng,
    )
    for key, backend in BACKENDS.items():
        rates = {
            f"near_{'on' if on else 'off'}": statistics.median(found[key, on])
            for on in (False, True)
        }
        windows = {f"near_{'on' if on else 'off'}_windows": found[key, on] for on in (False, True)}
        results.fact(
            NAME, job.backend, "near throughput", processes=count, on=backend,
            window_s=sizes.window_s, **rates, **windows,
        )  # fmt: skip
    for on in (False, True):
        ratios = [c / s for c, s in zip(found["cluster", on], found["single", on], strict=True)]
        results.fact(
            NAME, job.backend, "near throughput, cluster / one Redis", processes=count,
            near="on" if on else "off", **stats.spread(ratios),
        )  # fmt: skip


def _window(key: str, on: bool, count: int, sizes: Sizes, cluster_url: str) -> float:
    _on(key, cluster_url)
    return throughput(count, on, sizes.window_s, sizes.settle_s)


def _on(key: str, cluster_url: str) -> None:
    """Spawned workers from now on use the cluster, or the one Redis."""
    if key == "cluster":
        os.environ["NB_CLUSTER"] = cluster_url
    else:
        os.environ.pop("NB_CLUSTER", None)


def latency(sizes: Sizes, sides: dict[str, Side], rng: Any) -> dict[tuple[str, str], list[float]]:
    """Seconds per call, per round, of each (side, variant), in shuffled order each round."""
    from tests.testapp.models import Article

    pks = list(Article.objects.values_list("pk", flat=True))
    sample: list[int] = []

    def draw() -> None:
        sample[:] = [rng.choice(pks) for _ in range(sizes.calls)]

    calls = {
        (side, variant): (lambda s=side, v=variant: sides[s].time(v, sample))
        for side, variant in LABELS
    }
    return interleave(calls, sizes.rounds, rng, before=draw)


def _record_latency(
    job: Job, results: Results, lat: dict[tuple[str, str], list[float]], calls: int
) -> None:
    summaries = summarize_seconds({LABELS[key]: seconds for key, seconds in lat.items()}, calls)
    for key in lat:
        results.measured(NAME, job.backend, GROUP, {LABELS[key]: summaries[LABELS[key]]})
    for variant in ("near", "redis"):
        top, bottom = ("cluster", variant), ("single", variant)
        ratio = paired(lat[top], lat[bottom])
        results.ratio(NAME, job.backend, GROUP, LABELS[top], LABELS[bottom], ratio)
    for side in ("single", "cluster"):
        top, bottom = (side, "redis"), (side, "near")
        ratio = paired(lat[top], lat[bottom])
        results.ratio(NAME, job.backend, GROUP, LABELS[top], LABELS[bottom], ratio)
