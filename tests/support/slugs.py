"""Slug lookups on Post, read through the cache and straight from the database."""

from typing import Any

from django.db import connections
from django.test.utils import CaptureQueriesContext

from tests.support.outcomes import outcome
from tests.testapp.models import Post


def queries(alias: str, call: Any) -> int:
    """How many queries ``call()`` ran (it may raise: then as get() would, tested apart)."""
    with CaptureQueriesContext(connections[alias]) as captured:
        outcome(call)
    return len(captured)


def by_slug(slug: str) -> Any:
    """What ``cached_get(slug=…)`` answers: a row's fields, or DoesNotExist."""
    return outcome(lambda: Post.objects.cached_get(slug=slug))


def db(slug: str) -> Any:
    return outcome(lambda: Post.objects.get(slug=slug))


def warm(alias: str, *slugs: str) -> None:
    """Fill index and row entries for ``slugs`` and prove they are served with no query."""
    for slug in slugs:
        for _ in range(2):
            by_slug(slug)
        assert queries(alias, lambda slug=slug: Post.objects.cached_get(slug=slug)) == 0, slug
