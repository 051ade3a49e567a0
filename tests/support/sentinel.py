"""A private Sentinel setup: a primary, a replica and one Sentinel, each a process of its own on
a free loopback port, every one ended by its PID.

The replica may replicate through a :class:`~benchmarks.env.proxy.LatencyProxy`, as across a
network: retirements then reach it ``lag_ms`` after the primary acknowledged them, and a crash
of the primary loses what is still on the way, which is what a failover loses without
``WAIT_FOR_REPLICAS``.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from typing import Any

import redis

from benchmarks.env.proxy import LatencyProxy
from tests.support.redis_servers import STARTUP_DEADLINE, RedisServer, require_redis_server

#: How long the Sentinel waits before it calls the primary down (milliseconds).
DOWN_AFTER_MS = 400


class Sentinel(RedisServer):
    """``redis-server <conf> --sentinel``: the config file is Sentinel's own (it rewrites it)."""

    def __init__(self, service: str, primary_port: int, failover_timeout_ms: int) -> None:
        super().__init__()
        name = service
        config = os.path.join(self.dir, "sentinel.conf")
        with open(config, "w") as out:
            out.write(
                f"sentinel monitor {name} 127.0.0.1 {primary_port} 1\n"
                f"sentinel down-after-milliseconds {name} {DOWN_AFTER_MS}\n"
                f"sentinel failover-timeout {name} {failover_timeout_ms}\n"
            )
        self.config = config

    def command(self) -> list[str]:
        # The config file comes first: redis-server takes it only as its first argument.
        return [
            "redis-server", self.config, "--sentinel", "--port", str(self.port),
            "--bind", "127.0.0.1", "--dir", self.dir, "--logfile", "sentinel.log",
        ]  # fmt: skip


class SentinelSetup:
    def __init__(self, lag_ms: float = 0.0) -> None:
        # Redis waits 5 s for more replicas before a diskless full sync, by default.
        self.primary = RedisServer("--repl-diskless-sync-delay", "0")
        # A name of its own: django-redis keeps its pools, per process, by LOCATION.
        self.service = f"cf{self.primary.port}"
        self.lag_ms = lag_ms
        self.proxy: LatencyProxy | None = None
        self.replica: RedisServer | None = None
        self.sentinel: Sentinel | None = None

    def start(self) -> SentinelSetup:
        self.primary.start()
        port = self.primary.port
        if self.lag_ms:
            self.proxy = LatencyProxy("127.0.0.1", port, self.lag_ms).start()
            port = self.proxy.port
        self.replica = RedisServer("--replicaof", "127.0.0.1", str(port)).start()
        self.replica_synced()
        # The failover timeout is also how long the Sentinel waits before it turns a demoted
        # primary into a replica, and before it "fixes" a replica whose primary address is not
        # the primary's own (one behind the proxy): then longer than any test.
        timeout = 120_000 if self.proxy is not None else 1000
        self.sentinel = Sentinel(self.service, self.primary.port, timeout).start()
        self._until(lambda: self._knows_replica(), "the Sentinel did not find the replica")
        return self

    def stop(self) -> None:
        for server in (self.sentinel, self.replica, self.primary):
            if server is not None:
                server.stop()
        if self.proxy is not None:
            self.proxy.close()

    def replica_synced(self) -> bool:
        """Wait until the replica's link to the primary is up (a full resync after a restart)."""
        self._until(lambda: self._link_up(self.replica), "the replica did not sync")
        return True

    @property
    def sentinels(self) -> list[tuple[str, int]]:
        assert self.sentinel is not None
        return [("127.0.0.1", self.sentinel.port)]

    def cache_entry(self, timeout: float = 0.2) -> dict[str, Any]:
        """A django-redis ``CACHES`` entry that finds the primary through the Sentinel."""
        return {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://{self.service}/0",
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.SentinelClient",
                "CONNECTION_FACTORY": "django_redis.pool.SentinelConnectionFactory",
                "SENTINELS": self.sentinels,
                "SOCKET_CONNECT_TIMEOUT": timeout,
                "SOCKET_TIMEOUT": timeout,
            },
        }

    def primary_port(self) -> int:
        assert self.sentinel is not None
        with contextlib.closing(self.sentinel.client()) as client:
            return int(client.sentinel_get_master_addr_by_name(self.service)[1])

    def crash_primary(self) -> None:
        """The primary's host dies: the replication stream still in flight to the replica is
        lost with it (the proxy drops what it holds), and the primary gets SIGKILL."""
        if self.proxy is not None:
            self.proxy.close()
        self.primary.kill()

    def fail_over(self) -> None:
        """Crash the primary, and wait until the Sentinel has promoted the replica."""
        self.crash_primary()
        self.wait_promoted()

    def switch_over(self) -> None:
        """A planned failover (``SENTINEL FAILOVER``): the replica is promoted, and the primary
        lives on (the Sentinel makes it a replica later)."""
        assert self.sentinel is not None

        def asked() -> bool:
            with contextlib.closing(self.sentinel.client()) as client:  # type: ignore[union-attr]
                try:
                    client.execute_command("SENTINEL", "FAILOVER", self.service)
                except redis.ResponseError as exc:
                    if "NOGOODSLAVE" in str(exc):  # the replica is not vetted yet
                        return False
                    raise
            return True

        self._until(asked, "the Sentinel refused the failover")
        self.wait_promoted()

    def wait_promoted(self, deadline: float = 20.0) -> None:
        assert self.replica is not None
        replica = self.replica
        self._until(lambda: self.primary_port() == replica.port, "no promotion", deadline)
        self._until(lambda: self._role(replica) == "master", "promoted, not master", deadline)

    @staticmethod
    def _role(server: RedisServer) -> str:
        with contextlib.closing(server.client()) as client:
            return str(client.execute_command("ROLE")[0].decode())

    @staticmethod
    def _link_up(server: RedisServer | None) -> bool:
        assert server is not None
        with contextlib.closing(server.client()) as client:
            return client.info("replication").get("master_link_status") == "up"

    def _knows_replica(self) -> bool:
        assert self.sentinel is not None
        with contextlib.closing(self.sentinel.client()) as client:
            return bool(client.sentinel_slaves(self.service))

    @staticmethod
    def _until(test: Any, failure: str, deadline: float = STARTUP_DEADLINE) -> None:
        end = time.monotonic() + deadline
        while True:
            try:
                if test():
                    return
            except redis.RedisError:
                pass
            if time.monotonic() > end:
                raise RuntimeError(failure)
            time.sleep(0.02)


@contextlib.contextmanager
def sentinel_setup(lag_ms: float = 0.0) -> Iterator[SentinelSetup]:
    require_redis_server()
    setup = SentinelSetup(lag_ms)
    try:
        yield setup.start()
    finally:
        setup.stop()
