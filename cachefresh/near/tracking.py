"""Redis server-assisted client-side caching on redis-py, for Redis 6 and later (RESP2).

redis-py's own client-side cache (``cache_config``) refuses servers older than 7.4, so this is
the protocol by hand. One *subscriber* connection per process runs ``SUBSCRIBE
__redis__:invalidate`` in a daemon thread. Near-cache reads go through a *data pool* of their
own whose every connection, as it connects, runs ``CLIENT TRACKING on REDIRECT <subscriber
id>``: Redis then remembers which keys this process read and pushes their names to the
subscriber when they change, are deleted, expire or are evicted.

Default tracking (not BCAST, not OPTIN), because it is precise: a process hears only of keys it
read, so a write reaches only the processes holding that row, where BCAST on the key prefix
would send every write of every table to every process. OPTIN would save Redis the entry keys'
slots in its tracking table, at the price of a ``CLIENT CACHING yes`` before every read.

**Sessions.** A subscriber that reconnects has a new client id, and a data connection still
redirecting to the old one would have its invalidations dropped by Redis. Each subscription is
a *session*; a data connection remembers the session it enabled tracking for, and one from an
older session is reconnected before it reads. The tier is flushed when a session ends and
again when one begins, so no fill straddles two sessions.

**Heartbeat.** The subscriber sends ``PING`` every ``max_lag / 4`` seconds; its reply comes
after every invalidation Redis sent before it. When a reply is answered, everything Redis
changed before that ping has been heard: the tier records the ping's send time, and stops
serving once that is older than ``max_lag``. No reply within ``max_lag``, or a dropped
connection: the tier is flushed and stops serving until a new session is subscribed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from cachefresh import stats
from cachefresh.near.tier import NearTier
from cachefresh.store.errors import cache_errors

logger = logging.getLogger("cachefresh")

CHANNEL = b"__redis__:invalidate"
#: Start of the subscriber's client name, which ends with the KEY_PREFIX:
#: ``manage.py cachefresh stats`` counts the processes tracking by it.
CLIENT_NAME = "cachefresh-near:"
#: Statistics of the tracking connection are counted under this name.
STATS_NAME = "near"
#: Options of the application's pool that must not be shared with, or forced on, ours.
_NOT_COPIED = frozenset(
    {
        "redis_connect_func",
        "protocol",  # ours speak RESP2: invalidations arrive as pub/sub messages
        "client_name",
        "maint_notifications_pool_handler",
        "maint_notifications_config",
    }
)


class Silent(Exception):
    """The subscriber did not answer a heartbeat within ``max_lag``."""


class Moved(Exception):
    """A data connection reached another server than the subscriber's (a failover)."""


def _server(connection: Any) -> tuple[Any, ...]:
    """The server a connection talks to: with Sentinel, wherever the primary was when it
    connected."""
    return tuple(getattr(connection, name, None) for name in ("host", "port", "path"))


