"""One side of the near cache's cluster comparison (:mod:`benchmarks.scenarios.near_cluster`).

A side is a spawned process whose cache is either the run's one Redis or the private Redis
Cluster (the node URL it is given), configured by :func:`benchmarks.env.nearenv.setup_django`
on the run's database and ``Article`` table. It warms both tiers, checks that its hits run no
query, then serves rounds in lockstep with the main process, as the near scenario's peers do:
the main process sends ``(variant, sample of pks)``, the side times its own loop of
``cached_get`` on them (``"near"``: the near cache on; ``"redis"``: switched off for that loop,
so every call is a Redis-tier hit) and replies with seconds per call.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any

READY_TIMEOUT_S = 120


def _start(cluster: str | None) -> Any:
    """Django on this side's cache, both tiers warm; its timing function."""
    if cluster is None:
        os.environ.pop("NB_CLUSTER", None)
    else:
        os.environ["NB_CLUSTER"] = cluster
    from benchmarks.env.nearenv import ready_near, setup_django, warm

    setup_django(True)
    from benchmarks.harness.context import cycle
    from benchmarks.workers.peer import queries_per_hit
    from cachefresh import cached_get, near
    from tests.testapp.models import Article

    pks = list(Article.objects.order_by("pk").values_list("pk", flat=True))
    ready_near()
    warm(pks)
    cache = near.current()

    def timed(variant: str, sample: list[int]) -> float:
        if variant == "redis":
            near._near = None  # the Redis tier alone, for this loop
        try:
            started = time.perf_counter()
            for pk in sample:
                cached_get(Article, pk)
            return (time.perf_counter() - started) / len(sample)
        finally:
            near._near = cache

    nxt = cycle(pks)
    for variant in ("near", "redis"):
        queries = queries_per_hit(lambda v=variant: timed(v, [nxt()]), "default", len(pks))
        if queries:
            raise RuntimeError(f"{variant} hits ran {queries} queries per call: not hits")
    return timed


def serve(cluster: str | None, conn: Connection) -> None:
    """The side's process: hello, then one timed loop per request until ``None``."""
    try:
        timed = _start(cluster)
    except Exception:
        conn.send({"error": traceback.format_exc()})
        return
    conn.send({})
    while (ask := conn.recv()) is not None:
        variant, sample = ask
        conn.send(timed(variant, sample))


class Side:
    """The main process's end of one side's process."""

    def __init__(self, name: str, cluster: str | None) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.name = name
        self.conn, theirs = ctx.Pipe()
        self.process = ctx.Process(target=serve, args=(cluster, theirs), name=f"side-{name}")
        self.process.start()
        theirs.close()

    def ready(self) -> None:
        if not self.conn.poll(READY_TIMEOUT_S):
            raise RuntimeError(f"side {self.name} did not come up in {READY_TIMEOUT_S} s")
        hello = self.conn.recv()
        if "error" in hello:
            raise RuntimeError(f"side {self.name} failed to start:\n{hello['error']}")

    def time(self, variant: str, sample: list[int]) -> float:
        """Seconds per ``cached_get`` of ``variant`` over ``sample``, timed in the side."""
        self.conn.send((variant, sample))
        return float(self.conn.recv())

    def close(self) -> None:
        if self.process.is_alive():
            with contextlib.suppress(OSError):
                self.conn.send(None)
        self.process.join(10)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)
        self.conn.close()
