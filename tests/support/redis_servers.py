"""Private Redis servers for tests that kill, pause, evict or cluster.

The shared Redis on 6379 is never touched: every server here is a ``redis-server`` process of
its own on a free loopback port, without persistence, stopped when the test ends.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

STARTUP_DEADLINE = 10.0


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(bus: bool = False) -> int:
    """A loopback port nothing listens on (and, with ``bus``, also port + 10000 for a cluster)."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if not bus or (port < 55535 and _port_free(port + 10000)):
            return port
    raise RuntimeError("no free loopback port")


def require_redis_server() -> None:
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        if os.environ.get("CACHEFRESH_REQUIRE_SERVERS") == "1":
            pytest.fail("redis-server/redis-cli not installed", pytrace=False)
        pytest.skip("redis-server/redis-cli not installed")


class RedisServer:
    """One private ``redis-server``; can be killed, paused, resumed and restarted on its port."""

    def __init__(self, *args: str, port: int | None = None) -> None:
        self.port = port or free_port(bus="--cluster-enabled" in args)
        self.args = args
        self.dir = tempfile.mkdtemp(prefix=f"cf-redis-{self.port}-")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self, **kwargs: Any) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2, **kwargs)

    def command(self) -> list[str]:
        return [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--dir", self.dir, "--logfile", "redis.log",
            *self.args,
        ]  # fmt: skip

    def start(self) -> RedisServer:
        self.process = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + STARTUP_DEADLINE
        while True:
            try:
                with contextlib.closing(self.client()) as probe:
                    probe.ping()
                return self
            except redis.RedisError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server on {self.port} did not start") from None
                time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL: the server and all its data are gone at once."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def restart(self) -> None:
        """Start again, empty, on the same port."""
        self.kill()
        self.start()

    def pause(self) -> None:
        """SIGSTOP: connections are still accepted by the kernel, but nothing answers."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def redis_server(*args: str) -> Iterator[RedisServer]:
    require_redis_server()
    server = RedisServer(*args)
    try:
        yield server.start()
    finally:
        server.stop()


class RedisCluster:
    """A private cluster of three masters (by default without replicas) on loopback ports."""

    def __init__(self, masters: int = 3, replicas: int = 0) -> None:
        self.replicas = replicas
        # A replica's first sync would wait 5 s for more replicas (repl-diskless-sync-delay).
        args = ("--cluster-enabled", "yes", "--cluster-node-timeout", "2000")
        args += ("--repl-diskless-sync-delay", "0")
        self.nodes = [RedisServer(*args) for _ in range(masters * (1 + replicas))]

    @property
    def url(self) -> str:
        return self.nodes[0].url

    def start(self) -> RedisCluster:
        for node in self.nodes:
            node.start()
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        subprocess.run(
            ["redis-cli", "--cluster", "create", *addresses, "--cluster-yes",
             "--cluster-replicas", str(self.replicas)],
            check=True, capture_output=True, timeout=30,
        )  # fmt: skip
        deadline = time.monotonic() + STARTUP_DEADLINE
        while not all(self._ready(node) for node in self.nodes):
            if time.monotonic() > deadline:
                raise RuntimeError("the private Redis Cluster did not become ready")
            time.sleep(0.05)
        return self

    @staticmethod
    def _ready(node: RedisServer) -> bool:
        with contextlib.closing(node.client()) as probe:
            info = probe.execute_command("CLUSTER", "INFO")
            replication = probe.info("replication")
        text = info.decode() if isinstance(info, bytes) else str(info)
        synced = replication["role"] == "master" or replication["master_link_status"] == "up"
        return "cluster_state:ok" in text and synced

    def ready(self) -> bool:
        """Whether the first node sees the cluster serving every slot."""
        return self._ready(self.nodes[0])

    def client(self) -> redis.cluster.RedisCluster:
        return redis.cluster.RedisCluster(host="127.0.0.1", port=self.nodes[0].port)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


@contextlib.contextmanager
def redis_cluster(replicas: int = 0) -> Iterator[RedisCluster]:
    require_redis_server()
    cluster = RedisCluster(replicas=replicas)
    try:
        yield cluster.start()
    finally:
        cluster.stop()


def cache_entry(url: str, timeout: float = 0.2, **options: Any) -> dict[str, Any]:
    """A django-redis ``CACHES`` entry for a private server, failing fast when it is down."""
    return {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": url,
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": timeout, "SOCKET_TIMEOUT": timeout, **options},
    }


# --- Processes against a private cache --------------------------------------------------------


def child_setup(caches: dict[str, Any], cachefresh: dict[str, Any]) -> None:
    """Django in a spawned process: the test database on PostgreSQL, the test's private cache."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.test import override_settings

    from tests.support.routers import ACTIVE

    settings.DATABASES["pg"]["NAME"] = settings.DATABASES["pg"]["TEST"]["NAME"]
    override_settings(CACHES=caches, CACHEFRESH=cachefresh).enable()
    ACTIVE["alias"] = "pg"


def reader_process(caches: dict[str, Any], cachefresh: dict[str, Any], conn: Any) -> None:
    """Another process: reads rows through the cache when asked, ``{pk: views}``."""
    child_setup(caches, cachefresh)
    from cachefresh import cached_get_many
    from tests.testapp.models import Article

    while True:
        pks = conn.recv()
        if pks is None:
            return
        conn.send({pk: a.views for pk, a in cached_get_many(Article, pks).items()})


