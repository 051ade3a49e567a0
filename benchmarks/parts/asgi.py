"""The async scenario's HTTP part (:mod:`benchmarks.scenarios.async`): an ASGI app serving
``cached_get`` hits under uvicorn with one worker, and a bounded client to load it.

The app answers ``/django/<native|thread>/<pk>`` with Django's handler and async views, and
``/bare/<native|thread>/<pk>`` with a bare ASGI callable in front of it; ``native`` reads with
``acached_get``, ``thread`` with ``sync_to_async(cached_get)`` (the path before native hits).
The client keeps a fixed number of keep-alive connections, one request in flight on each.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from typing import Any

from benchmarks.env.nearenv import setup_django

#: What the app serves, by variant.
ROUTES = {
    "native": "django/native",
    "thread": "django/thread",
    "bare_native": "bare/native",
    "bare_thread": "bare/thread",
}


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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def load(
    port: int, rounds: int, requests: int, in_flight: int, pks: list[int], rng: Any
) -> dict[str, dict[str, Any]]:
    """Interleaved rounds of ``requests`` requests to each variant, ``in_flight`` at once; each
    round's requests per second and every request's latency, by variant."""
    found: dict[str, dict[str, Any]] = {name: {"rates": [], "latencies": []} for name in ROUTES}
    clients = [await _connect(port) for _ in range(in_flight)]
    try:
        order = list(ROUTES)
        for index in range(rounds + 1):  # the first round warms, and is dropped
            rng.shuffle(order)
            for name in order:
                paths = [f"/{ROUTES[name]}/{rng.choice(pks)}" for _ in range(requests)]
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