class Tracker:
    def __init__(self, tier: NearTier, client: Any, retry_interval: float, name: str) -> None:
        self.tier = tier
        self.name = name
        self.retry_interval = retry_interval
        # redis is an optional dependency: imported only once a near cache is made.
        from redis.connection import ConnectionPool

        pool = client.connection_pool
        self._connection_class = pool.connection_class
        self._kwargs = {k: v for k, v in pool.connection_kwargs.items() if k not in _NOT_COPIED}
        # RESP2 stated, not left to the client's default (RESP3 from redis-py 8 on).
        self._kwargs["protocol"] = 2
        self._data_pool = ConnectionPool(
            connection_class=self._connection_class,
            redis_connect_func=self._enable_tracking,
            **self._kwargs,
        )
        #: (serial, subscriber client id, its server) of the live subscription, or None
        self._session: tuple[int, int, tuple[Any, ...]] | None = None
        #: Set when a data connection found the primary elsewhere: the subscriber follows it.
        self._moved = threading.Event()
        self._serial = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cachefresh-near", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        # The thread looks at the event between reads of at most max_lag / 4 seconds; closing
        # its socket from here instead would race redis-py's parser in that thread.
        self._stop.set()
        self._thread.join(max(1.0, 2 * self.tier.max_lag))
        self._data_pool.disconnect()

    @property
    def tracking(self) -> bool:
        return self._session is not None

    # --- the data connections ---------------------------------------------------------------

    def _enable_tracking(self, connection: Any) -> None:
        """Run as each data connection connects (redis-py's ``redis_connect_func``)."""
        connection.on_connect()
        session = self._session
        if session is not None:
            if _server(connection) != session[2]:
                # Sentinel moved the primary: a client id names another client there, and
                # the subscriber listens to a server the reads no longer go to.
                self._moved.set()
                raise ConnectionError("the primary moved; the near cache is tracking again")
            connection.send_command("CLIENT", "TRACKING", "on", "REDIRECT", session[1])
            connection.read_response()
        connection.cachefresh_session = session

    def read(self, full_keys: Sequence[str]) -> list[Any]:
        """``MGET`` on a tracked connection of the current session."""
        pool = self._data_pool
        connection: Any = pool.get_connection()
        try:
            if getattr(connection, "cachefresh_session", None) != self._session:
                connection.disconnect()  # reconnects, and enables tracking, on the send below
            connection.send_command("MGET", *full_keys)
            return list(connection.read_response())
        except BaseException:
            connection.disconnect()
            raise
        finally:
            pool.release(connection)

    # --- the subscriber ---------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._listen()
            except (Silent, Moved) as exc:
                logger.info("cachefresh: near cache tracking lost (%s); reconnecting", exc)
            except cache_errors() as exc:
                if not self._stop.is_set():
                    logger.info("cachefresh: near cache tracking lost (%s); reconnecting", exc)
            finally:
                lost = self._session is not None
                self._session = None
                self.tier.flush(serving=False)
                if lost:
                    stats.count_events(STATS_NAME, ("near_tracking_lost", "near_flush"))
            self._stop.wait(self.retry_interval)

    def _listen(self) -> None:
        max_lag = self.tier.max_lag
        interval = max_lag / 4
        subscriber = self._connection_class(
            **dict(self._kwargs, socket_timeout=max_lag, client_name=self.name)
        )
        try:
            subscriber.connect()
            subscriber.send_command("CLIENT", "ID")
            client_id = int(subscriber.read_response())
            subscriber.send_command("SUBSCRIBE", CHANNEL)
            # redis-py's hiredis parser classes pub/sub replies as push messages, and reads
            # past them unless asked for them.
            subscriber.read_response(push_request=True)
            self._serial += 1
            self._moved.clear()
            self._session = (self._serial, client_id, _server(subscriber))
            # Subscribed: every change from now on will be heard, and the tier starts empty.
            self.tier.heard = time.monotonic()
            self.tier.flush(serving=True)
            stats.count(STATS_NAME, "near_tracking_up")
            ping_sent: float | None = None
            next_ping = time.monotonic()
            while not self._stop.is_set():
                if self._moved.is_set():
                    raise Moved("the primary moved (a failover)")
                now = time.monotonic()
                if ping_sent is None and now >= next_ping:
                    subscriber.send_command("PING")
                    ping_sent = now
                if ping_sent is not None and now - ping_sent > max_lag:
                    raise Silent(f"no heartbeat reply within MAX_LAG ({max_lag} s)")
                if not subscriber.can_read(timeout=interval):
                    continue
                reply = subscriber.read_response(push_request=True)
                if _is_pong(reply) and ping_sent is not None:
                    self.tier.heard = ping_sent
                    next_ping = ping_sent + interval
                    ping_sent = None
                elif isinstance(reply, list) and reply[:2] == [b"message", CHANNEL]:
                    self._invalidated(reply[2])
        finally:
            subscriber.disconnect()

    def _invalidated(self, keys: list[bytes] | None) -> None:
        if keys is None:  # FLUSHDB / FLUSHALL: every key this process read is gone
            self.tier.flush(serving=True)
            stats.count(STATS_NAME, "near_flush")
            return
        self.tier.invalidate([key.decode("utf-8", "surrogateescape") for key in keys])


def _is_pong(reply: Any) -> bool:
    # Subscribed, Redis answers ["pong", ""]; some redis-py parsers turn that into b"PONG".
    return reply == b"PONG" or (isinstance(reply, list) and reply[:1] == [b"pong"])
