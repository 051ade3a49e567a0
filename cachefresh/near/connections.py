"""The near cache's data connections to one server: reads whose keys Redis tracks.

Each connection, as it connects, runs ``CLIENT TRACKING on REDIRECT <subscriber id>``. Redis
files what a connection read under *that connection's* client id: once the connection is gone
(closed by us after an error, by the server's ``timeout``, by ``CLIENT KILL``, by a Sentinel
failover's ``CLIENT KILL TYPE normal``), a change to a key it read is pushed to no one, and a
row read through it would be served stale for as long as it is held. So every connection's
client id is kept, and the tracker asks the server on every heartbeat whether it still knows
them all (:meth:`TrackedConnections.lost`); one it does not know takes the link's rows with
it. A connection that reconnects has a new id, and its old one is gone: the same.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from typing import Any

#: A session: (serial, subscriber client id, its server), or ``None`` between sessions.
Session = tuple[int, int, tuple[Any, ...]] | None

_ID = re.compile(rb"(?:^|\n)id=(\d+) ")


def server_of(connection: Any) -> tuple[Any, ...]:
    """The server a connection talks to: with Sentinel, wherever the primary was when it
    connected."""
    return tuple(getattr(connection, name, None) for name in ("host", "port", "path"))


class PrimaryMoved(ConnectionError):
    """A data connection reached another server than the subscriber's (a failover)."""


class TrackedConnections:
    def __init__(
        self,
        connection_class: Any,
        kwargs: dict[str, Any],
        session: Callable[[], Session],
        moved: Callable[[], None],
    ) -> None:
        """``session`` says the live session; ``moved`` is called when a connection reached
        another server."""
        from redis.connection import ConnectionPool

        self._session = session
        self._moved = moved
        self.pool = ConnectionPool(
            connection_class=connection_class, redis_connect_func=self._enable, **kwargs
        )
        self._lock = threading.Lock()
        #: client id -> session, for every connection that enabled tracking
        self._ids: dict[int, Session] = {}
        self._by_id = True

    def _enable(self, connection: Any) -> None:
        """Run as each connection connects (redis-py's ``redis_connect_func``)."""
        connection.on_connect()
        session = self._session()
        if session is not None:
            if server_of(connection) != session[2]:
                # Sentinel moved the primary: a client id names another client there, and
                # the subscriber listens to a server the reads no longer go to.
                self._moved()
                raise PrimaryMoved("the primary moved; the near cache is tracking again")
            connection.send_packed_command(
                connection.pack_commands(
                    [("CLIENT", "TRACKING", "on", "REDIRECT", session[1]), ("CLIENT", "ID")]
                )
            )
            connection.read_response()
            client_id = int(connection.read_response())
            with self._lock:
                self._ids[client_id] = session
        connection.cachefresh_session = session

    def lost(self, control: Any, session: Session) -> bool:
        """Whether a connection that enabled tracking in ``session`` is no longer known to the
        server, asked on ``control`` (a plain connection to it). Ids found gone are dropped."""
        with self._lock:
            # An ended session's ids are of no further interest.
            self._ids = {key: seen for key, seen in self._ids.items() if seen == session}
            ids = list(self._ids)
        if not ids:
            return False
        known = self._known(control, ids)
        gone = [client_id for client_id in ids if client_id not in known]
        if not gone:
            return False
        with self._lock:
            for client_id in gone:
                self._ids.pop(client_id, None)
        return True

    def _known(self, control: Any, ids: list[int]) -> set[int]:
        from redis.exceptions import ResponseError

        if self._by_id:
            try:
                control.send_command("CLIENT", "LIST", "ID", *ids)
                return _ids_in(control.read_response())
            except ResponseError:  # Redis before 6.2: no ID filter
                self._by_id = False
        control.send_command("CLIENT", "LIST")
        return _ids_in(control.read_response())

    def call(self, session: Session, call: Callable[[Any], list[Any]]) -> list[Any]:
        """``call`` on a connection that tracks for ``session``."""
        pool = self.pool
        connection: Any = pool.get_connection()
        try:
            if getattr(connection, "cachefresh_session", None) != session:
                connection.disconnect()  # reconnects, and enables tracking, on the send below
            return call(connection)
        except BaseException:
            connection.disconnect()
            raise
        finally:
            pool.release(connection)


def _ids_in(listing: Any) -> set[int]:
    text = listing.encode() if isinstance(listing, str) else bytes(listing)
    return {int(found) for found in _ID.findall(b"\n" + text)}


def mget(connection: Any, full_keys: Sequence[str]) -> list[Any]:
    connection.send_command("MGET", *full_keys)
    return list(connection.read_response())


def gets(connection: Any, full_keys: Sequence[str]) -> list[Any]:
    """One ``GET`` a key, pipelined: the keys of a cluster node span slots, which ``MGET``
    refuses. A key the node no longer owns (``MOVED``, ``ASK``) reads as ``ResponseError``."""
    from redis.exceptions import ResponseError

    connection.send_packed_command(connection.pack_commands([("GET", key) for key in full_keys]))
    replies: list[Any] = []
    for _ in full_keys:
        try:
            replies.append(connection.read_response())
        except ResponseError as exc:  # read whole: the next reply follows it
            replies.append(exc)
    return replies
