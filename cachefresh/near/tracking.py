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
changed before that ping has been heard: the tracker's :class:`~cachefresh.near.tier.Link`
may serve until the ping's send time plus ``max_lag``. No reply within ``max_lag``, or a
dropped connection: the link is flushed and serves nothing until a new session is subscribed.

One tracker follows one server: the Redis, or one primary of a Redis Cluster
(:mod:`cachefresh.near.cluster` runs one per primary).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from cachefresh import stats
from cachefresh.near.connections import Session, TrackedConnections, gets, mget, server_of
from cachefresh.near.tier import Link, NearTier
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


class Tracker:
    def __init__(
        self,
        tier: NearTier,
        client: Any,
        retry_interval: float,
        name: str,
        link: Link,
        address: tuple[str, int] | None = None,
    ) -> None:
        """Track the server of ``client`` (redis-py's), or the one at ``address`` reached with
        ``client``'s options (another node of its cluster)."""
        self.tier = tier
        self.name = name
        self.link = link
        self._links = (link,)
        self.retry_interval = retry_interval
        pool = client.connection_pool
        #: With Sentinel, where the primary is now. A planned failover leaves the old primary
        #: alive and answering heartbeats (as a primary until the Sentinels demote it, after
        #: their failover-timeout): only the Sentinels tell that writes go elsewhere.
        self._primary_now = getattr(pool, "get_master_address", None)
        self._connection_class = pool.connection_class
        self._kwargs = {k: v for k, v in pool.connection_kwargs.items() if k not in _NOT_COPIED}
        # RESP2 stated, not left to the client's default (RESP3 from redis-py 8 on).
        self._kwargs["protocol"] = 2
        if address is not None:
            self._kwargs["host"], self._kwargs["port"] = address
        #: (serial, subscriber client id, its server) of the live subscription, or None
        self._session: Session = None
        #: Set when a data connection found the primary elsewhere: the subscriber follows it.
        self._moved = threading.Event()
        self.connections = TrackedConnections(
            self._connection_class, self._kwargs, lambda: self._session, self._moved.set
        )
        self._serial = 0
        self._refused = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cachefresh-near", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        # The thread looks at the event between reads of at most max_lag / 4 seconds; closing
        # its socket from here instead would race redis-py's parser in that thread.
        self._stop.set()
        self._thread.join(max(1.0, 2 * self.tier.max_lag))
        self.connections.pool.disconnect()

    @property
    def tracking(self) -> bool:
        return self._session is not None

    def links_of(self, *full_keys: str) -> tuple[Link, ...]:
        """The links a row read under ``full_keys`` depends on: this server's."""
        return self._links

    # --- the data connections ---------------------------------------------------------------

    def read(self, full_keys: Sequence[str]) -> list[Any]:
        """``MGET`` on a tracked connection of the current session."""
        return self.connections.call(self._session, lambda connection: mget(connection, full_keys))

    def read_each(self, full_keys: Sequence[str]) -> list[Any]:
        """One ``GET`` a key on a tracked connection of the current session (:func:`gets`)."""
        return self.connections.call(self._session, lambda connection: gets(connection, full_keys))

    # --- the subscriber ---------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._listen()
            except (Silent, Moved) as exc:
                logger.info("cachefresh: near cache tracking lost (%s); reconnecting", exc)
            except Untrackable as exc:
                # Said once: it is retried every RETRY_INTERVAL, and check E007 reports it.
                log = logger.debug if self._refused else logger.error
                log("cachefresh: near cache not tracking: %s", exc)
                self._refused = True
            except cache_errors() as exc:
                if not self._stop.is_set():
                    logger.info("cachefresh: near cache tracking lost (%s); reconnecting", exc)
            finally:
                lost = self._session is not None
                self._session = None
                self.tier.flush(self.link)
                if lost:
                    stats.count_events(STATS_NAME, ("near_tracking_lost", "near_flush"))
            self._stop.wait(self.retry_interval)

    def _listen(self) -> None:
        max_lag = self.tier.max_lag
        interval = max_lag / 4
        subscriber = self._connection_class(
            **dict(self._kwargs, socket_timeout=max_lag, client_name=self.name)
        )
        # Asks whether the data connections still exist: what they read is tracked only then.
        control = self._connection_class(**dict(self._kwargs, socket_timeout=max_lag))
        try:
            subscriber.connect()
            subscriber.send_command("CLIENT", "ID")
            client_id = int(subscriber.read_response())
            _check_tracking(subscriber, client_id)
            subscriber.send_command("SUBSCRIBE", CHANNEL)
            # redis-py's hiredis parser classes pub/sub replies as push messages, and reads
            # past them unless asked for them.
            subscriber.read_response(push_request=True)
            self._serial += 1
            self._moved.clear()
            self._session = (self._serial, client_id, server_of(subscriber))
            # Subscribed: every change from now on will be heard, and the link starts empty.
            self.tier.flush(self.link, until=time.monotonic() + max_lag)
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
                    # After the ping: a connection gone before it may have lost a push that
                    # the pong would otherwise vouch for.
                    if self.connections.lost(control, self._session):
                        self.tier.flush(self.link, until=self.link.until)
                        stats.count(STATS_NAME, "near_flush")
                    primary = self._primary_now
                    if primary is not None and tuple(primary()) != self._session[2][:2]:
                        raise Moved("the Sentinels name another primary (a failover)")
                if ping_sent is not None and now - ping_sent > max_lag:
                    raise Silent(f"no heartbeat reply within MAX_LAG ({max_lag} s)")
                if not subscriber.can_read(timeout=interval):
                    continue
                reply = subscriber.read_response(push_request=True)
                if _is_pong(reply) and ping_sent is not None:
                    self.link.until = ping_sent + max_lag
                    next_ping = ping_sent + interval
                    ping_sent = None
                elif isinstance(reply, list) and reply[:2] == [b"message", CHANNEL]:
                    self._invalidated(reply[2])
        finally:
            subscriber.disconnect()
            control.disconnect()

    def _invalidated(self, keys: list[bytes] | None) -> None:
        if keys is None:  # FLUSHDB / FLUSHALL: every key this process read there is gone
            self.tier.flush(self.link, until=self.link.until)
            stats.count(STATS_NAME, "near_flush")
            return
        self.tier.invalidate([key.decode("utf-8", "surrogateescape") for key in keys])


