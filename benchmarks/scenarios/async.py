"""Native async hits (issue 22), on PostgreSQL + Redis, in a process of its own.

It creates a PostgreSQL database of its own on the run's server (dropped at the end), uses the
test app's ``Article`` model (200 rows) and a fresh key prefix on the run's Redis (every key
with it is deleted at the end), the near cache off: every hit is a Redis-tier hit. It measures:

* **1,000 concurrent hits** with ``asyncio.gather``: ``acached_get`` (the event loop, through
  ``redis.asyncio``), today's path before it (``sync_to_async(cached_get)``: a thread hop per
  call), and the sync hit (``cached_get`` in a loop) as the yardstick, each once in every
  round, in shuffled order, on the round's one sample of pks; ratios are medians of per-round
  ratios. The same hits awaited one at a time give the latency of one async hit. The loop's
  executor is counted: how many calls of each went to a thread;
* **the same by a unique field**: ``acached_get(Publisher, code=…)`` on the event loop (the
  pk this process last found holding the value, then the row), against
  ``sync_to_async(cached_get)`` and the sync lookup, on 200 publishers, warm;
* **an ASGI app** (:mod:`benchmarks.parts.asgi`) under uvicorn (one worker, its own process)
  serving hits over loopback to a bounded client (a fixed number of keep-alive connections,
  one request in flight on each): a Django async view answering with ``acached_get`` against
  the same view with ``sync_to_async(cached_get)``, and the same two reads in a bare ASGI
  callable in front of Django (no handler, no request signals, whose own thread hops dilute
  the difference), in interleaved rounds; requests per second and latency median and p99.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from benchmarks.env.backends import delete_prefixed, env_pg, env_redis_url
from benchmarks.env.nearenv import DB_NAME, PREFIX, setup_django, warm
from benchmarks.harness.child import Job
from benchmarks.harness.results import Results
from benchmarks.harness.stats import paired, percentile, summarize_seconds
from benchmarks.harness.timing import interleave
from benchmarks.parts import asgi

NAME = "async"
GROUP = "1,000 concurrent hits"
BY_CODE = "1,000 concurrent hits by a unique field"
HTTP = "ASGI hits over loopback"
ROWS = 200
LABELS = {
    "sync": "sync hit (cached_get)",
    "native": "acached_get (event loop)",
    "thread": "sync_to_async(cached_get) (before)",
    "one_by_one": "acached_get, one at a time",
}
#: The ratios recorded: each variant against the sync hit, and the thread hop against native.
COMPARED = (("native", "sync"), ("thread", "sync"), ("one_by_one", "sync"), ("thread", "native"))
#: The same, by a unique field (``code=…``).
CODE_LABELS = {
    "sync": "sync hit (cached_get(code=…))",
    "native": "acached_get(code=…) (event loop)",
    "thread": "sync_to_async(cached_get)(code=…) (before)",
}
#: The HTTP variants' labels.
HTTP_LABELS = {
    "native": "Django view, acached_get",
    "thread": "Django view, sync_to_async(cached_get) (before)",
    "bare_native": "bare ASGI, acached_get",
    "bare_thread": "bare ASGI, sync_to_async(cached_get) (before)",
}


@dataclass(frozen=True)
class Sizes:
    rounds: int
    #: Hits gathered at once per variant and round.
    concurrent: int
    http_rounds: int
    #: Requests per variant and HTTP round, and how many the client keeps in flight.
    requests: int
    in_flight: int


SIZES = {
    "tiny": Sizes(rounds=3, concurrent=100, http_rounds=2, requests=100, in_flight=8),
    "quick": Sizes(40, 1000, 10, 500, 16),
    "full": Sizes(80, 1000, 20, 1000, 16),
}


def measure(job: Job, results: Results) -> None:
    import psycopg

    with psycopg.connect(dbname="postgres", autocommit=True, **env_pg()) as admin:
        admin.execute(f'CREATE DATABASE "{DB_NAME}"')
    os.environ["NB_DB"], os.environ["NB_PREFIX"] = DB_NAME, PREFIX  # for the server process
    try:
        _measure(job, results, job.sizes(SIZES))
    finally:
        from django.conf import settings
        from django.db import connections

        from cachefresh import stats as counters

        connections.close_all()
        # Now, not at exit: cachefresh may have been imported before any exit hook of ours
        # (then its flush at exit would run after our delete), and its counters are our keys.
        if settings.configured:
            counters.flush()
        delete_prefixed(env_redis_url(), f"*{PREFIX}*")
        with psycopg.connect(dbname="postgres", autocommit=True, **env_pg()) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


def _measure(job: Job, results: Results, sizes: Sizes) -> None:
    setup_django(False)
    from django.db import connection

    from cachefresh import cached_get
    from tests.testapp.models import Article, Author, Publisher

    with connection.schema_editor() as editor:
        editor.create_model(Author)
        editor.create_model(Article)
        editor.create_model(Publisher)
    Article.objects.bulk_create(Article(title=f"row {i}", body="x" * 200) for i in range(ROWS))
    pks = list(Article.objects.values_list("pk", flat=True))
    warm(pks)
    rounds, executor = concurrent_hits(sizes, pks, job.rng(NAME, "gather"))
    _record(job, results, sizes, GROUP, LABELS, COMPARED, rounds, executor)
    Publisher.objects.bulk_create(Publisher(code=f"p{i}") for i in range(ROWS))
    codes = [f"p{i}" for i in range(ROWS)]
    for code in codes * 2:
        cached_get(Publisher, code=code)
    rounds, executor = hits_by_code(sizes, codes, job.rng(NAME, "code"))
    compared = [pair for pair in COMPARED if "one_by_one" not in pair]
    _record(job, results, sizes, BY_CODE, CODE_LABELS, compared, rounds, executor)
    _served(job, results, sizes, pks)


def _record(
    job: Job,
    results: Results,
    sizes: Sizes,
    group: str,
    labels: dict[str, str],
    compared: Any,
    rounds: dict[str, list[float]],
    executor: dict[str, int],
) -> None:
    summaries = summarize_seconds({labels[k]: v for k, v in rounds.items()}, sizes.concurrent)
    results.measured(NAME, job.backend, group, summaries)
    for numerator, denominator in compared:
        ratio = paired(rounds[numerator], rounds[denominator])
        results.ratio(NAME, job.backend, group, labels[numerator], labels[denominator], ratio)
    per_hits = {
        labels[k]: calls / (sizes.concurrent * sizes.rounds)
        for k, calls in executor.items()
        if k in labels
    }
    results.fact(NAME, job.backend, "thread hops per hit", group=group, **per_hits)


class _Loop:
    """The event loop the variants run on, the round's sample, and how many calls each variant
    sent to the loop's executor (a thread)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.sample: list[Any] = []
        self.hops = dict.fromkeys(LABELS, 0)
        self.running = "sync"
        to_thread = self.loop.run_in_executor

        def counted(*args: Any) -> Any:
            self.hops[self.running] += 1
            return to_thread(*args)

        self.loop.run_in_executor = counted  # type: ignore[method-assign]

    def gathered(
        self, name: str, read: Callable[[Any], Any], key: str = "pk"
    ) -> Callable[[], float]:
        """Seconds per hit of the sample (of ``key`` values) read all at once."""

        async def all_at_once() -> list[Any]:
            return await asyncio.gather(*(read(pk) for pk in self.sample))

        def run() -> float:
            self.running = name
            started = time.perf_counter()
            got = self.loop.run_until_complete(all_at_once())
            elapsed = time.perf_counter() - started
            if [getattr(a, key) for a in got] != self.sample:
                raise RuntimeError(f"{name}: wrong rows")
            return elapsed / len(self.sample)

        return run

    def one_by_one(self, read: Callable[[int], Any]) -> Callable[[], float]:
        """Seconds per hit of the sample read one await at a time."""

        async def each() -> None:
            for pk in self.sample:
                await read(pk)

        def run() -> float:
            self.running = "one_by_one"
            started = time.perf_counter()
            self.loop.run_until_complete(each())
            return (time.perf_counter() - started) / len(self.sample)

        return run

    def sync(self, read: Callable[[Any], Any]) -> Callable[[], float]:
        def run() -> float:
            started = time.perf_counter()
            for pk in self.sample:
                read(pk)
            return (time.perf_counter() - started) / len(self.sample)

        return run


