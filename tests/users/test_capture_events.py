"""cachefresh.test: CaptureCacheEvents, the assertions, the TestCase mixin and the pytest
fixtures, counting what every read path did (near-cache hits included)."""

import pytest
from django.db import transaction
from django.test import TransactionTestCase

from cachefresh import cached_get, cached_get_many, smart_refresh, smart_refresh_many
from cachefresh.shortcuts import get_object_or_404
from cachefresh.signals import cache_fill, cache_hit, cache_miss
from cachefresh.test import CacheAssertionsMixin, CaptureCacheEvents, assert_cache_events
from tests.support.redis_keys import forget_keys_of_this_test
from tests.testapp.models import Article, ArticleProxy, Author, Post

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


@pytest.fixture
def _forget_keys(backend):
    yield
    forget_keys_of_this_test()


def test_hits_misses_fills_and_why(backend, _forget_keys):
    first, second = Article.objects.create(title="a"), Article.objects.create(title="b")
    with CaptureCacheEvents() as events:
        cached_get(Article, first.pk)  # miss, fill
        cached_get(Article, first.pk)  # hit
        cached_get_many(Article, [first.pk, second.pk])  # hit; miss, fill
    assert (events.hits, events.misses, events.fills) == (2, 2, 2)
    assert events.miss_reasons == {"absent": 2}
    assert [(e.kind, e.pk) for e in events.events] == [
        ("miss", first.pk),
        ("fill", first.pk),
        ("hit", first.pk),
        ("hit", first.pk),
        ("miss", second.pk),
        ("fill", second.pk),
    ]
    assert {e.using for e in events.events} == {backend}


def test_the_same_per_model_proxies_under_their_own_label(backend, _forget_keys):
    author = Author.objects.create(name="w")
    article = Article.objects.create(title="a", author=author)
    cached_get(Article, article.pk)
    with CaptureCacheEvents() as events:
        cached_get(Author, author.pk)
        cached_get(ArticleProxy, article.pk)
    assert set(events.by_model) == {"testapp.Author", "testapp.ArticleProxy"}
    assert events.of(Author).misses == 1 and events.of("testapp.Author").fills == 1
    assert events.of(ArticleProxy).hits == 1
    assert events.of(Article).hits == 0  # asked for through the proxy


def test_a_transaction_that_wrote_the_table_misses_with_its_reason(backend, _forget_keys):
    article = Article.objects.create(title="a")
    with transaction.atomic(using=backend), CaptureCacheEvents() as events:
        Article.objects.filter(pk=article.pk).update(title="b")
        assert cached_get(Article, article.pk).title == "b"
    assert events.miss_reasons == {"written_in_transaction": 1}
    assert (events.hits, events.fills) == (0, 0)


def test_unique_lookups_and_their_cached_absence(backend, _forget_keys):
    post = Post.objects.create(slug="s")
    with CaptureCacheEvents() as cold:
        Post.objects.cached_get(slug="s")  # the index misses: the row is not known yet
    assert [(e.kind, e.pk, e.reason) for e in cold.events] == [("miss", None, "absent")]
    with CaptureCacheEvents() as second:
        get_object_or_404(Post, slug="s")  # the index names the row, whose entry misses
    assert [(e.kind, e.pk) for e in second.events] == [("miss", post.pk), ("fill", post.pk)]
    with CaptureCacheEvents() as warm:
        get_object_or_404(Post, slug="s")
        with pytest.raises(Post.DoesNotExist):
            Post.objects.cached_get(slug="none")
        with pytest.raises(Post.DoesNotExist):
            Post.objects.cached_get(slug="none")  # "no such row", from the cache
    assert [(e.kind, e.pk) for e in warm.events] == [
        ("hit", post.pk),
        ("miss", None),
        ("hit", None),
    ]


def test_refresh_fills_are_fills(backend, _forget_keys):
    articles = [Article.objects.create(title=str(i)) for i in range(3)]
    with CaptureCacheEvents() as events:
        smart_refresh(articles[0], strategy="full")
        smart_refresh_many(articles[1:], strategy="full")
    assert events.fills == 3 and {e.pk for e in events.events} == {a.pk for a in articles}


def test_receivers_are_gone_after_the_block():
    before = [list(s.receivers) for s in (cache_hit, cache_miss, cache_fill)]
    with CaptureCacheEvents(), CaptureCacheEvents():
        assert len(cache_hit.receivers) == len(before[0]) + 2
    assert [list(s.receivers) for s in (cache_hit, cache_miss, cache_fill)] == before


def test_assert_cache_events_lists_what_happened_when_it_fails(backend, _forget_keys):
    article = Article.objects.create(title="a")
    with assert_cache_events(hits=0, misses=1, fills=1, model=Article):
        cached_get(Article, article.pk)
    with pytest.raises(AssertionError) as excinfo, assert_cache_events(hits=2, misses=0):
        cached_get(Article, article.pk)
    message = str(excinfo.value)
    assert message.startswith("cachefresh: 1 hits (expected 2).")
    assert f"1. hit testapp.Article pk={article.pk} on {backend!r}" in message
    with pytest.raises(AssertionError, match=r"of testapp\.Author: 0 hits"):  # noqa: SIM117
        with assert_cache_events(hits=1, model=Author):
            cached_get(Article, article.pk)


def test_the_pytest_fixtures(
    backend, _forget_keys, cachefresh_assert_hits, cachefresh_assert_events
):
    article = Article.objects.create(title="a")
    with cachefresh_assert_events(misses=1, fills=1):
        cached_get(Article, article.pk)
    with cachefresh_assert_hits(2, model="testapp.Article"):
        cached_get(Article, article.pk)
        cached_get_many(Article, [article.pk])
    with pytest.raises(AssertionError), cachefresh_assert_hits(1):
        pass


def test_near_cache_hits_are_counted(servers):
    from tests.support.private_cache import near_on, private_cache

    with private_cache() as private:
        article = Article.objects.create(title="a")
        with near_on(private) as near:
            cached_get(Article, article.pk)  # fills Redis
            cached_get(Article, article.pk)  # a Redis hit, kept near
            assert len(near.tier) == 1
            with CaptureCacheEvents() as events:
                cached_get(Article, article.pk)
                Article.objects.cached_get(pk=article.pk)
                cached_get_many(Article, [article.pk])
        assert events.hits == 3 and events.misses == 0


class MixinTests(CacheAssertionsMixin, TransactionTestCase):
    """The mixin as a Django test case uses it (on the default pair: SQLite, LocMemCache)."""

    databases = frozenset({"default"})

    def test_assert_cache_hits_as_context_and_with_a_callable(self):
        article = Article.objects.create(title="a")
        with self.assertCacheEvents(misses=1, fills=1):
            cached_get(Article, article.pk)
        with self.assertCacheHits(1, model=Article):
            cached_get(Article, article.pk)
        found = self.assertCacheHits(1, cached_get, Article, article.pk)
        assert found == article
        with self.assertRaises(AssertionError):
            self.assertCacheHits(0, cached_get, Article, article.pk)
