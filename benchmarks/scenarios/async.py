"""Native async hits (issue 22), on PostgreSQL + Redis, in a process of its own.

It creates a PostgreSQL database of its own on the run's server (dropped at the end), uses the
test app's ``Article`` model (200 rows) and a fresh key prefix on the run's Redis (every key
with it is deleted at the end), the near cache off: every hit is a Redis-tier hit. It measures:

* **1,000 concurrent hits** with ``asyncio.gather``: ``acached_get`` (the event loop, through
  ``redis.asyncio``), today's path before it (``sync_to_async(cached_get)``: a thread hop per
  call), and the sync hit (``cached_get`` in a loop) as the yardstick, each once in every
  round, in shuffled order, on the round's one sample of pks; ratios are medians of per-round
  ratios. The loop's executor is counted: how many calls of each went to a thread;
* **an ASGI app** under uvicorn (one worker, its own process) serving hits over loopback to a
  bounded client (a fixed number of keep-alive connections, one request in flight on each): a
  Django async view answering with ``acached_get`` against the same view with
  ``sync_to_async(cached_get)``, and the same
  two reads in a bare ASGI callable in front of Django (no handler, no request signals, whose
  own thread hops dilute the difference), in interleaved rounds; requests per second and
  latency median and p99.
"""

from __future__ import annotations

import asyncio
import atexit
import multiprocessing
import os
import socket
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