def concurrent_hits(
    sizes: Sizes, pks: list[int], rng: Any
) -> tuple[dict[str, list[float]], dict[str, int]]:
    """Seconds per hit, per round, of each variant; and how many calls each sent to a thread."""
    from asgiref.sync import sync_to_async

    from cachefresh import acached_get, cached_get
    from tests.testapp.models import Article

    on = _Loop()
    variants = {
        "sync": on.sync(lambda pk: cached_get(Article, pk)),
        "native": on.gathered("native", lambda pk: acached_get(Article, pk)),
        "thread": on.gathered("thread", lambda pk: sync_to_async(cached_get)(Article, pk)),
        "one_by_one": on.one_by_one(lambda pk: acached_get(Article, pk)),
    }

    return _interleaved(on, variants, sizes, pks, rng)


def hits_by_code(
    sizes: Sizes, codes: list[str], rng: Any
) -> tuple[dict[str, list[float]], dict[str, int]]:
    """:func:`concurrent_hits` of publishers by their unique ``code``."""
    from asgiref.sync import sync_to_async

    from cachefresh import acached_get, cached_get
    from tests.testapp.models import Publisher

    on = _Loop()
    variants = {
        "sync": on.sync(lambda code: cached_get(Publisher, code=code)),
        "native": on.gathered("native", lambda code: acached_get(Publisher, code=code), "code"),
        "thread": on.gathered(
            "thread", lambda code: sync_to_async(cached_get)(Publisher, code=code), "code"
        ),
    }
    return _interleaved(on, variants, sizes, codes, rng)


