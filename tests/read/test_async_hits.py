"""Native async hits: ``acached_get``, ``acached_get_many``, ``aget_object_or_404`` and
``asmart_refresh`` serve Redis-tier hits on the event loop, with no thread hop; misses, fills
and the database run in a thread (``sync_to_async``), under the sync path's rules."""

from __future__ import annotations

import asyncio
import datetime
import decimal
import threading
import uuid
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import connections, transaction
from django.db.models import Model
from django.http import Http404
from django.test import override_settings

from cachefresh import (
    acached_get,
    acached_get_many,
    asmart_refresh,
    cached_get,
    cached_get_many,
    databases,
    front,
    routes,
    smart_refresh,
    stats,
    unique,
)
from cachefresh.indexes import IndexedField, indexed_field
from cachefresh.registry import registry
from cachefresh.shortcuts import aget_object_or_404
from cachefresh.store import aio, get_store
from tests.support.no_hop import Hopped, forbid_hops, on_the_loop, reads_recorded
from tests.support.outcomes import outcome
from tests.testapp.models import AllTypes, Article, ArticleProxy, Post, Published, Writer

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def state(instance: Model) -> dict[str, Any]:
    """Everything a read leaves on an instance that a caller can see."""
    values = {key: value for key, value in instance.__dict__.items() if key != "_state"}
    return {"class": type(instance), "db": instance._state.db, "adding": instance._state.adding,
            **values}  # fmt: skip


def all_types() -> AllTypes:
    return AllTypes.objects.create(
        small=-3, integer=7, big=2**40, decimal=decimal.Decimal("12.34"), floating=1.5,
        text="été", char="x", boolean=True, date=datetime.date(2026, 12, 4),
        datetime=datetime.datetime(2026, 12, 4, 11, 0, tzinfo=datetime.UTC),
        duration=datetime.timedelta(seconds=90), uuid=uuid.uuid4(), binary=b"\x00\xff",
        json={"a": [1, 2.5, None, "b"]},
    )  # fmt: skip


def hits(model: type[Model]) -> int:
    return stats.snapshot().get(model._meta.label, {}).get("hit", 0)


def test_async_answers_equal_the_sync_answers(backend: str) -> None:
    """On every backend pair (the LocMem pair through ``sync_to_async``, the Redis pairs on the
    event loop), every async form answers what its sync form answers, hit or miss."""
    row = all_types()
    pks = list(Article.objects.bulk_create(Article(title=f"t{i}") for i in range(3)))
    article_pks = [article.pk for article in pks]

    def sync_answers() -> list[Any]:
        return [
            state(cached_get(AllTypes, row.pk)),
            state(AllTypes.objects.get(pk=row.pk)),
            state(cached_get(Article, article_pks[0])),
            {pk: state(a) for pk, a in cached_get_many(Article, [*article_pks, 10**6]).items()},
            state(Article.objects.cached_get(pk=article_pks[1])),
            state(Article.objects.all().cached_get(pk=article_pks[2])),
            state(ArticleProxy.objects.cached_get(pk=article_pks[2])),
        ]

    async def async_answers() -> list[Any]:
        many = await acached_get_many(Article, [*article_pks, 10**6])
        return [
            state(await acached_get(AllTypes, row.pk)),
            state(await acached_get(AllTypes, pk=row.pk)),
            state(await acached_get(Article, article_pks[0])),
            {pk: state(a) for pk, a in many.items()},
            state(await Article.objects.acached_get(pk=article_pks[1])),
            state(await Article.objects.all().acached_get(pk=article_pks[2])),
            state(await ArticleProxy.objects.acached_get(pk=article_pks[2])),
        ]

    cold = async_to_sync(async_answers)()  # misses: filled in a thread
    warm = async_to_sync(async_answers)()  # hits
    expected = sync_answers()
    assert cold == warm == expected
    assert state(async_to_sync(aget_object_or_404)(Article, pk=article_pks[0])) == expected[2]
    with pytest.raises(Http404):
        async_to_sync(aget_object_or_404)(Article, pk=10**6)
    with pytest.raises(Article.DoesNotExist):
        async_to_sync(acached_get)(Article, 10**6)