NAME = "async"
GROUP = "1,000 concurrent hits"
HTTP = "ASGI hits over loopback"
ROWS = 200
LABELS = {
    "sync": "sync hit (cached_get)",
    "native": "acached_get (event loop)",
    "thread": "sync_to_async(cached_get) (before)",
}
#: What the ASGI app serves, by variant: Django's views (its handler, its request signals)
#: and the same reads in a bare ASGI callable in front of it (the hit alone).
ROUTES = {
    "native": "django/native",
    "thread": "django/thread",
    "bare_native": "bare/native",
    "bare_thread": "bare/thread",
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
    atexit.register(delete_prefixed, env_redis_url(), f"*{PREFIX}*")
    try:
        _measure(job, results, job.sizes(SIZES))
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(dbname="postgres", autocommit=True, **env_pg()) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


def _measure(job: Job, results: Results, sizes: Sizes) -> None:
    setup_django(False)
    from django.db import connection

    from tests.testapp.models import Article, Author

    with connection.schema_editor() as editor:
        editor.create_model(Author)
        editor.create_model(Article)
    Article.objects.bulk_create(Article(title=f"row {i}", body="x" * 200) for i in range(ROWS))
    pks = list(Article.objects.values_list("pk", flat=True))
    warm(pks)
    rounds, executor = concurrent_hits(sizes, pks, job.rng(NAME, "gather"))
    summaries = summarize_seconds({LABELS[k]: v for k, v in rounds.items()}, sizes.concurrent)
    results.measured(NAME, job.backend, GROUP, summaries)
    for numerator, denominator in (("native", "sync"), ("thread", "sync"), ("thread", "native")):
        ratio = paired(rounds[numerator], rounds[denominator])
        results.ratio(NAME, job.backend, GROUP, LABELS[numerator], LABELS[denominator], ratio)
    per_hits = {
        LABELS[k]: calls / (sizes.concurrent * sizes.rounds) for k, calls in executor.items()
    }
    results.fact(NAME, job.backend, "thread hops per hit", group=GROUP, **per_hits)
    _served(job, results, sizes, pks)


def concurrent_hits(
    sizes: Sizes, pks: list[int], rng: Any
) -> tuple[dict[str, list[float]], dict[str, int]]:
    """Seconds per hit, per round, of each variant; and how many calls each sent to a thread."""
    from asgiref.sync import sync_to_async

    from cachefresh import acached_get, cached_get
    from tests.testapp.models import Article

    loop = asyncio.new_event_loop()
    executor = {name: 0 for name in LABELS}
    running: list[str] = []
    to_thread = loop.run_in_executor

    def counted(*args: Any) -> Any:
        executor[running[0]] += 1
        return to_thread(*args)

    loop.run_in_executor = counted  # type: ignore[method-assign]
    sample: list[int] = []

    def gathered(name: str, read: Callable[[int], Any]) -> Callable[[], float]:
        async def all_at_once() -> list[Any]:
            return await asyncio.gather(*(read(pk) for pk in sample))

        def run() -> float:
            running[:] = [name]
            started = time.perf_counter()
            got = loop.run_until_complete(all_at_once())
            elapsed = time.perf_counter() - started
            if [a.pk for a in got] != sample:
                raise RuntimeError(f"{name}: wrong rows")
            return elapsed / len(sample)

        return run

    def sync() -> float:
        started = time.perf_counter()
        for pk in sample:
            cached_get(Article, pk)
        return (time.perf_counter() - started) / len(sample)

    def draw() -> None:
        sample[:] = [rng.choice(pks) for _ in range(sizes.concurrent)]

    variants = {
        "sync": sync,
        "native": gathered("native", lambda pk: acached_get(Article, pk)),
        "thread": gathered("thread", lambda pk: sync_to_async(cached_get)(Article, pk)),
    }
    draw()
    for run in variants.values():  # warm: the loop's connections, the executor's thread
        run()
    executor.update(dict.fromkeys(executor, 0))  # the warm-up's calls are not counted
    try:
        return interleave(variants, sizes.rounds, rng, before=draw), executor
    finally:
        loop.close()


# --- the ASGI app --------------------------------------------------------------------------


async def native_view(request: Any, pk: int) -> Any:
    from django.http import HttpResponse

    from cachefresh import acached_get
    from tests.testapp.models import Article

    return _sized(HttpResponse((await acached_get(Article, pk)).title))


async def thread_view(request: Any, pk: int) -> Any:
    from asgiref.sync import sync_to_async
    from django.http import HttpResponse

    from cachefresh import cached_get
    from tests.testapp.models import Article

    return _sized(HttpResponse((await sync_to_async(cached_get)(Article, pk)).title))


def _sized(response: Any) -> Any:
    # As CommonMiddleware would: the client reads bodies by Content-Length, not chunks.
    response["Content-Length"] = str(len(response.content))
    return response


def _urlpatterns() -> list[Any]:
    from django.urls import path

    return [
        path("django/native/<int:pk>", native_view),
        path("django/thread/<int:pk>", thread_view),
    ]


def bare(django_app: Any) -> Any:
    """``/bare/native/<pk>`` and ``/bare/thread/<pk>`` answered by a bare ASGI callable;
    everything else by Django's handler."""
    from asgiref.sync import sync_to_async

    from cachefresh import acached_get, cached_get
    from tests.testapp.models import Article

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        parts = scope["path"].split("/")
        if scope["type"] != "http" or parts[1] != "bare":
            await django_app(scope, receive, send)
            return
        pk = int(parts[3])
        if parts[2] == "native":
            article = await acached_get(Article, pk)
        else:
            article = await sync_to_async(cached_get)(Article, pk)
        body = article.title.encode()
        headers = [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def serve(port: int) -> None:
    """The server process: Django's ASGI handler under uvicorn, one worker."""
    import sys

    import uvicorn

    setup_django(False)
    from django.conf import settings
    from django.core.asgi import get_asgi_application

    module = sys.modules[__name__]
    module.urlpatterns = _urlpatterns()  # type: ignore[attr-defined]
    settings.ROOT_URLCONF = __name__
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    uvicorn.run(bare(get_asgi_application()), host="127.0.0.1", port=port, workers=1,
                log_level="warning", access_log=False, lifespan="off")  # fmt: skip


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _served(job: Job, results: Results, sizes: Sizes, pks: list[int]) -> None:
    import importlib.util

    import uvicorn

    port = _free_port()
    server = multiprocessing.get_context("spawn").Process(target=serve, args=(port,), daemon=True)
    server.start()
    try:
        rounds = asyncio.run(_load(port, sizes, pks, job.rng(NAME, "http")))
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


async def _load(port: int, sizes: Sizes, pks: list[int], rng: Any) -> dict[str, dict[str, Any]]:
    """Interleaved rounds of ``sizes.requests`` requests to each variant, ``sizes.in_flight`` at
    once; each round's requests per second and every request's latency."""
    found: dict[str, dict[str, Any]] = {name: {"rates": [], "latencies": []} for name in ROUTES}
    clients = [await _connect(port) for _ in range(sizes.in_flight)]
    try:
        order = list(ROUTES)
        for index in range(sizes.http_rounds + 1):  # the first round warms, and is dropped
            rng.shuffle(order)
            for name in order:
                paths = [f"/{ROUTES[name]}/{rng.choice(pks)}" for _ in range(sizes.requests)]
                rate, latencies = await _round(clients, paths)
                if index:
                    found[name]["rates"].append(rate)
                    found[name]["latencies"].append(latencies)
    finally:
        for _, writer in clients:
            writer.close()
    return found


Client = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def _connect(port: int) -> Client:
    """A keep-alive connection, once the server answers."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError("the ASGI server did not come up") from None
            await asyncio.sleep(0.1)


async def _round(clients: list[Client], paths: list[str]) -> tuple[float, list[float]]:
    """``paths`` over ``clients``, one request in flight on each: a bounded client whose own
    cost (a few syscalls and a header scan a request) stays far below the server's."""
    todo = iter(paths)
    latencies: list[float] = []

    async def drive(client: Client) -> None:
        reader, writer = client
        for path in todo:
            started = time.perf_counter()
            writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"{path}: {head.splitlines()[0]!r}")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(drive(client) for client in clients))
    return len(paths) / (time.perf_counter() - started), latencies