class Untrackable(Exception):
    """The server refuses ``CLIENT TRACKING`` or ``CLIENT LIST`` (renamed, disabled, or denied
    by an ACL)."""


def _check_tracking(subscriber: Any, client_id: int) -> None:
    """Ask the server to track for this session, and to list its clients (each heartbeat
    does, :mod:`cachefresh.near.connections`), before any data connection relies on it: a
    refusal leaves the link unserved (and is logged) rather than failing every read."""
    from redis.exceptions import ResponseError

    try:
        subscriber.send_command("CLIENT", "TRACKING", "on", "REDIRECT", client_id)
        subscriber.read_response()
        subscriber.send_command("CLIENT", "TRACKING", "off")
        subscriber.read_response()
        subscriber.send_command("CLIENT", "LIST", "TYPE", "pubsub")
        subscriber.read_response()
    except ResponseError as exc:
        where = f"{getattr(subscriber, 'host', '')}:{getattr(subscriber, 'port', '')}"
        raise Untrackable(f"{where} refuses CLIENT TRACKING or CLIENT LIST ({exc})") from exc


def _is_pong(reply: Any) -> bool:
    # Subscribed, Redis answers ["pong", ""]; some redis-py parsers turn that into b"PONG".
    return reply == b"PONG" or (isinstance(reply, list) and reply[:1] == [b"pong"])