@pytest.mark.servers
def test_redis_tier_hits_stay_on_the_event_loop(servers: str, monkeypatch) -> None:
    """The proof: with every thread hop refused (``sync_to_async`` and the loop's executor),
    warm reads still answer, equal to the sync answers, and every store read ran on the loop's
    own thread. The same read of a cold row hops (the refusal is live)."""
    row = all_types()
    articles = Article.objects.bulk_create(Article(title=f"t{i}") for i in range(3))
    pks = [article.pk for article in articles]
    expected = [state(cached_get(AllTypes, row.pk)), state(cached_get(Article, pks[0]))]
    cached_get_many(Article, pks)
    hits_before = hits(Article)
    with reads_recorded(monkeypatch) as threads:
        forbid_hops(monkeypatch)

        async def read() -> tuple[int, list[Any]]:
            got = [
                state(await acached_get(AllTypes, row.pk)),
                state(await Article.objects.acached_get(pk=pks[0])),
            ]
            assert set(await acached_get_many(Article, pks)) == set(pks)
            assert set(await Article.objects.acached_get_many(iter(pks))) == set(pks)
            assert (await aget_object_or_404(Article, pk=pks[1])).pk == pks[1]
            assert (await Article.objects.all().acached_get(id=pks[2])).pk == pks[2]
            many = await asyncio.gather(*(acached_get(Article, pks[i % 3]) for i in range(50)))
            assert [article.pk for article in many] == [pks[i % 3] for i in range(50)]
            return threading.get_ident(), got

        loop_thread, got = on_the_loop(read)
        assert got == expected
        assert len(threads) == 56 and set(threads) == {loop_thread}
        assert hits(Article) - hits_before == 1 + 3 + 3 + 1 + 1 + 50  # AllTypes: 1

        cold = Article.objects.create(title="cold")
        with pytest.raises(Hopped):
            on_the_loop(lambda: acached_get(Article, cold.pk))


@pytest.mark.servers
def test_an_async_hit_never_outlives_a_write(servers: str) -> None:
    """Each write retires the row's token (or the table's generation); the event-loop hit
    validates the entry against both, exactly as the sync hit does. (Broken on purpose, the
    async hit serving the entry without checking its token, this test went red.)"""
    articles = Article.objects.bulk_create(Article(title=f"t{i}") for i in range(4))
    pks = [article.pk for article in articles]

    # async_to_sync, not asyncio.run: misses fill in this thread, whose connection the test
    # database's teardown closes (asyncio.run would leave one open in an executor thread).
    @async_to_sync
    async def read_async() -> dict[int, int]:
        return {pk: (await acached_get(Article, pk)).views for pk in pks}

    assert read_async() == dict.fromkeys(pks, 0)  # fills, in a thread
    assert read_async() == dict.fromkeys(pks, 0)  # hits
    article = Article.objects.get(pk=pks[0])
    article.views = 1
    article.save()
    Article.objects.filter(pk=pks[1]).update(views=2)
    Article.objects.bulk_update([Article(pk=pks[2], views=3)], ["views"])
    Article.objects.filter(title__startswith="t").exclude(pk__in=pks[:3]).update(views=4)
    assert read_async() == {pks[0]: 1, pks[1]: 2, pks[2]: 3, pks[3]: 4}
    assert read_async() == {pks[0]: 1, pks[1]: 2, pks[2]: 3, pks[3]: 4}
    Article.objects.filter(pk=pks[3]).delete()
    with pytest.raises(Article.DoesNotExist):
        async_to_sync(acached_get)(Article, pks[3])
    many = async_to_sync(acached_get_many)(Article, pks)
    assert {pk: a.views for pk, a in many.items()} == {pks[0]: 1, pks[1]: 2, pks[2]: 3}


@pytest.mark.servers
def test_a_transaction_that_wrote_the_table_is_read_in_its_own_thread(servers: str) -> None:
    """A sync caller inside ``atomic()`` that wrote the table calls async code: the event loop
    cannot see that thread's transaction, so it must not serve the hit; the read goes back to
    the caller's thread (``sync_to_async``), which reads its own write from the database.
    (Broken on purpose, judging the transaction from the loop's own connection, the loop
    served the committed row: views 0.)"""
    pk = Article.objects.create(title="t").pk
    instance = Article.objects.get(pk=pk)
    cached_get(Article, pk)
    cached_get(Article, pk)
    with transaction.atomic(using="pg"):
        Article.objects.filter(pk=pk).update(views=7)
        assert async_to_sync(acached_get)(Article, pk).views == 7
        assert async_to_sync(Article.objects.acached_get)(pk=pk).views == 7
        assert async_to_sync(acached_get_many)(Article, [pk])[pk].views == 7
        assert async_to_sync(aget_object_or_404)(Article, pk=pk).views == 7
        async_to_sync(asmart_refresh)(instance, strategy="cache")
        assert instance.views == 7
    # Committed: the loop serves hits again, of the new row.
    assert async_to_sync(acached_get)(Article, pk).views == 7
    assert asyncio.run(acached_get(Article, pk)).views == 7


