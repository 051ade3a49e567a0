"""cachefresh on a private Sentinel setup (a primary, a replica, a Sentinel; loopback ports, every
process ended by its PID), through django-redis's Sentinel client, and ``WAIT_FOR_REPLICAS``.

What must hold: the store recognises the setup and runs the protocol on the primary; with
``WAIT_FOR_REPLICAS`` a retirement is on the replica once it returns; one no replica
acknowledges (a replica paused, or none left) is held in the outbox, replayed, and the cache is
treated as down in that process until a replica takes it; the near cache follows a failover
to the promoted replica and is kept fresh there.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings

from cachefresh import cached_get, cached_get_many, near, stats
from cachefresh.conf import get_settings
from cachefresh.store import get_store
from cachefresh.store.sentinel import SentinelStore
from tests.support.private_cache import make_articles
from tests.support.raw_entries import row_keys
from tests.support.redis_servers import RedisServer
from tests.support.routers import ACTIVE
from tests.support.sentinel import SentinelSetup, sentinel_setup
from tests.support.servers import require_servers
from tests.support.unseen import unseen_cursor
from tests.testapp.models import Article

pytestmark = [
    pytest.mark.django_db(transaction=True, databases="__all__"),
    pytest.mark.servers,
    pytest.mark.slow,
]


@pytest.fixture
def sentinel() -> Iterator[SentinelSetup]:
    require_servers()
    ACTIVE["alias"] = "pg"
    try:
        with sentinel_setup() as setup:
            yield setup
    finally:
        ACTIVE["alias"] = "default"


@contextlib.contextmanager
def through(setup: SentinelSetup, **cachefresh: Any) -> Iterator[None]:
    """cachefresh's cache is ``setup``'s primary, found through its Sentinel."""
    caches = {**settings.CACHES, "sentinel": setup.cache_entry()}
    options = {
        **settings.CACHEFRESH,
        "CACHE": "sentinel",
        "KEY_PREFIX": f"t{uuid.uuid4().hex[:12]}",
        "RETRY_INTERVAL": 0.2,
        **cachefresh,
    }
    with override_settings(CACHES=caches, CACHEFRESH=options):
        yield


def token_on(server: RedisServer, article: Article) -> bool:
    """Whether ``server`` holds the row's token (the key a retirement deletes)."""
    key = get_store().store.make_key(row_keys(article, "pg").token)  # type: ignore[attr-defined]
    with contextlib.closing(server.client()) as client:
        return bool(client.exists(key))


