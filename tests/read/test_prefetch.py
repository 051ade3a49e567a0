"""prefetch_cached() leaves instances exactly as prefetch_related_objects() and select_related()
do, and serves forward relations to cached models from the cache.

Each comparison loads two fresh lists of the same rows, prefetches one with Django and one
with cachefresh, and compares every field, every relation cache (``_state.fields_cache``) and
every ``_prefetched_objects_cache``, recursively: the same objects, values and caches.
"""

from typing import Any

import pytest
from django.db import connections
from django.db.models import Model, Prefetch, prefetch_related_objects
from django.test.utils import CaptureQueriesContext

from cachefresh import prefetch_cached
from tests.support.redis_keys import forget_keys_of_this_test
from tests.testapp.models import NotCached, Post, PostDetail, Publisher, Writer

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


@pytest.fixture(autouse=True)
def _forget_keys(backend):
    yield
    forget_keys_of_this_test()


def state(obj: Any, seen: frozenset[int] = frozenset()) -> Any:
    """Everything prefetching can set on ``obj``, recursively; a cycle is named, not followed."""
    if not isinstance(obj, Model):
        return obj
    if id(obj) in seen:
        return ("cycle", type(obj).__name__, obj.pk)
    seen = seen | {id(obj)}
    fields = [(f.attname, getattr(obj, f.attname)) for f in obj._meta.concrete_fields]
    caches = sorted((name, state(value, seen)) for name, value in obj._state.fields_cache.items())
    prefetched = getattr(obj, "_prefetched_objects_cache", None)
    if prefetched is not None:
        prefetched = sorted(
            (name, [state(item, seen) for item in values]) for name, values in prefetched.items()
        )
    return (type(obj).__name__, obj._state.db, fields, caches, prefetched)


@pytest.fixture
def data(backend):
    publishers = [Publisher.objects.create(code=f"p{i}") for i in range(2)]
    writers = [
        Writer.objects.create(email=f"w{i}@x", publisher=publishers[i % 2] if i < 3 else None)
        for i in range(4)
    ]
    gone = Writer.objects.create(email="gone@x")
    editor = NotCached.objects.create(name="ed")
    posts = []
    for i in range(8):
        posts.append(
            Post.objects.create(
                slug=f"s{i}",
                writer=writers[i % 4] if i != 7 else None,
                former=gone if i % 2 else writers[0],
                editor=editor if i % 3 == 0 else None,
            )
        )
    for post in posts[:5]:
        PostDetail.objects.create(post=post, words=post.pk)
    PostDetail.objects.create(post=None)
    gone_pk = gone.pk
    gone.delete()  # former_id still names it: no constraint in the database
    assert Post.objects.filter(former_id=gone_pk).count() == 4
    return backend


def fresh_posts() -> list[Post]:
    return list(Post.objects.order_by("pk"))


def fresh_details() -> list[PostDetail]:
    return list(PostDetail.objects.order_by("pk"))


LOOKUPS = [
    ("writer",),
    ("former",),
    ("writer__publisher",),
    ("writer", "writer__publisher"),
    ("writer__publisher", "former__publisher"),
    ("writer__posts",),  # reverse: Django's
    ("editor",),  # an uncached target: Django's
    ("writer__posts__writer",),
    (Prefetch("writer"),),
    ("editor", "writer__publisher", "writer__posts"),
]


@pytest.mark.parametrize("lookups", LOOKUPS, ids=lambda ls: "+".join(map(str, ls)))
def test_the_same_instances_as_prefetch_related_objects(data, lookups):
    for _ in range(2):  # cold, then warm
        expected, got = fresh_posts(), fresh_posts()
        prefetch_related_objects(expected, *lookups)
        prefetch_cached(got, *lookups)
        assert [state(p) for p in got] == [state(p) for p in expected]


def test_one_to_one_sets_the_reverse_cache_like_django(data):
    for _ in range(2):
        expected, got = fresh_details(), fresh_details()
        prefetch_related_objects(expected, "post__writer")
        prefetch_cached(got, "post__writer")
        assert [state(d) for d in got] == [state(d) for d in expected]
        assert all(d.post is None or d.post._state.fields_cache["detail"] is d for d in got)


def test_relations_already_cached_are_kept_and_walked_like_django(data):
    for _ in range(2):
        expected, got = fresh_posts(), fresh_posts()
        for posts in (expected, got):
            posts[0].writer  # noqa: B018 -- caches this one relation
            posts[1].writer = Writer(email="unsaved")
        prefetch_related_objects(expected, "writer__publisher")
        prefetch_cached(got, "writer__publisher")
        assert [state(p) for p in got] == [state(p) for p in expected]


@pytest.mark.parametrize("path", ["writer", "writer__publisher"])
def test_the_same_relation_caches_as_select_related(data, path):
    prefetch_cached(fresh_posts(), path)  # warm
    got = fresh_posts()
    prefetch_cached(got, path)
    expected = list(Post.objects.select_related(path).order_by("pk"))

    def relations(obj: Any) -> Any:
        # select_related sets no _prefetched_objects_cache; compare the rest.
        if not isinstance(obj, Model):
            return obj
        fields = [(f.attname, getattr(obj, f.attname)) for f in obj._meta.concrete_fields]
        return (fields, sorted((k, relations(v)) for k, v in obj._state.fields_cache.items()))

    assert [relations(p) for p in got] == [relations(p) for p in expected]


def test_a_warm_level_runs_no_query_and_a_cold_one_runs_one(data):
    alias = data
    cold_posts = fresh_posts()
    with CaptureQueriesContext(connections[alias]) as cold:
        prefetch_cached(cold_posts, "writer__publisher")
    assert len(cold) == 2  # one query per level for the misses
    posts = fresh_posts()
    with CaptureQueriesContext(connections[alias]) as warm:
        prefetch_cached(posts, "writer__publisher")
        codes = [
            p.writer.publisher.code if p.writer and p.writer.publisher else None for p in posts
        ]
    assert len(warm) == 0
    assert codes == [
        p.writer and p.writer.publisher and p.writer.publisher.code
        for p in Post.objects.select_related("writer__publisher").order_by("pk")
    ]


def test_a_write_to_a_target_is_seen(data):
    posts = fresh_posts()
    prefetch_cached(posts, "writer")
    Writer.objects.filter(pk=posts[0].writer_id).update(email="changed@x")
    again = fresh_posts()
    prefetch_cached(again, "writer")
    assert again[0].writer.email == "changed@x"


def test_nothing_and_mistakes_behave_like_django(data):
    prefetch_cached([], "writer")
    for lookups in (("nonexistent",), ("slug",), ("writer__nonexistent",)):
        with pytest.raises(Exception) as django_error:
            prefetch_related_objects(fresh_posts(), *lookups)
        with pytest.raises(Exception) as ours:
            prefetch_cached(fresh_posts(), *lookups)
        assert (type(ours.value), str(ours.value)) == (
            type(django_error.value),
            str(django_error.value),
        )