def exiting_writer(caches: dict[str, Any], cachefresh: dict[str, Any], pk: int, conn: Any) -> None:
    """Writes one row while the cache is stopped, then exits as soon as it is back."""
    child_setup(caches, cachefresh)
    from cachefresh import cached_get
    from cachefresh.store import get_store
    from tests.testapp.models import Article

    conn.send("ready")
    conn.recv()  # the cache is stopped now
    cached_get(Article, pk)  # times out and opens the breaker: the retirement below is held
    Article.objects.filter(pk=pk).update(views=9)
    conn.send(bool(get_store().outbox))
    conn.recv()  # the cache answers again: exit at once, before the outbox's next round


def _drain_outbox(seconds: float) -> int:
    """Wait (bounded) until this process has delivered its held retirements; how many are left."""
    from cachefresh.store import get_store

    outbox = get_store().outbox
    deadline = time.monotonic() + seconds
    while outbox and time.monotonic() < deadline:
        time.sleep(0.02)
    return len(outbox.pending | outbox.sending)


def storm_worker(
    caches: dict[str, Any],
    cachefresh: dict[str, Any],
    index: int,
    pks: list[int],
    workers: int,
    stop: Any,
    barrier: Any,
    results: Any,
) -> None:
    """Write own rows, read all rows, check read-your-writes throughout and freshness after.

    Each worker writes only its own rows (``pks[index::workers]``), so it knows their current
    value at every moment: any read of them that differs is a stale read. After all workers
    have stopped writing (a barrier), every worker reads every row through the cache and
    compares with the database.
    """
    child_setup(caches, cachefresh)
    from cachefresh import cached_get, cached_get_many, smart_refresh
    from tests.testapp.models import Article

    rng = random.Random(index)
    own = pks[index::workers]
    written = dict(Article.objects.filter(pk__in=own).values_list("pk", "views"))
    report: dict[str, Any] = {"index": index, "ops": 0, "errors": [], "stale_own": []}

    def check(pk: int, views: int | None) -> None:
        if views != written.get(pk):
            report["stale_own"].append((pk, views, written.get(pk)))

    results.put(("ready", index))
    deadline = time.monotonic() + 30
    while not stop.is_set() and report["ops"] < 50_000 and time.monotonic() < deadline:
        report["ops"] += 1
        pk = rng.choice(own)
        roll = rng.random()
        try:
            if roll < 0.2:
                Article.objects.filter(pk=pk).update(views=written[pk] + 1)
                written[pk] += 1
            elif roll < 0.35:
                article = Article.objects.get(pk=pk)
                article.views = written[pk] + 1
                article.save()
                written[pk] += 1
            elif roll < 0.4:
                Article.objects.get(pk=pk).delete()
                del written[pk]
                own.remove(pk)
                try:
                    cached_get(Article, pk)
                    report["stale_own"].append((pk, "deleted row served", None))
                except Article.DoesNotExist:
                    pass
                fresh = Article.objects.create(title="storm", body="x" * 1500, views=0)
                own.append(fresh.pk)
                written[fresh.pk] = 0
            elif roll < 0.5:
                article = Article.objects.get(pk=pk)
                article.views = -1
                smart_refresh(article, ["views"])
                check(pk, article.views)
            elif roll < 0.75:
                check(pk, cached_get(Article, pk).views)
            else:
                sample = [*rng.sample(pks, min(10, len(pks))), pk]
                found = cached_get_many(Article, sample)
                check(pk, found[pk].views if pk in found else None)
        except Exception as exc:
            report["errors"].append(f"{type(exc).__name__}: {exc}")
    report["outbox_left"] = _drain_outbox(5.0)
    near = cachefresh.get("NEAR_CACHE")
    if near:
        # Hold every row near while the others may still write: the check below then sees
        # any row whose invalidation push this process missed.
        every = list(Article.objects.values_list("pk", flat=True))
        cached_get_many(Article, every)
        cached_get_many(Article, every)
    barrier.wait(60)
    if near:
        time.sleep(0.3)  # the guarantee is after writes quiesce plus the push delay
    truth = dict(Article.objects.values_list("pk", "views"))
    seen = {pk: a.views for pk, a in cached_get_many(Article, list(truth)).items()}
    seen_again = {pk: cached_get(Article, pk).views for pk in truth}
    report["final_stale"] = [pk for pk in truth if seen.get(pk) != truth[pk]]
    report["final_stale"] += [pk for pk in truth if seen_again[pk] != truth[pk]]
    from cachefresh import stats

    counts = stats.snapshot().get("testapp.Article", {})
    report["hits"] = counts.get("hit", 0)
    report["near_hits"] = counts.get("near_hit", 0)
    results.put(("done", report))


def run_fault_workers(
    caches: dict[str, Any],
    cachefresh: dict[str, Any],
    pks: list[int],
    workers: int = 3,
    during: Callable[[], None] | None = None,
    seconds: float = 2.0,
) -> list[dict[str, Any]]:
    """Run ``workers`` processes that write, read and refresh their own rows on a private
    cache while ``during`` (a kill, a pause) runs, and report what each saw: errors reaching
    callers, read-your-writes, hits. Not the stale-set storm (benchmarks.parts.storm,
    shared by the tests and the benchmarks), which measures staleness across processes."""
    ctx = multiprocessing.get_context("spawn")
    stop, barrier, results = ctx.Event(), ctx.Barrier(workers), ctx.Queue()
    processes = [
        ctx.Process(
            target=storm_worker,
            args=(caches, cachefresh, index, pks, workers, stop, barrier, results),
            daemon=True,
        )
        for index in range(workers)
    ]
    for process in processes:
        process.start()
    try:
        for _ in processes:
            assert results.get(timeout=60)[0] == "ready"
        if during is not None:
            during()
        else:
            time.sleep(seconds)
        stop.set()
        reports = [results.get(timeout=90)[1] for _ in processes]
    finally:
        stop.set()
        for process in processes:
            process.join(10)
            if process.is_alive():
                process.kill()
    return sorted(reports, key=lambda report: report["index"])