@pytest.mark.servers
def test_asmart_refresh_applies_a_hit_on_the_event_loop(servers: str, monkeypatch) -> None:
    article = Article.objects.create(title="t")
    smart_refresh(article, strategy="full")  # fills the entry
    Article.objects.filter(pk=article.pk).update(views=5, title="new")
    stale = Article.objects.get(pk=article.pk)
    stale.views, stale.title = 0, "old"
    truth = Article.objects.get(pk=article.pk)
    truth.refresh_from_db()
    with reads_recorded(monkeypatch) as threads:
        # A miss first (the update retired the entry): the database, in a thread, fills.
        assert async_to_sync(asmart_refresh)(stale, strategy="cache") == "full"
        stale.views, stale.title = 0, "old"
        forbid_hops(monkeypatch)
        assert on_the_loop(lambda: asmart_refresh(stale, strategy="cache")) == "cache"
        assert state(stale) == state(truth)
        stale.views = 0
        assert on_the_loop(lambda: asmart_refresh(stale, ["views"], strategy="cache")) == "cache"
        assert stale.views == 5
        assert len(threads) == 3


def test_a_cache_that_is_not_redis_reads_in_a_thread(monkeypatch) -> None:
    """LocMem (and memcached, the database cache): no event-loop reader, so every async read
    runs the sync path through ``sync_to_async``, as before."""
    config = dict(settings.CACHEFRESH, CACHE="default", KEY_PREFIX=f"t{uuid.uuid4().hex[:12]}")
    with override_settings(CACHEFRESH=config):
        pk = Article.objects.create(title="t").pk
        cached_get(Article, pk)
        assert async_to_sync(acached_get)(Article, pk).pk == pk
        assert aio.reader_of(get_store()) is None
        forbid_hops(monkeypatch)
        with pytest.raises(Hopped):
            asyncio.run(acached_get(Article, pk))


@pytest.mark.servers
def test_a_filtering_manager_keeps_its_filter_on_the_event_loop(servers: str) -> None:
    hidden = Published.objects.create(title="draft", published=False)
    shown = Published.objects.create(title="out", published=True)
    for pk in (hidden.pk, shown.pk):  # both rows cached, read past the manager
        front.serve_get(Published._base_manager.all(), (), {"pk": pk})

    async def read() -> None:
        assert (await Published.objects.acached_get(pk=shown.pk)).title == "out"
        with pytest.raises(Published.DoesNotExist):
            await Published.objects.acached_get(pk=hidden.pk)
        with pytest.raises(Published.DoesNotExist):
            await acached_get(Published, hidden.pk)

    async_to_sync(read)()


def _in_a_fresh_thread(read: Any) -> dict[str, Any]:
    """``read()`` on an event loop in a thread of its own (so no database connection object
    of any thread's yet): what it answered (or the hop it tried), and the aliases whose
    connection objects the loop's thread made."""
    out: dict[str, Any] = {}

    def run() -> None:
        async def main() -> None:
            try:
                out["got"] = await read()
            except Hopped as hop:
                out["got"] = hop
            out["connections"] = [c.alias for c in connections.all(initialized_only=True)]

        asyncio.run(main())

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return out


@pytest.mark.servers
def test_the_event_loop_never_touches_a_database_connection(servers: str, monkeypatch) -> None:
    """Not even ``connections[alias]`` (Django forbids connecting from an event loop, and a
    connection's state is its thread's): what a read would learn from one (the pk column's
    range, the database's identity) is learned in the thread, by the sync path. (Broken on
    purpose, normalising the pk on the loop before the range was known, the loop's thread made
    a connection object for "pg".)"""
    pk = Article.objects.create(title="t").pk
    cached_get(Article, pk)
    cached_get(Article, pk)
    forbid_hops(monkeypatch)
    hit = _in_a_fresh_thread(lambda: acached_get(Article, pk))
    assert hit["got"].pk == pk and hit["connections"] == []
    plan = registry.plan(Article)
    # As in a process that never read Article: no route resolved, no pk range learned.
    monkeypatch.setattr(plan, "_int_bounds", {})
    monkeypatch.setattr(routes, "_routes", {})
    unknown_range = _in_a_fresh_thread(lambda: acached_get(Article, pk))
    assert unknown_range["connections"] == []
    assert isinstance(unknown_range["got"], Hopped)
    monkeypatch.undo()
    forbid_hops(monkeypatch)
    monkeypatch.setattr(databases, "_recent", {})  # as in a process that never connected
    monkeypatch.setattr(databases, "_segments", {})
    unknown_database = _in_a_fresh_thread(lambda: acached_get_many(Article, [pk]))
    assert isinstance(unknown_database["got"], Hopped) and unknown_database["connections"] == []


