"""The near cache under the async reads: a row held near is served on the event loop with no
I/O at all; a row it does not hold is read in a thread, on the tracked connection, so that the
near cache keeps it; invalidations reach what the loop serves."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from asgiref.sync import async_to_sync

from cachefresh import acached_get, acached_get_many, asmart_refresh
from cachefresh.keys import RowKeys
from cachefresh.registry import registry
from cachefresh.store import get_store
from tests.support.no_hop import Hopped, forbid_hops, on_the_loop, reads_recorded
from tests.support.private_cache import Private, make_articles, near_on, private_cache
from tests.support.unseen import unseen_cursor
from tests.testapp.models import Article

pytestmark = [pytest.mark.django_db(transaction=True, databases="__all__"), pytest.mark.servers]

#: How long a push from Redis may take to reach the tier, at most, in these tests.
PUSH_DEADLINE = 2.0


@pytest.fixture
def private() -> Iterator[Private]:
    with private_cache() as setup:
        yield setup


def test_a_near_miss_is_kept_then_served_on_the_loop(private: Private, monkeypatch) -> None:
    pks = make_articles(3)
    with near_on(private) as cache, reads_recorded(monkeypatch) as loop_reads:
        # Cold: filled in a thread. Then a Redis hit in a thread, kept near.
        for _ in range(2):
            assert async_to_sync(acached_get_many)(Article, pks).keys() == set(pks)
        assert len(cache.tier) == 3
        forbid_hops(monkeypatch)

        async def near_hits() -> list[int]:
            one = [(await acached_get(Article, pk)).pk for pk in pks]
            many = await acached_get_many(Article, pks)
            article = await Article.objects.acached_get(pk=pks[0])
            article.views = 3
            assert await asmart_refresh(article, strategy="cache") == "cache"
            assert article.views == 0
            return [*one, *many, article.pk]

        assert on_the_loop(near_hits) == [*pks, *pks, pks[0]]
        assert loop_reads == []  # not even Redis: the near tier answered everything


def test_an_invalidation_reaches_what_the_loop_serves(private: Private, monkeypatch) -> None:
    """Another process's write: the row changes in the database and its token is retired in
    Redis, which pushes the invalidation to this process's near tier."""
    pk = make_articles(1)[0]
    with near_on(private) as cache:
        for _ in range(3):
            async_to_sync(acached_get)(Article, pk)
        assert len(cache.tier) == 1
        with unseen_cursor("pg") as cursor:
            cursor.execute(f"UPDATE {Article._meta.db_table} SET views = 5 WHERE id = %s", [pk])
        token = RowKeys(registry.plan(Article).table_tag("pg"), pk).token
        with private.server.client() as client:
            client.delete(get_store().store.make_key(token))  # type: ignore[attr-defined]
        deadline = time.monotonic() + PUSH_DEADLINE
        while len(cache.tier) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(cache.tier) == 0
        assert async_to_sync(acached_get)(Article, pk).views == 5  # a miss, in a thread
        async_to_sync(acached_get)(Article, pk)  # a Redis hit, in a thread: kept near
        forbid_hops(monkeypatch)
        assert on_the_loop(lambda: acached_get(Article, pk)).views == 5


def test_a_near_cache_that_is_not_serving_sends_the_loop_to_a_thread(
    private: Private, monkeypatch
) -> None:
    """Tracking down: the tier holds nothing it may serve, so every read goes to a thread,
    where the sync path reads Redis without keeping anything near."""
    pk = make_articles(1)[0]
    with near_on(private) as cache:
        for _ in range(3):
            async_to_sync(acached_get)(Article, pk)
        for link in cache.tier.links:  # as when tracking drops: not served until heard again
            cache.tier.flush(link)
        assert async_to_sync(acached_get)(Article, pk).pk == pk
        forbid_hops(monkeypatch)
        with pytest.raises(Hopped):
            on_the_loop(lambda: acached_get(Article, pk))
