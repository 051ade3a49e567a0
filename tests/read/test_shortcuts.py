"""cachefresh.shortcuts.get_object_or_404 is Django's, served from the cache when it can be."""

from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django import shortcuts
from django.db import connections
from django.test.utils import CaptureQueriesContext

from cachefresh.shortcuts import aget_object_or_404, get_object_or_404
from tests.support.outcomes import outcome
from tests.support.redis_keys import forget_keys_of_this_test
from tests.testapp.models import NotCached, Post, Published

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


@pytest.fixture(autouse=True)
def _forget_keys(backend):
    yield
    forget_keys_of_this_test()


def both(klass: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
    return (
        outcome(lambda: get_object_or_404(klass, *args, **kwargs)),
        outcome(lambda: shortcuts.get_object_or_404(klass, *args, **kwargs)),
    )


def test_by_slug_and_pk_from_the_cache(backend):
    post = Post.objects.create(slug="s")
    for kwargs in ({"slug": "s"}, {"pk": post.pk}):
        for _ in range(2):
            get_object_or_404(Post, **kwargs)
        with CaptureQueriesContext(connections[backend]) as captured:
            assert get_object_or_404(Post, **kwargs) == post
            assert async_to_sync(aget_object_or_404)(Post, **kwargs) == post
        assert len(captured) == 0, kwargs


def test_every_outcome_is_djangos(backend):
    Post.objects.create(slug="s", title="t")
    Post.objects.create(slug="u", title="t")
    Published.objects.create(title="hidden", published=False)
    NotCached.objects.create(name="n")
    cases = [
        (Post, (), {"slug": "missing"}),  # Http404, its message included
        (Post, (), {"slug": "missing"}),  # and again, from the cached absence
        (Post, (), {"title": "t"}),  # MultipleObjectsReturned
        (Post.objects, (), {"slug": "s"}),
        (Post.objects.filter(title="x"), (), {"slug": "s"}),
        (Post.objects.all(), (), {"slug__iexact": "S"}),
        (Published, (), {"title": "hidden"}),
        (NotCached, (), {"name": "n"}),
        (NotCached, (), {"name": "none"}),
        (Post, (), {"nope": 1}),  # FieldError
        ("not a model", (), {"pk": 1}),  # ValueError
    ]
    for klass, args, kwargs in cases:
        ours, django = both(klass, *args, **kwargs)
        assert ours == django, (klass, kwargs)
    ours = outcome(lambda: async_to_sync(aget_object_or_404)(Post, slug="missing"))
    django = outcome(lambda: async_to_sync(shortcuts.aget_object_or_404)(Post, slug="missing"))
    assert ours == django
