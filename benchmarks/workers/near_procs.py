"""The near cache's measurements across processes (:mod:`benchmarks.scenarios.near`).

* :func:`throughput`: ``cached_get`` hits per second of 1 or more spawned processes together,
  each with its cache warm, near cache on or off;
* :func:`delays`: how long after a committed write in this process another process's
  ``cached_get`` returns the new value (the near cache's invalidation push), once per write.

Every process is configured by :func:`benchmarks.env.nearenv.setup_django`.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import time
from typing import Any

from benchmarks.env.nearenv import ready_near, setup_django, warm

# --- throughput -------------------------------------------------------------------------------


def _throughput_worker(near_on: bool, seconds: float, start: Any, out: Any) -> None:
    setup_django(near_on)
    from cachefresh import cached_get
    from tests.testapp.models import Article

    pks = list(Article.objects.values_list("pk", flat=True))
    ready_near()
    warm(pks)
    start.wait()
    rng = random.Random(os.getpid())
    count = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        for pk in rng.sample(pks, 50):
            cached_get(Article, pk)
        count += 50
    out.put(count / seconds)


def throughput(processes: int, near_on: bool, seconds: float, settle: float = 3.0) -> float:
    """Hits per second of ``processes`` processes together over ``seconds``; each starts its
    window ``settle`` seconds after it was spawned (Django set up, caches warm)."""
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    workers = [
        ctx.Process(target=_throughput_worker, args=(near_on, seconds, start, out))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    time.sleep(settle)
    start.set()
    total = sum(out.get(timeout=60) for _ in workers)
    for worker in workers:
        worker.join(10)
    return float(total)


# --- cross-process delay ----------------------------------------------------------------------


def _delay_reader(conn: Any) -> None:
    setup_django(True)
    from cachefresh import cached_get
    from tests.testapp.models import Article

    pk = conn.recv()
    ready_near()
    while True:
        expected = conn.recv()
        if expected is None:
            return
        cached_get(Article, pk)
        cached_get(Article, pk)
        conn.send("ready")
        deadline = time.monotonic() + 5
        while cached_get(Article, pk).views != expected and time.monotonic() < deadline:
            pass
        conn.send(time.monotonic())


def delays(rounds: int) -> list[float]:
    from tests.testapp.models import Article

    pk = Article.objects.order_by("pk").values_list("pk", flat=True)[0]
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    child = ctx.Process(target=_delay_reader, args=(theirs,))
    child.start()
    seen = []
    ours.send(pk)
    for views in range(1, rounds + 1):
        ours.send(views)
        ours.recv()
        time.sleep(0.005)
        Article.objects.filter(pk=pk).update(views=views)
        committed = time.monotonic()
        seen.append(ours.recv() - committed)
    ours.send(None)
    child.join(10)
    return seen
