"""The near cache (NEAR_CACHE): rows served from the process, kept fresh by Redis push.

Every test runs on a private ``redis-server`` (its keys die with it) and PostgreSQL. What must
hold: a near hit costs no round trip; a fill that races an invalidation is dropped; a write in
this process is read back at once, even with Redis paused; a write in another process is seen
within the push delay; tracking lost or silent flushes the tier; no stale row after an outage.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import statistics
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.core.management import call_command
from django.db import connections, transaction
from django.test import override_settings

from cachefresh import (
    acached_get,
    cached_get,
    cached_get_many,
    front,
    near,
    routes,
    smart_refresh,
    stats,
)
from cachefresh.checks import check_near_cache
from cachefresh.conf import validate
from cachefresh.instances import DEFAULT_FETCH_MODE
from cachefresh.keys import RowKeys
from cachefresh.registry import registry
from cachefresh.signals import cache_hit
from cachefresh.store import get_store
from tests.support.near_workers import near_reader
from tests.support.private_cache import Private, assert_clean, make_articles, near_on, private_cache
from tests.support.redis_servers import run_fault_workers
from tests.support.unseen import unseen_cursor
from tests.testapp.models import Article, Published

pytestmark = [pytest.mark.django_db(transaction=True, databases="__all__"), pytest.mark.servers]

LABEL = "testapp.Article"


@pytest.fixture
def private() -> Iterator[Private]:
    with private_cache() as setup:
        yield setup


def counted(event: str) -> int:
    return stats.snapshot().get(LABEL, {}).get(event, 0)


def warm(cache: near.NearCache, pk: int) -> None:
    """Miss (fills Redis), then a Redis hit (fills the near tier)."""
    cached_get_many(Article, [pk])
    cached_get(Article, pk)
    cached_get(Article, pk)
    assert len(cache.tier) >= 1


def foreign_write(private: Private, pk: int, views: int) -> None:
    """What a write in another process does: the row in the database, then its token retired."""
    with unseen_cursor("pg") as cursor:
        cursor.execute(f"UPDATE {Article._meta.db_table} SET views = %s WHERE id = %s", [views, pk])
    plan = registry.plan(Article)
    token = RowKeys(plan.table_tag("pg"), pk).token
    with private.server.client() as client:
        client.delete(get_store().store.make_key(token))  # type: ignore[attr-defined]


# --- settings and checks ----------------------------------------------------------------------


def test_setting_is_validated() -> None:
    assert validate({"NEAR_CACHE": True}) == []
    assert validate({"NEAR_CACHE": {"MAX_ENTRIES": 10, "MAX_LAG": 0.5}}) == []
    assert "NEAR_CACHE" in validate({"NEAR_CACHE": "yes"})[0]
    assert "MAX_ENTRIES" in validate({"NEAR_CACHE": {"MAX_ENTRIES": 0}})[0]
    assert "MAX_LAG" in validate({"NEAR_CACHE": {"MAX_LAG": -1}})[0]
    assert "unknown key 'TTL'" in validate({"NEAR_CACHE": {"TTL": 1}})[0]


def test_near_cache_on_a_cache_that_cannot_push_is_an_error() -> None:
    with override_settings(CACHEFRESH={"CACHE": "default", "NEAR_CACHE": True}):
        assert [m.id for m in check_near_cache()] == ["cachefresh.E006"]
        assert near.current() is None  # and it never serves there
    with override_settings(CACHEFRESH={"CACHE": "default"}):
        assert check_near_cache() == []


@pytest.mark.parametrize("command", ["client|tracking", "client|list"])
def test_a_server_refusing_what_tracking_needs_is_E007_and_holds_nothing(
    private: Private, command: str
) -> None:
    """CLIENT LIST too: each heartbeat lists the server's clients to know that the data
    connections, under whose ids Redis tracks what they read, still exist."""
    pk = make_articles(1)[0]
    with private.server.client() as client:
        client.execute_command("ACL", "SETUSER", "default", f"-{command}")
    private.cachefresh = {**private.cachefresh, "NEAR_CACHE": {"MAX_LAG": 0.2}}
    try:
        with override_settings(CACHEFRESH=private.cachefresh):
            (error,) = check_near_cache()
            assert error.id == "cachefresh.E007"
            assert f"127.0.0.1:{private.server.port}" in error.msg and command in error.msg
            assert f"+{command}" in error.hint
            cache = near.current()
            assert cache is not None
            time.sleep(0.5)
            assert not cache.tier.serving()
            for _ in range(3):  # no error reaches a caller; nothing is held
                assert cached_get(Article, pk).views == 0
            assert len(cache.tier) == 0
    finally:
        with private.server.client() as client:
            client.execute_command("ACL", "SETUSER", "default", f"+{command}")


# --- hits, fills, read-your-writes ------------------------------------------------------------


def test_a_near_hit_costs_no_round_trip(private: Private) -> None:
    pk = make_articles(1)[0]
    with near_on(private) as cache:
        warm(cache, pk)
        store = get_store()
        calls = []
        real = store.get_many
        store.get_many = lambda *a, **k: calls.append(a) or real(*a, **k)  # type: ignore[method-assign]
        hits = counted("near_hit")
        for _ in range(20):
            assert cached_get(Article, pk).views == 0
            assert smart_refresh(Article.objects.get(pk=pk), strategy="cache") == "cache"
            assert cached_get_many(Article, [pk])[pk].views == 0
        assert calls == []
        assert counted("near_hit") - hits == 60


def test_a_fill_overtaken_by_an_invalidation_is_dropped(private: Private, monkeypatch) -> None:
    """The invalidation lands between the Redis reply and the store into the tier."""
    pk = make_articles(1)[0]
    with near_on(private) as cache:
        cached_get(Article, pk)  # Redis holds the row; the tier not yet
        assert len(cache.tier) == 0
        real_read = cache.tracker.read

        def read_then_invalidate(keys: list[str]) -> list[Any]:
            reply = real_read(keys)  # the row at views=0, valid
            foreign_write(private, pk, 5)
            deadline = time.monotonic() + 5
            while cache.tier._watch and time.monotonic() < deadline:
                time.sleep(0.001)  # until the listener has heard the push
            assert not cache.tier._watch, "the listener never heard the invalidation"
            return reply

        monkeypatch.setattr(cache.tracker, "read", read_then_invalidate)
        assert cached_get(Article, pk).views == 0  # what Redis said before the write
        monkeypatch.undo()
        assert len(cache.tier) == 0, "a fill older than an invalidation was kept"
        assert cached_get(Article, pk).views == 5


def test_a_write_in_this_process_is_read_back_at_once(private: Private) -> None:
    pks = make_articles(2)
    with near_on(private) as cache:
        for views, pk in enumerate(pks, 1):
            warm(cache, pk)
            Article.objects.filter(pk=pk).update(views=views)
            assert cached_get(Article, pk).views == views
        with transaction.atomic():
            article = Article.objects.get(pk=pks[0])
            article.views = 10
            article.save()
        assert cached_get(Article, pks[0]).views == 10


def test_read_your_writes_holds_with_redis_paused(private: Private) -> None:
    """The retirement waits in the outbox; the near row must still go at commit."""
    pk = make_articles(1)[0]
    with near_on(private, MAX_LAG=5) as cache:
        warm(cache, pk)
        private.server.pause()
        try:
            Article.objects.filter(pk=pk).update(views=3)  # Redis times out: to the outbox
            assert get_store().outbox
            assert cached_get(Article, pk).views == 3
        finally:
            private.server.resume()


def test_a_mutable_value_held_near_is_not_shared_with_instances(private: Private) -> None:
    pk = make_articles(1)[0]
    with near_on(private) as cache:
        warm(cache, pk)
        held = cache.tier.get_many([next(iter(cache.tier._rows))])
        assert held is not None and held[0] is not None
        cache.tier._rows[next(iter(cache.tier._rows))].mutable = True  # as a JSON field's row
        first = cache.tier.get_many([next(iter(cache.tier._rows))])
        assert first is not None and first[0] is not held[0]


def test_acached_get_answers_a_near_hit_without_a_thread(private: Private, monkeypatch) -> None:
    pk = make_articles(1)[0]
    with near_on(private) as cache:
        warm(cache, pk)

        def no_thread(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError("a near hit hopped to a thread")

        # A cache_hit receiver (the debug toolbar's, once imported) may be sync-only: with one
        # connected, near hits run in a thread too. None here.
        monkeypatch.setattr(cache_hit, "receivers", [])
        monkeypatch.setattr("cachefresh.api.sync_to_async", no_thread)
        monkeypatch.setattr("cachefresh.manager.sync_to_async", no_thread)
        assert asyncio.run(acached_get(Article, pk)).pk == pk
        assert asyncio.run(Article.objects.acached_get(pk=pk)).pk == pk


def test_near_hits_keep_a_filtering_default_managers_filter(private: Private) -> None:
    """The near tier holds rows, not querysets: a manager's filter must still apply.

    The async misses query in a thread: async_to_sync makes it this one, whose connection
    the test database's teardown closes (asyncio.run would leave one open in an executor)."""
    hidden = Published.objects.create(title="draft", published=False)
    with near_on(private):
        for _ in range(2):  # the row, read past the manager (rows are cached, not querysets)
            front.serve_get(Published._base_manager.all(), (), {"pk": hidden.pk})
        assert routes.route(Published, "pg").held(hidden.pk) is not None
        with pytest.raises(Published.DoesNotExist):
            Published.objects.cached_get(pk=hidden.pk)
        with pytest.raises(Published.DoesNotExist):
            cached_get(Published, hidden.pk)
        with pytest.raises(Published.DoesNotExist):
            async_to_sync(acached_get)(Published, hidden.pk)
        with pytest.raises(Published.DoesNotExist):
            async_to_sync(Published.objects.acached_get)(pk=hidden.pk)