def slug_field() -> IndexedField:
    plan = registry.plan(Post)
    found = indexed_field(plan, "slug")
    assert found is not None
    return found


@pytest.mark.servers
def test_unique_lookup_hits_stay_on_the_event_loop(servers: str, monkeypatch) -> None:
    """By a field unique by itself: the pk this process last found holding the value, else the
    index entry, then the row's entry, all read on the loop, equal to the sync answers; a
    cached "no row holds it" raises on the loop too. The loop never touches a connection.
    (Broken on purpose, the loop serving the guessed row without the row check, the moved
    slug below was served.)"""
    writer = Writer.objects.create(email="w@example.com", number=7)
    post = Post.objects.create(slug="s", writer=writer)
    lookups = [
        (Post, {"slug": "s"}),
        (Post, {"slug__exact": "s"}),
        (Writer, {"email": "w@example.com"}),
        (Writer, {"number": "7"}),
    ]
    expected = [state(model.objects.get(**lookup)) for model, lookup in lookups]
    for model, lookup in lookups:  # fills in this thread, then judges the field exact here
        cached_get(model, **lookup)
        cached_get(model, **lookup)
    with pytest.raises(Post.DoesNotExist):
        cached_get(Post, slug="none")  # the absence is cached
    forbid_hops(monkeypatch)

    async def read() -> list[Any]:
        got = [state(await acached_get(model, **lookup)) for model, lookup in lookups]
        assert state(await Post.objects.acached_get(slug="s")) == expected[0]
        assert state(await Post.objects.all().acached_get(slug="s")) == expected[0]
        assert state(await aget_object_or_404(Post, slug="s")) == expected[0]
        with pytest.raises(Post.DoesNotExist):
            await acached_get(Post, slug="none")
        with pytest.raises(Http404):
            await aget_object_or_404(Post.objects.all(), slug="none")
        return got

    assert _in_a_fresh_thread(read) == {"got": expected, "connections": []}
    # As in a process that never looked these values up: through the index entries.
    monkeypatch.setattr(unique, "_guesses", {})
    assert _in_a_fresh_thread(read) == {"got": expected, "connections": []}
    # A value found before costs one read (the row's); another, two (the index entry's first).
    monkeypatch.setattr(unique, "_guesses", {})
    with reads_recorded(monkeypatch) as loop_reads:
        for _ in range(2):
            assert _in_a_fresh_thread(lambda: acached_get(Post, slug="s"))["got"].pk == post.pk
    assert len(loop_reads) == 2 + 1
    # The row moved on, and its entry was filled again: neither the guess nor the index entry
    # that names it serves it; the thread answers.
    unique.guess(unique.guess_key_of(routes.route(Post, "pg"), slug_field(), "s"), post.pk)
    Post.objects.filter(pk=post.pk).update(slug="t")
    cached_get(Post, post.pk)
    cached_get(Post, post.pk)
    assert isinstance(_in_a_fresh_thread(lambda: acached_get(Post, slug="s"))["got"], Hopped)
    monkeypatch.setattr(unique, "_guesses", {})
    assert isinstance(_in_a_fresh_thread(lambda: acached_get(Post, slug="s"))["got"], Hopped)
    # A cold value, and a field the sync path has not judged exact yet: the thread answers.
    assert isinstance(_in_a_fresh_thread(lambda: acached_get(Post, slug="t"))["got"], Hopped)
    slug_field().exact_on.clear()  # the next lookup in a thread judges it again
    assert isinstance(_in_a_fresh_thread(read)["got"], Hopped)


@pytest.mark.servers
def test_an_async_unique_hit_never_outlives_a_write(servers: str) -> None:
    """Writes that give a value away, take it, or delete its row: after the sync path warmed
    every value (guesses, index entries, cached absences), each async answer by slug is
    ``get()``'s, exception and message included."""
    first = Post.objects.create(slug="a")
    Post.objects.create(slug="b")

    def answers() -> dict[str, Any]:
        for slug in "abc":
            outcome(lambda slug=slug: cached_get(Post, slug=slug))
        return {s: outcome(lambda s=s: async_to_sync(acached_get)(Post, slug=s)) for s in "abc"}

    def truth() -> dict[str, Any]:
        return {s: outcome(lambda s=s: Post.objects.get(slug=s)) for s in "abc"}

    assert answers() == truth()
    Post.objects.filter(pk=first.pk).update(slug="c")  # gives "a" away, takes "c"
    assert answers() == truth()
    Post.objects.create(slug="a")  # takes "a" again
    assert answers() == truth()
    Post.objects.filter(slug="b").delete()
    assert answers() == truth()
