"""A peer library's hits (django-cacheops, django-cachalot) in the near cache's latency rounds.

Each peer patches the ORM for its whole process, so each runs in a spawned process of its own,
configured by :func:`benchmarks.env.nearenv.setup_django` on the same database, the same
``Article`` table and the same Redis as the main process (under the run's prefix). It warms its
cache and counts the queries its hits run (they must run none), then serves rounds in
lockstep with the main process: the main process sends a round's sample of primary keys over a
Pipe, the peer times its own loop of hits on them and replies with seconds per call, so no IPC
falls inside the timed region.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import time
import traceback
from importlib import metadata
from multiprocessing.connection import Connection
from typing import Any

PEERS = ("cacheops", "cachalot")
PACKAGES = {"cacheops": "django-cacheops", "cachalot": "django-cachalot"}
READY_TIMEOUT_S = 120


def _start(peer: str) -> tuple[Any, dict[str, Any]]:
    """Django with ``peer`` set up, its cache warm; its read of a row and its hello."""
    from benchmarks.env.nearenv import setup_django

    setup_django(near=False, peer=peer)
    from benchmarks.harness.context import cycle
    from benchmarks.workers.libraries import cached_reader
    from benchmarks.workers.peer import queries_per_hit
    from tests.testapp.models import Article

    read = cached_reader(peer, Article)
    pks = list(Article.objects.order_by("pk").values_list("pk", flat=True))
    for _ in range(2):
        for pk in pks:
            read(pk)  # the first read of each row fills the peer's cache
    nxt = cycle(pks)
    queries = queries_per_hit(lambda: read(nxt()), "default", len(pks))
    return read, {"version": metadata.version(PACKAGES[peer]), "queries_per_hit": queries}


def serve(peer: str, conn: Connection) -> None:
    """The peer process: hello, then one timed loop per sample until ``None``."""
    try:
        read, hello = _start(peer)
    except Exception:
        conn.send({"error": traceback.format_exc()})
        return
    conn.send(hello)
    while (sample := conn.recv()) is not None:
        started = time.perf_counter()
        for pk in sample:
            read(pk)
        conn.send((time.perf_counter() - started) / len(sample))


class Peer:
    """The main process's end of one peer process."""

    def __init__(self, peer: str) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.name = peer
        self.conn, theirs = ctx.Pipe()
        self.process = ctx.Process(target=serve, args=(peer, theirs), name=f"near-{peer}")
        self.process.start()
        theirs.close()
        self.version = ""

    def ready(self) -> None:
        """Wait for the peer's hello; fail loudly unless its hits ran no queries."""
        if not self.conn.poll(READY_TIMEOUT_S):
            raise RuntimeError(f"{self.name} did not come up in {READY_TIMEOUT_S} s")
        hello = self.conn.recv()
        if "error" in hello:
            raise RuntimeError(f"{self.name} failed to start:\n{hello['error']}")
        if hello["queries_per_hit"] != 0:
            raise RuntimeError(
                f"{self.name}: {hello['queries_per_hit']} queries per hit after warming: "
                "its calls are not cache hits, so their times would not be a hit's"
            )
        self.version = hello["version"]

    def time(self, sample: list[int]) -> float:
        """Seconds per hit of the peer's own loop over ``sample``."""
        self.conn.send(sample)
        return float(self.conn.recv())

    def close(self) -> None:
        if self.process.is_alive():
            with contextlib.suppress(OSError):  # it stopped between the check and now
                self.conn.send(None)
        self.process.join(10)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)
        self.conn.close()