def test_a_transaction_that_wrote_the_table_reads_past_the_near_tier(private: Private) -> None:
    pk = make_articles(1)[0]
    with near_on(private) as cache:
        warm(cache, pk)
        with transaction.atomic(using="pg"):
            Article.objects.filter(pk=pk).update(views=7)
            assert cached_get(Article, pk).views == 7
            assert Article.objects.cached_get(pk=pk).views == 7
            assert cached_get_many(Article, [pk])[pk].views == 7
        assert cached_get(Article, pk).views == 7


# --- staleness is bounded, never silent -------------------------------------------------------


def test_silence_past_max_lag_flushes_and_stops_serving(private: Private) -> None:
    pk = make_articles(1)[0]
    with near_on(private, MAX_LAG=0.3) as cache:
        warm(cache, pk)
        private.server.pause()
        try:
            time.sleep(0.3)
            assert not cache.tier.serving()
            time.sleep(0.5)
            assert len(cache.tier) == 0, "silence past MAX_LAG did not flush the tier"
            assert not cache.tracker.tracking
        finally:
            private.server.resume()
        assert cache.wait_serving(5), "tracking did not come back"
        assert stats.snapshot()["near"]["near_flush"] >= 1
        foreign_write(private, pk, 4)
        assert cached_get(Article, pk).views == 4


