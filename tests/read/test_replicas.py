"""CACHEFRESH['REPLICAS']: a read replica shares its primary's entries and never fills them.

Entries are keyed by database alias, so without the setting a replica's entries would be its
own, and the primary's writes would never retire them.
"""

import uuid

import pytest
from django.conf import settings
from django.db import connections
from django.test import override_settings

from cachefresh import cached_get, cached_get_many, smart_refresh
from cachefresh.checks import check_cachefresh
from tests.testapp.models import Article, Post

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

MIRRORS = {"default": "replica", "pg": "pgreplica", "mysql": "mysqlsocket"}


@pytest.fixture
def replica(backend):
    """The backend pair's database with a mirror declared as its replica."""
    name = MIRRORS[backend]
    with override_settings(CACHEFRESH=dict(settings.CACHEFRESH, REPLICAS={name: backend})):
        yield name


def test_reads_through_a_replica_see_the_primarys_writes(replica, django_assert_num_queries):
    article = Article.objects.create(title="old")
    assert Article.objects.using(replica).cached_get(pk=article.pk).title == "old"
    with django_assert_num_queries(0, using=replica):
        hit = Article.objects.using(replica).cached_get(pk=article.pk)
    assert hit._state.db == replica
    Article.objects.filter(pk=article.pk).update(title="new")  # on the primary
    assert Article.objects.using(replica).cached_get(pk=article.pk).title == "new"
    assert cached_get_many(Article, [article.pk], using=replica)[article.pk].title == "new"
    Article.objects.filter(pk=article.pk).update(title="newer")
    stale = Article.objects.using(replica).get(pk=article.pk)
    for strategy in ("cache", "full", "columns", "auto"):
        stale.title = "scribbled"
        smart_refresh(stale, strategy=strategy, using=replica)
        assert (stale.title, stale._state.db) == ("newer", replica), strategy


def test_fills_read_the_primary_not_a_lagging_replica():
    """The "other" database plays a replica that has not caught up: it holds the old title."""
    article = Article.objects.create(title="new")
    with connections["other"].cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Article._meta.db_table} (id, title, body, views) VALUES (%s, %s, '', 0)",
            [article.pk, "old"],
        )
    config = {"KEY_PREFIX": f"t{uuid.uuid4().hex[:12]}", "REPLICAS": {"other": "default"}}
    with override_settings(CACHEFRESH=config):
        assert Article.objects.using("other").cached_get(pk=article.pk).title == "new"
        assert cached_get(Article, article.pk, using="other").title == "new"
        assert cached_get_many(Article, [article.pk], using="other")[article.pk].title == "new"
        lagging = Article.objects.using("other").get(pk=article.pk)
        assert lagging.title == "old"
        smart_refresh(lagging, strategy="columns", using="other")
        assert (lagging.title, lagging._state.db) == ("new", "other")


@pytest.mark.parametrize(
    "replicas, words",
    [
        ({"nowhere": "default"}, "'nowhere', which is not in DATABASES"),
        ({"replica": "replica"}, "which is not a primary"),
        ({"replica": "other", "other": "default"}, "which is not a primary"),
        (["replica"], "must map replica aliases"),
    ],
)
def test_bad_replicas_setting_is_reported(replicas, words):
    with override_settings(CACHEFRESH={"REPLICAS": replicas}):
        assert any(words in message.msg for message in check_cachefresh())


def test_a_unique_lookup_through_a_lagging_replica_never_poisons_the_primary():
    """The replica has not seen the post yet: its DoesNotExist must not be stored as the
    primary's answer (both share the primary's entries)."""
    post = Post.objects.create(slug="fresh", title="t")
    config = {"KEY_PREFIX": f"t{uuid.uuid4().hex[:12]}", "REPLICAS": {"other": "default"}}
    with override_settings(CACHEFRESH=config):
        assert not Post.objects.using("other").filter(slug="fresh").exists()  # lagging
        found = Post.objects.using("other").cached_get(slug="fresh")
        assert (found.pk, found._state.db) == (post.pk, "other")
        assert Post.objects.cached_get(slug="fresh").pk == post.pk
        assert cached_get(Post, slug="fresh").pk == post.pk
