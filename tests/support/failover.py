"""A failover during the storm: worker processes write and read through a Sentinel-found primary,
the primary is killed (SIGKILL) as writes stop, Sentinel promotes its replica, and a process that
took no part reads every row through the cache once the promoted replica serves.

A retirement the dead primary acknowledged but never replicated is lost: the promoted replica
still holds the row's old token and old entry, and serves them as a hit. The checker counts
those rows. Each worker writes only its own rows, so it also checks read-your-writes throughout,
the failover included. The workers stay alive until the check is done: their outboxes still
hold what the failover interrupted, and deliver it to the promoted replica.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import random
import time
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings

from tests.support.redis_servers import RedisCluster, RedisServer, cache_entry, child_setup


class Failing(Protocol):
    """A private Redis whose primary can crash and be replaced by its replica: a Sentinel
    setup, or a cluster whose primaries have replicas."""

    def cache_entry(self, timeout: float = 0.2) -> dict[str, Any]: ...

    def crash_primary(self) -> None: ...

    def wait_promoted(self, deadline: float = 20.0) -> None: ...


#: Writes stop, the primary dies: the cache must be fresh this long after (or, when the
#: promotion itself took longer, this long after the write stopped and the replica answered).
QUIET = 2.5
ROWS = 60
#: Seconds of writes and reads before the crash.
STORM = 1.0
WORKERS = 3


class ClusterFailing:
    """A private cluster whose primaries have replicas, as :func:`run_failover` crashes it."""

    def __init__(self, cluster: RedisCluster) -> None:
        self.cluster = cluster
        self.successor: RedisServer | None = None

    def cache_entry(self, timeout: float = 0.2) -> dict[str, Any]:
        client = "cachefresh.store.cluster.RedisClusterClient"
        return cache_entry(self.cluster.url, timeout, CLIENT_CLASS=client)

    def crash_primary(self) -> None:
        """SIGKILL a primary (not the one ``url`` names): its replica takes over its slots."""
        nodes = self.cluster.nodes
        crashed = next(node for node in nodes[1:] if _replication(node)["role"] == "master")
        self.successor = next(
            node for node in nodes if _replication(node).get("master_port") == crashed.port
        )
        crashed.kill()

    def wait_promoted(self, deadline: float = 20.0) -> None:
        successor, end = self.successor, time.monotonic() + deadline
        assert successor is not None
        while _replication(successor)["role"] != "master" or not self.cluster.ready():
            if time.monotonic() > end:
                raise RuntimeError("no replica took over the crashed primary's slots")
            time.sleep(0.05)


def _replication(node: RedisServer) -> dict[str, Any]:
    with contextlib.closing(node.client()) as probe:
        return dict(probe.info("replication"))


@dataclass
class Failover:
    stale: list[int]
    checker_hits: int
    reports: list[dict[str, Any]]
    #: Seconds from the kill to the promotion, and to the check.
    promoted_after: float
    checked_after: float


def worker(
    caches: dict, cachefresh: dict, index: int, pks: list[int], events: Any, out: Any
) -> None:
    """Write own rows (each write followed by a cached read of it), read samples of all rows;
    once told to, read every row again, as the checker does: with the near cache on, what
    this process held from before the failover is what is checked."""
    child_setup(caches, cachefresh)
    from cachefresh import cached_get, cached_get_many
    from tests.testapp.models import Article

    stop, go, done = events
    rng = random.Random(index)
    own = pks[index::WORKERS]
    written = dict(Article.objects.filter(pk__in=own).values_list("pk", "views"))
    report: dict[str, Any] = {
        "index": index,
        "writes": 0,
        "reads": 0,
        "errors": [],
        "stale_own": [],
    }
    out.put(("ready", index))
    while not stop.is_set():
        pk = rng.choice(own)
        try:
            written[pk] += 1
            Article.objects.filter(pk=pk).update(views=written[pk])
            report["writes"] += 1
            if cached_get(Article, pk).views != written[pk]:
                report["stale_own"].append(pk)
            cached_get_many(Article, rng.sample(pks, 10))
            report["reads"] += 11
        except Exception as exc:
            report["errors"].append(f"{type(exc).__name__}: {exc}")
    out.put(("stopped", report))
    go.wait(60)
    truth = dict(Article.objects.values_list("pk", "views"))
    seen = {pk: row.views for pk, row in cached_get_many(Article, pks).items()}
    seen_again = {pk: row.views for pk, row in cached_get_many(Article, pks).items()}
    stale = [pk for pk in pks if seen.get(pk) != truth[pk] or seen_again.get(pk) != truth[pk]]
    out.put(("checked", (stale, 0)))
    done.wait(60)  # alive until checked: the outbox holds what the failover interrupted


def checker(caches: dict, cachefresh: dict, pks: list[int], go: Any, out: Any) -> None:
    """Read every row through the cache once told to, and compare with the database."""
    child_setup(caches, cachefresh)
    from cachefresh import cached_get_many, stats
    from tests.testapp.models import Article

    out.put(("ready", "checker"))
    go.wait(60)
    truth = dict(Article.objects.values_list("pk", "views"))
    seen = {pk: row.views for pk, row in cached_get_many(Article, pks).items()}
    hits = stats.snapshot().get("testapp.Article", {}).get("hit", 0)
    out.put(("checked", ([pk for pk in pks if seen.get(pk) != truth[pk]], hits)))


def run_failover(
    setup: Failing, pks: list[int], wait_for_replicas: int, near: bool = False
) -> Failover:
    """The storm on ``setup`` for STORM seconds, then the kill and the check (in every
    process: with ``near``, the workers hold rows near from before the failover)."""
    caches = {**settings.CACHES, "failing": setup.cache_entry(timeout=0.5)}
    cachefresh = {
        **settings.CACHEFRESH,
        "CACHE": "failing",
        "KEY_PREFIX": f"t{uuid.uuid4().hex[:12]}",
        "RETRY_INTERVAL": 0.2,
        "WAIT_FOR_REPLICAS": wait_for_replicas,
        "NEAR_CACHE": {"MAX_LAG": 0.3} if near else False,
    }
    ctx = multiprocessing.get_context("spawn")
    stop, done, go, out = ctx.Event(), ctx.Event(), ctx.Event(), ctx.Queue()
    processes = [
        ctx.Process(target=worker, args=(caches, cachefresh, i, pks, (stop, go, done), out))
        for i in range(WORKERS)
    ]
    processes.append(ctx.Process(target=checker, args=(caches, cachefresh, pks, go, out)))
    for process in processes:
        process.daemon = True
        process.start()
    try:
        for _ in processes:
            assert out.get(timeout=60)[0] == "ready"
        time.sleep(STORM)
        killed = time.monotonic()
        setup.crash_primary()
        stop.set()
        reports = [out.get(timeout=30)[1] for _ in range(WORKERS)]
        setup.wait_promoted()
        promoted = time.monotonic()
        time.sleep(max(killed + QUIET - promoted, 0.5))
        checked = time.monotonic()
        go.set()
        stale, hits = set(), 0
        for _ in range(WORKERS + 1):
            kind, (stale_seen, hits_seen) = out.get(timeout=30)
            assert kind == "checked"
            stale.update(stale_seen)
            hits = max(hits, hits_seen)
    finally:
        stop.set()
        go.set()
        done.set()
        for process in processes:
            process.join(10)
            if process.is_alive():
                process.kill()
    return Failover(sorted(stale), hits, reports, promoted - killed, checked - killed)