def test_kill_and_restart_reach_no_caller_and_leave_nothing_stale(private: Private) -> None:
    pks = make_articles(5)
    with near_on(private) as cache:
        for pk in pks:
            warm(cache, pk)
        errors: list[str] = []
        stop = threading.Event()

        def reader() -> None:
            while not stop.is_set():
                try:
                    cached_get_many(Article, pks)
                    cached_get(Article, pks[0])
                except Exception as exc:
                    errors.append(repr(exc))
            connections.close_all()  # this thread's own database connection

        thread = threading.Thread(target=reader)
        thread.start()
        try:
            time.sleep(0.2)
            private.server.kill()
            Article.objects.filter(pk__in=pks).update(views=7)
            time.sleep(0.5)
            private.server.start()
            time.sleep(2.5)
            assert {
                pk: a.views for pk, a in cached_get_many(Article, pks).items()
            } == dict.fromkeys(pks, 7)
            # A write in another process after recovery is heard again.
            foreign_write(private, pks[1], 8)
            time.sleep(0.1)
            assert cached_get(Article, pks[1]).views == 8
        finally:
            stop.set()
            thread.join()
        assert errors == []
        assert cache.tier.serving()


@pytest.mark.parametrize("closed_by", ["CLIENT KILL TYPE normal", "the server's idle timeout"])
def test_a_data_connection_the_server_closed_takes_its_rows_with_it(
    private: Private, closed_by: str
) -> None:
    """Redis files what a connection read under that connection's client id: once the server
    has closed it (a Sentinel failover kills every normal client; ``timeout`` closes idle
    ones), a change to what it read is pushed to no one. The subscriber, a pub/sub client,
    lives on and keeps answering heartbeats."""
    pk = make_articles(1)[0]
    with near_on(private, MAX_LAG=0.2) as cache:
        warm(cache, pk)
        with private.server.client() as client:
            if closed_by == "CLIENT KILL TYPE normal":
                client.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
            else:
                client.config_set("timeout", 1)
        try:
            if closed_by != "CLIENT KILL TYPE normal":
                time.sleep(2.5)  # idle past the timeout, which Redis enforces once a second
            foreign_write(private, pk, 6)
            time.sleep(0.2)
            assert cache.tracker.tracking, "the subscriber was closed too: not this case"
            assert cached_get(Article, pk).views == 6, "a row read on a closed connection"
        finally:
            with private.server.client() as client:
                client.config_set("timeout", 0)
        # Held again, and heard again, on the connection that replaced it.
        warm(cache, pk)
        foreign_write(private, pk, 7)
        time.sleep(0.2)
        assert cached_get(Article, pk).views == 7