def _interleaved(
    on: _Loop,
    variants: dict[str, Callable[[], float]],
    sizes: Sizes,
    population: list[Any],
    rng: Any,
) -> tuple[dict[str, list[float]], dict[str, int]]:
    def draw() -> None:
        on.sample[:] = [rng.choice(population) for _ in range(sizes.concurrent)]

    draw()
    for run in variants.values():  # warm: the loop's connections, the executor's thread
        run()
    on.hops.update(dict.fromkeys(on.hops, 0))  # the warm-up's calls are not counted
    try:
        return interleave(variants, sizes.rounds, rng, before=draw), on.hops
    finally:
        on.loop.close()


def _served(job: Job, results: Results, sizes: Sizes, pks: list[int]) -> None:
    import importlib.util

    import uvicorn

    port = asgi.free_port()
    context = multiprocessing.get_context("spawn")
    server = context.Process(target=asgi.serve, args=(port,), daemon=True)
    server.start()
    try:
        sized = (sizes.http_rounds, sizes.requests, sizes.in_flight)
        rounds = asyncio.run(asgi.load(port, *sized, pks, job.rng(NAME, "http")))
    finally:
        server.terminate()
        server.join(10)
    speedups = {name: bool(importlib.util.find_spec(name)) for name in ("uvloop", "httptools")}
    for name, measured in rounds.items():
        latencies = [s for round_ in measured["latencies"] for s in round_]
        results.fact(
            NAME, job.backend, HTTP, variant=HTTP_LABELS[name],
            requests_per_s=statistics.median(measured["rates"]), rates=measured["rates"],
            median_s=statistics.median(latencies), p99_s=percentile(latencies, 0.99),
            requests=len(latencies), in_flight=sizes.in_flight, workers=1,
            uvicorn=uvicorn.__version__, **speedups,
        )  # fmt: skip
    for native, before in (("native", "thread"), ("bare_native", "bare_thread")):
        ratio = paired(rounds[native]["rates"], rounds[before]["rates"])
        top, bottom = (f"requests/s, {HTTP_LABELS[name]}" for name in (native, before))
        results.ratio(NAME, job.backend, HTTP, top, bottom, ratio)
