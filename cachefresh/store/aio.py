"""Reads on the event loop: the shared cache's entries through ``redis.asyncio``, no thread hop.

A hit needs one ``MGET``, and only that runs here; tokens, fills and retirements stay on the
sync store. The connections are a pool of their own, made from the sync client's own connection
settings (``LOCATION`` and ``OPTIONS`` as the backend parsed them: host, port, db, username,
password, socket timeouts, keepalive, SSL, retries), so the same server answers under the same
rules. A ``redis.asyncio`` connection belongs to the event loop that opened it: each loop gets
its own pool.

Where no such pool can be made (a cache other than Redis, a cluster, a Sentinel or a connection
class of the application's own, settings ``redis.asyncio`` cannot honour), :func:`reader_of`
says ``None`` and the caller takes the sync path in a thread, as before.

Failures stop here as in :class:`~cachefresh.store.GuardedStore`, with its breaker: a failed read
trips it (the sync path then stops paying the timeout too), and an open breaker makes the read
a miss without a round trip.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import weakref
from collections.abc import AsyncGenerator, Callable, Sequence
from typing import Any

from cachefresh.store import GuardedStore
from cachefresh.store.errors import cache_errors
from cachefresh.store.redis import RedisStore

#: Connections per event loop when the sync pool sets no bound of its own: a loop can start
#: thousands of reads at once, and a task waiting for a free connection costs less than a
#: connection per task.
DEFAULT_MAX_CONNECTIONS = 64

#: Settings of the sync pool that are its own machinery, not how to reach the server.
_MACHINERY = frozenset(
    {
        "parser_class",  # a sync parser; the async connection picks its own
        "redis_connect_func",
        "retry",  # carried over as an asyncio Retry below
        "event_dispatcher",
        "maint_notifications_pool_handler",
        "maint_notifications_config",
        "himport_registry",
        "orig_host_address",
        "orig_socket_timeout",
        "orig_socket_connect_timeout",
        "connection_pool",
    }
)


class _LoopPool:
    """The connections of one event loop, at most ``size`` in use at once."""

    __slots__ = ("closer", "idle", "make", "reconnect_on", "slots")

    def __init__(self, make: Any, size: int, reconnect_on: tuple[type[BaseException], ...]):
        self.make = make
        self.idle: list[Any] = []
        self.slots = asyncio.Semaphore(size)
        self.reconnect_on = reconnect_on
        self.closer: AsyncGenerator[None] | None = None

    async def close_at_shutdown(self, forget: Callable[[], object]) -> None:
        """Close the connections when the running loop shuts down: ``asyncio.run``, asgiref's
        ``async_to_sync`` and uvicorn close a loop's async generators before the loop, and an
        event loop that lives for one call must not leave its sockets open."""

        async def closer() -> AsyncGenerator[None]:
            try:
                yield
            finally:
                forget()
                idle, self.idle = self.idle, []
                for connection in idle:
                    await connection.disconnect()

        self.closer = closer()  # the loop holds its async generators weakly
        await anext(self.closer)

    async def mget(self, full_keys: Sequence[str]) -> list[Any]:
        async with self.slots:
            reused = bool(self.idle)
            connection = self.idle.pop() if reused else self.make()
            try:
                reply = await _mget(connection, full_keys)
            except self.reconnect_on:
                await connection.disconnect()
                if not reused:
                    raise
                # An idle connection the server closed (a restart, its idle timeout): the sync
                # pool checks for this on checkout; here one retry on a fresh connection does.
                connection = self.make()
                reply = await _closing_on_error(connection, full_keys)
            except BaseException:
                # A timeout or a cancellation mid-reply leaves the stream unusable.
                await connection.disconnect()
                raise
            self.idle.append(connection)
            return reply


async def _closing_on_error(connection: Any, full_keys: Sequence[str]) -> list[Any]:
    try:
        return await _mget(connection, full_keys)
    except BaseException:
        await connection.disconnect()
        raise


async def _mget(connection: Any, full_keys: Sequence[str]) -> list[Any]:
    async def attempt() -> list[Any]:
        await connection.send_command("MGET", *full_keys)
        return list(await connection.read_response())

    async def failed(error: BaseException) -> None:
        await connection.disconnect()

    # With no retries configured (redis-py's default) this is one attempt.
    return await connection.retry.call_with_retry(attempt, failed)  # type: ignore[no-any-return]


class AsyncReader:
    """Reads of the keys of one :class:`RedisStore`, on whichever event loop is running."""

    def __init__(self, store: RedisStore, connection_class: type[Any], kwargs: dict[str, Any]):
        self.make_key = store.make_key
        self._connection_class = connection_class
        self._kwargs = kwargs
        self._size = kwargs.pop("max_connections", DEFAULT_MAX_CONNECTIONS)
        from redis.exceptions import ConnectionError as Refused

        self._reconnect_on = (Refused, ConnectionResetError, BrokenPipeError)
        self._pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopPool] = (
            weakref.WeakKeyDictionary()
        )

    async def _new_pool(self, loop: asyncio.AbstractEventLoop) -> _LoopPool:
        pools = self._pools
        # A loop closed without shutting its async generators down still holds its pool (the
        # pool refers to its loop): let both go.
        for gone in [other for other in list(pools) if other.is_closed()]:
            pools.pop(gone, None)
        pool = pools[loop] = _LoopPool(self._make, self._size, self._reconnect_on)
        await pool.close_at_shutdown(lambda: pools.pop(loop, None))
        return pool

    def _make(self) -> Any:
        return self._connection_class(**self._kwargs)

    async def get_many(self, keys: Sequence[str]) -> list[Any]:
        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is None:
            pool = await self._new_pool(loop)
        make_key = self.make_key
        return await pool.mget([make_key(key) for key in keys])


def _async_settings(client: Any) -> tuple[type[Any], dict[str, Any]] | None:
    """The ``redis.asyncio`` connection class and settings that reach the server ``client``
    reaches, the way it reaches it; ``None`` when that cannot be honoured."""
    import redis.asyncio.connection as async_connection
    import redis.connection as sync_connection
    from redis.asyncio.retry import Retry

    pool = client.connection_pool
    classes = {
        sync_connection.Connection: async_connection.Connection,
        sync_connection.SSLConnection: async_connection.SSLConnection,
        sync_connection.UnixDomainSocketConnection: async_connection.UnixDomainSocketConnection,
    }
    # Exact classes only: a subclass (Sentinel's, the application's own) connects its own way.
    connection_class = classes.get(getattr(pool, "connection_class", None))  # type: ignore[arg-type]
    if connection_class is None:
        return None
    accepted = _parameters(connection_class)
    kwargs: dict[str, Any] = {}
    for name, value in pool.connection_kwargs.items():
        if name in _MACHINERY:
            continue
        if name in accepted:
            kwargs[name] = value
        elif value not in (None, False):
            return None  # a setting (OCSP stapling…) the async client has no way to honour
    retry = pool.connection_kwargs.get("retry")
    if retry is not None:
        kwargs["retry"] = Retry(retry._backoff, retry.get_retries(), retry._supported_errors)
    if pool.max_connections < 2**31:  # redis-py's "unbounded"
        kwargs["max_connections"] = pool.max_connections
    return connection_class, kwargs


def _parameters(connection_class: type[Any]) -> set[str]:
    names: set[str] = set()
    for klass in connection_class.__mro__:
        init = vars(klass).get("__init__")
        if init is not None:
            names.update(inspect.signature(init).parameters)
    return names - {"self", "args", "kwargs"}


_readers: weakref.WeakKeyDictionary[GuardedStore, AsyncReader | None] = weakref.WeakKeyDictionary()


def reader_of(guarded: GuardedStore) -> AsyncReader | None:
    """The event-loop reader of ``guarded``'s cache, or ``None`` (read it in a thread)."""
    try:
        return _readers[guarded]
    except KeyError:
        pass
    store = guarded.store
    reader = None
    # A cluster spreads one read over nodes (cachefresh.store.cluster): not here.
    if type(store) is RedisStore:
        found = _async_settings(store.client)
        if found is not None:
            reader = AsyncReader(store, *found)
    _readers[guarded] = reader
    return reader


async def get_many(
    guarded: GuardedStore, reader: AsyncReader, keys: Sequence[str]
) -> list[Any] | None:
    """:meth:`GuardedStore.get_many` on the event loop: the values under ``keys``, or ``None``
    when the cache did not answer (or the breaker is open)."""
    breaker = guarded.breaker
    if not breaker.allows():
        return None
    outbox = guarded.outbox
    before = outbox.held() if outbox else frozenset()
    try:
        found = await reader.get_many(keys)
    except cache_errors() as exc:
        breaker.trip(exc)
        return None
    if breaker.failing:
        breaker.close()  # this call was the probe, and it got through
    if before or outbox:
        # An undelivered retirement: in this process the key is already gone.
        found = outbox.masked(keys, found, before)
    return found


def _forget_in_child() -> None:
    # The parent's connections are not the child's, nor are its event loops.
    _readers.clear()


os.register_at_fork(after_in_child=_forget_in_child)