# --- other processes --------------------------------------------------------------------------


@pytest.mark.slow
def test_a_write_in_another_process_is_seen_within_50_ms(private: Private) -> None:
    pk = make_articles(1)[0]
    with near_on(private):
        ctx = multiprocessing.get_context("spawn")
        ours, theirs = ctx.Pipe()
        child = ctx.Process(target=near_reader, args=(private.caches, private.cachefresh, theirs))
        child.start()
        delays = []
        try:
            ours.send(pk)
            for views in range(1, 41):
                ours.send(views)
                assert ours.recv() == "ready"
                time.sleep(0.01)
                Article.objects.filter(pk=pk).update(views=views)
                committed = time.monotonic()
                delays.append(ours.recv() - committed)
            ours.send(None)
            near_hits = ours.recv()
        finally:
            child.join(10)
            if child.is_alive():
                child.kill()
    delays.sort()
    median, p99 = statistics.median(delays), delays[int(0.99 * (len(delays) - 1))]
    print(f"\ncross-process invalidation: median {median * 1e3:.2f} ms, p99 {p99 * 1e3:.2f} ms")
    assert near_hits > 40, "the other process was not serving from its near cache"
    assert max(delays) < 1.0, delays
    assert median < 0.05, delays


@pytest.mark.slow
def test_storm_with_the_near_cache_leaves_nothing_stale(private: Private) -> None:
    pks = make_articles(30, body="x" * 500)
    cachefresh = {**private.cachefresh, "NEAR_CACHE": True}
    reports = run_fault_workers(private.caches, cachefresh, pks, workers=3, seconds=2.5)
    print(
        "\nnear storm: near hits",
        [r["near_hits"] for r in reports],
        "of",
        [r["hits"] for r in reports],
    )
    assert_clean(reports)
    assert all(report["near_hits"] > 0 for report in reports), "the near cache was not in play"


def test_stats_command_shows_the_near_cache(private: Private, capsys) -> None:
    pk = make_articles(1)[0]
    with near_on(private) as cache:
        warm(cache, pk)
        call_command("cachefresh", "stats", "--json")
    out = capsys.readouterr().out
    assert '"near_hit"' in out
    assert '"tracking_processes": 1' in out


@pytest.mark.skipif(DEFAULT_FETCH_MODE is None, reason="fetch modes came with Django 6.1")
def test_near_hits_keep_the_querysets_fetch_mode(private: Private, monkeypatch) -> None:
    """Each way to a near hit builds it in the fetch mode its queryset would load it in."""
    from django.db.models import FETCH_PEERS

    pk = make_articles(1)[0]
    with near_on(private) as cache:
        warm(cache, pk)
        monkeypatch.setattr(cache_hit, "receivers", [])
        peers = Article.objects.fetch_mode(FETCH_PEERS)
        hits = counted("near_hit")
        served = {
            "cached_get()": (cached_get(Article, pk), Article.objects.all()),
            "manager": (Article.objects.cached_get(pk=pk), Article.objects.all()),
            "queryset": (peers.cached_get(pk=pk), peers),
            "async queryset": (asyncio.run(peers.acached_get(pk=pk)), peers),
        }
        assert counted("near_hit") - hits == len(served)
        for way, (hit, queryset) in served.items():
            expected = queryset.get(pk=pk)
            assert state_of(hit) == state_of(expected), way


def state_of(instance: Article) -> tuple[Any, ...]:
    """The loading state a fetch mode sets (Django 6.1 may add ``fields_cache`` when it
    collects another instance's state, so that key is left out)."""
    state = vars(instance._state)
    peers = [peer().pk for peer in state.get("peers", ())]
    return state["adding"], state["db"], state.get("fetch_mode"), peers