def until(test: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not test():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def hits() -> int:
    return stats.snapshot().get("testapp.Article", {}).get("hit", 0)


def test_the_store_runs_the_protocol_on_the_primary(sentinel: SentinelSetup) -> None:
    with through(sentinel):
        store = get_store().store
        assert isinstance(store, SentinelStore)
        assert store.kind == "Redis Sentinel"
        pk = make_articles(1)[0]
        before = hits()
        assert cached_get(Article, pk).views == 0
        assert cached_get(Article, pk).views == 0
        assert hits() == before + 1
        Article.objects.filter(pk=pk).update(views=4)
        assert cached_get(Article, pk).views == 4


def test_a_retirement_is_on_the_replica_when_it_returns(sentinel: SentinelSetup) -> None:
    assert sentinel.replica is not None
    with through(sentinel, WAIT_FOR_REPLICAS=1):
        article = Article.objects.get(pk=make_articles(1)[0])
        cached_get(Article, article.pk)
        assert until(lambda: token_on(sentinel.replica, article))  # type: ignore[arg-type]
        Article.objects.filter(pk=article.pk).update(views=2)
        assert not token_on(sentinel.replica, article)
        assert not get_store().outbox


def _held_then_delivered(
    sentinel: SentinelSetup, cut: Callable[[], None], mend: Callable[[], None]
) -> None:
    """A retirement no replica acknowledges: applied on the primary, held in the outbox, and
    the cache treated as down here (reads from the database) until a replica takes it."""
    with through(sentinel, WAIT_FOR_REPLICAS=1):
        article = Article.objects.get(pk=make_articles(1)[0])
        cached_get(Article, article.pk)
        cached_get(Article, article.pk)
        cut()
        Article.objects.filter(pk=article.pk).update(views=3)
        guarded = get_store()
        assert guarded.is_pending(row_keys(article, "pg").token)
        assert guarded.breaker.failing
        assert not token_on(sentinel.primary, article)  # the primary has it all the same
        before = hits()
        assert cached_get(Article, article.pk).views == 3
        assert hits() == before  # the database answered
        mend()
        assert until(lambda: not guarded.outbox), "the outbox never delivered"
        assert until(lambda: not guarded.breaker.failing)
        cached_get(Article, article.pk)
        assert cached_get(Article, article.pk).views == 3
        assert hits() > before


def test_a_paused_replica_holds_retirements_until_it_answers(sentinel: SentinelSetup) -> None:
    replica = sentinel.replica
    assert replica is not None
    _held_then_delivered(sentinel, replica.pause, replica.resume)


def test_a_primary_with_no_replica_left_is_treated_as_down(sentinel: SentinelSetup) -> None:
    replica = sentinel.replica
    assert replica is not None

    def rejoin() -> None:
        replica.start()  # empty, on its port, replicating from the primary: a full resync
        assert sentinel.replica_synced()

    _held_then_delivered(sentinel, replica.kill, rejoin)


def held_near() -> tuple[near.NearCache, Article]:
    """The near cache, serving, and a row it holds."""
    cache = near.current()
    assert cache is not None and cache.wait_serving(5)
    article = Article.objects.get(pk=make_articles(1)[0])
    cached_get_many(Article, [article.pk])
    cached_get(Article, article.pk)
    cached_get(Article, article.pk)
    assert len(cache.tier) == 1
    return cache, article


def write_elsewhere(server: RedisServer, article: Article, views: int) -> bool:
    """A write in another process, retired on ``server``: whether a token was there."""
    with unseen_cursor("pg") as cursor:
        table = Article._meta.db_table
        cursor.execute(f"UPDATE {table} SET views = %s WHERE id = %s", [views, article.pk])
    token = get_store().store.make_key(row_keys(article, "pg").token)  # type: ignore[attr-defined]
    with contextlib.closing(server.client()) as client:
        return bool(client.delete(token))


def test_the_near_cache_tracks_the_promoted_replica(sentinel: SentinelSetup) -> None:
    replica = sentinel.replica
    assert replica is not None
    with through(sentinel, NEAR_CACHE=True):
        cache, article = held_near()
        sentinel.fail_over()
        assert until(cache.tier.serving, 10), "tracking did not come back on the new primary"
        assert len(cache.tier) == 0  # flushed: nothing held from before the failover
        with contextlib.closing(replica.client()) as client:
            names = [c.get("name") for c in client.client_list()]
        assert near.CLIENT_NAME + get_settings().key_prefix in names
        assert until(lambda: cached_get(Article, article.pk).views == 0 and len(cache.tier) == 1)
        # The new primary must push the invalidation of another process's write here.
        assert write_elsewhere(replica, article, 8)
        assert until(lambda: len(cache.tier) == 0, 2), "the push from the new primary was missed"
        assert cached_get(Article, article.pk).views == 8


def test_a_planned_failover_leaves_no_row_held_stale(sentinel: SentinelSetup) -> None:
    """``SENTINEL FAILOVER``: the old primary lives on, a primary until the Sentinel demotes
    it, and keeps answering the subscriber's heartbeats. A row read there before must not be
    served once the new primary takes a write."""
    replica = sentinel.replica
    assert replica is not None
    with through(sentinel, NEAR_CACHE={"MAX_LAG": 0.2}):
        cache, article = held_near()
        sentinel.switch_over()
        write_elsewhere(replica, article, 4)
        time.sleep(0.3)  # past MAX_LAG
        assert cached_get(Article, article.pk).views == 4, "a row held from before the failover"
        assert until(cache.tier.serving, 10), "tracking did not come back on the new primary"


def test_a_read_that_reaches_another_server_never_tracks_there(sentinel: SentinelSetup) -> None:
    """After a failover the reads may reach the new primary before the subscriber does (a
    primary that lives on keeps its subscribers until the Sentinel demotes it). A data
    connection must then not turn tracking on with the subscriber's client id, which names no
    client, or another one, on that server: it refuses to read, and the subscriber follows.
    Here the data connections are pointed at the replica by hand, as the Sentinel's answer
    would point them after a failover, while the subscriber stays on the primary.

    Broken on purpose (data connections not compared with the subscriber's server), the read
    was served, tracked on the replica for a client id of the primary's."""
    replica = sentinel.replica
    assert replica is not None
    with through(sentinel, NEAR_CACHE=True):
        cache = near.current()
        assert cache is not None and cache.wait_serving(5)
        tracker: Any = cache.tracker
        pk = make_articles(1)[0]
        cached_get(Article, pk)
        serial = tracker._session[0]
        pool = tracker.connections.pool
        pool.connection_kwargs["connection_pool"] = _Fixed(("127.0.0.1", replica.port))
        pool.disconnect()
        pool.reset()  # new connections, made with the stand-in
        assert cache.read(get_store(), [row_keys(Article(pk=pk), "pg").entry]) is None
        assert until(lambda: tracker._session is None or tracker._session[0] > serial, 2)


class _Fixed:
    """A Sentinel pool's stand-in that names one server as the primary."""

    is_master = True
    check_connection = False

    def __init__(self, address: tuple[str, int]) -> None:
        self.address = address

    def get_master_address(self) -> tuple[str, int]:
        return self.address
