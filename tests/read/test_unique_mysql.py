"""Unique lookups on MySQL/MariaDB follow the column's collation.

Served from the cache only where ``=`` compares code points exactly (a ``_bin`` collation that
does not pad, such as the test database's ``utf8mb4_nopad_bin``); under a case-insensitive
collation, or MariaDB's ``utf8mb4_bin`` (PAD SPACE: ``'a' = 'a '``), ``cached_get(slug=…)`` is
``get()``. Broken on purpose (every collation vouched for), a cached "no row holds HELLO" kept
answering DoesNotExist after a row "hello" was created, which ``get()`` finds.
"""

from collections.abc import Iterator

import pytest
from django.db import connections

from cachefresh import collations
from tests.support.redis_keys import forget_keys_of_this_test
from tests.support.slugs import by_slug, db, queries, warm
from tests.testapp.models import Post

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


@pytest.fixture
def collated(mysql_servers) -> Iterator[callable]:
    """Sets the collation of ``testapp_post.slug``; puts the test database's back after."""

    def collate(collation: str) -> None:
        with connections["mysql"].cursor() as cursor:
            cursor.execute(
                f"ALTER TABLE testapp_post MODIFY slug varchar(100) COLLATE {collation} NOT NULL"
            )
        collations.forget()  # a migration changed it: the process must ask again

    try:
        yield collate
    finally:
        collate("utf8mb4_nopad_bin")
        forget_keys_of_this_test()


def test_an_exact_collation_is_served_from_the_cache(collated):
    Post.objects.create(slug="hello")
    warm("mysql", "hello")
    assert by_slug("HELLO") == db("HELLO")  # no row: nopad_bin tells the cases apart
    assert by_slug("hello ") == db("hello ")  # nor trailing spaces


@pytest.mark.parametrize(
    ("collation", "spelling"),
    [("utf8mb4_general_ci", "HELLO"), ("utf8mb4_unicode_ci", "hellö"), ("utf8mb4_bin", "hello ")],
)
def test_other_collations_are_get_every_time(collated, collation, spelling):
    collated(collation)
    for _ in range(3):  # a cached absence would be served here, wrongly
        assert by_slug(spelling) == db(spelling)
    Post.objects.create(slug="hello")  # retires "hello", which no key of the spelling is
    for _ in range(3):
        assert by_slug(spelling) == db(spelling) != by_slug("nothing")
        assert queries("mysql", lambda: Post.objects.cached_get(slug="hello")) == 1
