"""Cache outages under the async reads: a private redis-server killed or paused (SIGSTOP) while
the event loop reads through ``redis.asyncio``. As in sync code: no exception reaches the
caller, a miss falls through to the database (in a thread), the breaker spares callers the
timeout, and once the cache is back the loop serves hits again, none of them stale."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync

from cachefresh import acached_get, acached_get_many, asmart_refresh, cached_get_many
from cachefresh.keys import RowKeys
from cachefresh.registry import registry
from cachefresh.store import aio, get_store
from tests.support.no_hop import forbid_hops, on_the_loop
from tests.support.private_cache import TIMEOUT, Private, make_articles, private_cache
from tests.testapp.models import Article

pytestmark = [
    pytest.mark.django_db(transaction=True, databases="__all__"),
    pytest.mark.servers,
    pytest.mark.slow,
]

#: RETRY_INTERVAL of the ``private_slow`` fixture.
RETRY = 1.0


@pytest.fixture
def private() -> Iterator[Private]:
    with private_cache() as setup:
        yield setup


@pytest.fixture
def private_slow() -> Iterator[Private]:
    with private_cache(retry_interval=RETRY) as setup:
        yield setup


@async_to_sync
async def views_of(pks: list[int]) -> dict[int, int]:
    """Each row's views through ``acached_get``, one by one, then ``acached_get_many``; both
    must agree. (async_to_sync: misses run in this thread, whose connection the test
    database's teardown closes.)"""
    one_by_one = {pk: (await acached_get(Article, pk)).views for pk in pks}
    together = {pk: a.views for pk, a in (await acached_get_many(Article, pks)).items()}
    assert one_by_one == together
    return one_by_one


def test_a_dead_cache_reaches_no_async_caller_and_leaves_nothing_stale(private: Private) -> None:
    pks = make_articles(3)
    cached_get_many(Article, pks)  # warm
    assert views_of(pks) == dict.fromkeys(pks, 0)
    private.server.kill()
    assert views_of(pks) == dict.fromkeys(pks, 0)  # the database, in a thread
    Article.objects.filter(pk=pks[0]).update(views=7)  # its retirement waits in the outbox
    Article.objects.filter(pk=pks[2]).delete()
    expected = {pks[0]: 7, pks[1]: 0}
    assert views_of(pks[:2]) == expected
    with pytest.raises(Article.DoesNotExist):
        async_to_sync(acached_get)(Article, pks[2])
    article = Article.objects.get(pk=pks[1])
    article.views = 9
    async_to_sync(asmart_refresh)(article, strategy="cache")
    assert article.views == 0

    private.server.start()  # empty: no persistence
    time.sleep(1.0)  # the breaker's retry interval and the outbox's next round
    assert not get_store().outbox
    assert views_of(pks[:2]) == expected  # fills, in a thread
    assert on_the_loop(lambda: acached_get_many(Article, pks[:2])).keys() == expected.keys()


def test_a_paused_cache_costs_the_event_loop_one_timeout(
    private_slow: Private, collector_off: None
) -> None:
    """SIGSTOP: reads time out instead of failing at once. The concurrent reads in flight pay
    one timeout together; then the breaker is open, and reads go to the database at once,
    both on the loop and in the thread the miss runs in."""
    pks = make_articles(20)
    cached_get_many(Article, pks)
    assert views_of(pks) == dict.fromkeys(pks, 0)
    private_slow.server.pause()
    try:

        @async_to_sync
        async def storm() -> tuple[list[float], list[float]]:
            async def one(pk: int) -> float:
                started = time.perf_counter()
                assert (await acached_get(Article, pk)).views == 0
                return time.perf_counter() - started

            first = await asyncio.gather(*(one(pk) for pk in pks))
            return first, [await one(pk) for pk in pks]

        first, after = storm()
        # One timeout, paid together, then the database: the same 20 reads again, one by one
        # (the misses queue for the one thread sync_to_async runs them in either way).
        assert max(first) < 2 * TIMEOUT + sum(after), (first, after)
        assert max(after) < TIMEOUT, after  # none of the next 20 pays a timeout
        assert get_store().breaker.failing
    finally:
        private_slow.server.resume()
    time.sleep(RETRY + 0.2)
    assert views_of(pks) == dict.fromkeys(pks, 0)  # the probe closes the breaker
    assert not get_store().breaker.failing


def test_a_pooled_connection_the_server_dropped_is_replaced(private: Private, monkeypatch) -> None:
    """The server closes the loop's idle connection (a restart, its idle timeout, ``CLIENT
    KILL``): the next read reconnects and is still a hit on the loop, with the breaker left
    closed. (Broken on purpose, with no reconnect, the read tripped the breaker and hopped.)"""
    pks = make_articles(2)
    cached_get_many(Article, pks)
    forbid_hops(monkeypatch)

    async def across_a_dropped_connection() -> set[int]:
        first = await acached_get_many(Article, pks)
        assert first.keys() == set(pks)
        dropped = private.server.client().client_kill_filter(_type="normal", skipme=True)
        assert dropped >= 1
        return set(await acached_get_many(Article, pks))

    assert on_the_loop(across_a_dropped_connection) == set(pks)
    assert not get_store().breaker.failing


def test_a_short_lived_event_loop_leaves_no_connection_open(private: Private) -> None:
    """``asyncio.run`` and ``async_to_sync`` run a loop for one call: its pool's connections
    close with it, not whenever the garbage collector gets to them. (Before the shutdown hook,
    20 such calls left 20 connections open on the server; broken on purpose, the hook dropping
    the pool without closing its connections, some stayed open: 4 where 2 were.)"""
    pks = make_articles(1)
    cached_get_many(Article, pks)
    with private.server.client() as client:
        before = len(client.client_list())
        for _ in range(10):
            assert on_the_loop(lambda: acached_get(Article, pks[0])).pk == pks[0]
            assert async_to_sync(acached_get)(Article, pks[0]).pk == pks[0]
        assert len(client.client_list()) == before


def test_an_async_read_in_flight_while_the_outbox_delivers_is_masked(
    private_slow: Private,
) -> None:
    """As on the sync path: a key held when the read was sent reads as absent, even if its
    retirement lands before the reply is looked at."""
    (pk,) = make_articles(1)
    cached_get_many(Article, [pk])
    private_slow.server.pause()
    cached_get_many(Article, [pk])  # times out and opens the breaker
    Article.objects.filter(pk=pk).update(views=5)  # the retirement is held
    private_slow.server.resume()
    store = get_store()
    store.breaker.close()
    row = RowKeys(registry.plan(Article).table_tag("pg"), pk)
    assert store.is_pending(row.token)

    class ReadThenDeliver:
        async def get_many(self, keys: list[str]) -> list[Any]:
            with private_slow.server.client() as client:
                found = client.mget([store.store.make_key(key) for key in keys])  # type: ignore[attr-defined]
            assert found[1] is not None, "the token was retired before the read"
            assert store.outbox.deliver_now()
            return list(found)

    found = async_to_sync(aio.get_many)(store, ReadThenDeliver(), [row.entry, row.token])
    assert found is not None and found[1] is None, "a token read before its retirement served"
    assert async_to_sync(acached_get)(Article, pk).views == 5
