"""The read API: cached_get() is a drop-in for get(), and a hit is the row get() would give.

Every test compares cachefresh's answer with Django's own for the same lookup, so a divergence
in results or exceptions (type and message) fails.
"""

import uuid
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.db.models import Manager, Model, Value
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from cachefresh import CacheFreshManager, cached_get, cached_get_many, invalidate, invalidate_model
from cachefresh.manager import CacheFreshQuerySet, builds_plain
from tests.support.outcomes import outcome, row
from tests.support.unseen import unseen_cursor
from tests.testapp.models import Article, Author, CharPk, Listed, NotCached, Published, UUIDPk

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def test_hit_runs_no_sql_and_equals_get(backend, django_assert_num_queries):
    author = Author.objects.create(name="Ann", age=41)
    article = Article.objects.create(title="t", body="b", views=3, author=author, editor=author)
    Article.objects.cached_get(pk=article.pk)  # fill
    with django_assert_num_queries(0, using=backend):
        hit = Article.objects.cached_get(pk=article.pk)
    expected = Article.objects.get(pk=article.pk)
    assert type(hit) is Article
    assert row(hit) == row(expected)
    assert hit._state.db == backend
    assert hit._state.adding is False
    assert hit == expected


def test_every_spelling_of_the_pk_is_served_from_the_cache(backend, django_assert_num_queries):
    author = Author.objects.create(name="Bo")
    Author.objects.cached_get(pk=author.pk)
    for name in ("pk", "id", "pk__exact", "id__exact"):
        with django_assert_num_queries(0, using=backend):
            assert Author.objects.cached_get(**{name: author.pk}).name == "Bo", name


def test_charfield_pk_by_its_name(backend, django_assert_num_queries):
    CharPk.objects.create(code="k", value=7)
    CharPk.objects.cached_get(code="k")
    with django_assert_num_queries(0, using=backend):
        assert CharPk.objects.cached_get(code="k").value == 7


def assert_like_get(model: type[Model], values: list[Any]) -> None:
    """Each value as a pk, twice: a miss, then whatever the cache holds by then."""
    for pk in values * 2:
        expected = outcome(lambda pk=pk: model._default_manager.get(pk=pk))
        assert outcome(lambda pk=pk: model._default_manager.cached_get(pk=pk)) == expected, pk
        assert outcome(lambda pk=pk: cached_get(model, pk)) == expected, pk


def test_odd_pk_values_behave_like_get(backend):
    Author.objects.create(pk=1, name="one")
    odd = ["1", 1.0, Decimal("1"), True, 10**30, -(10**30), -1, "x", "", None, [1], {"a": 1}]
    assert_like_get(Author, [*odd, object()])


def test_a_model_instance_as_pk_behaves_like_get(backend):
    author = Author.objects.create(name="me")
    assert outcome(lambda: Author.objects.cached_get(pk=author)) == outcome(
        lambda: Author.objects.get(pk=author)
    )


def test_uuid_pk_values_behave_like_get(backend):
    UUIDPk.objects.create(id=uuid.UUID(int=5))
    assert_like_get(UUIDPk, ["not-a-uuid", 12, "", uuid.UUID(int=5).hex, str(uuid.UUID(int=5))])


def test_char_pk_values_behave_like_get(backend):
    CharPk.objects.create(code="5", value=1)
    assert_like_get(CharPk, [5, "5", " 5", "5 ", "5\x00"])


def test_missing_row_raises_does_not_exist_like_get(backend):
    with pytest.raises(Author.DoesNotExist) as cached:
        Author.objects.cached_get(pk=12345)
    with pytest.raises(Author.DoesNotExist) as direct:
        Author.objects.get(pk=12345)
    assert str(cached.value) == str(direct.value)
    with pytest.raises(Author.DoesNotExist):
        cached_get(Author, 12345)


def test_non_pk_lookups_are_get(backend):
    Author.objects.create(name="twin", age=1)
    Author.objects.create(name="twin", age=2)
    solo = Author.objects.create(name="solo", age=3)
    for lookup in ({"name": "twin"}, {"name": "solo"}, {"name": "nobody"}, {"age__gte": 3}):
        assert outcome(lambda lookup=lookup: Author.objects.cached_get(**lookup)) == outcome(
            lambda lookup=lookup: Author.objects.get(**lookup)
        )
    with pytest.raises(Author.MultipleObjectsReturned):
        Author.objects.cached_get(name="twin")
    assert Author.objects.cached_get(pk=solo.pk, name="solo") == solo
    with pytest.raises(Author.DoesNotExist):
        Author.objects.cached_get(pk=solo.pk, name="twin")


def test_querysets_that_change_the_answer_never_read_the_cache(backend, django_assert_num_queries):
    author = Author.objects.create(name="x", age=1)
    article = Article.objects.create(title="a", author=author)
    Author.objects.cached_get(pk=author.pk)
    Article.objects.cached_get(pk=article.pk)
    # The cache now holds a row that differs from the database: only a query can tell.
    with unseen_cursor(backend) as cursor:
        cursor.execute(
            f"UPDATE {Author._meta.db_table} SET name = 'db', age = 2 WHERE id = %s", [author.pk]
        )
    assert Author.objects.cached_get(pk=author.pk).name == "x"  # proves the entry is there
    readers = [
        lambda: Author.objects.filter(age=2).cached_get(pk=author.pk),
        lambda: Author.objects.exclude(age=1).cached_get(pk=author.pk),
        lambda: Author.objects.only("name").cached_get(pk=author.pk),
        lambda: Author.objects.defer("age").cached_get(pk=author.pk),
        lambda: Author.objects.annotate(n=Value(1)).cached_get(pk=author.pk),
        lambda: Author.objects.alias(n=Value(1)).cached_get(pk=author.pk),
        lambda: Author.objects.extra(select={"n": "1"}).cached_get(pk=author.pk),
        lambda: Author.objects.distinct().filter(name="db").cached_get(pk=author.pk),
    ]
    for read in readers:
        with django_assert_num_queries(1, using=backend):
            assert read().name == "db"
    with django_assert_num_queries(1, using=backend):
        assert Author.objects.values().cached_get(pk=author.pk)["name"] == "db"
    with django_assert_num_queries(1, using=backend):
        assert Author.objects.values_list("name", flat=True).cached_get(pk=author.pk) == "db"
    with django_assert_num_queries(1, using=backend):
        assert Article.objects.select_related("author").cached_get(pk=article.pk).author.name == (
            "db"
        )
    with django_assert_num_queries(1, using=backend):
        assert author.articles.cached_get(pk=article.pk) == article
    with django_assert_num_queries(0, using=backend):
        assert author.articles.none().cached_get_many([article.pk]) == {}


def test_select_for_update_never_reads_the_cache(backend, django_assert_num_queries):
    from django.db import transaction

    author = Author.objects.create(name="x")
    Author.objects.cached_get(pk=author.pk)
    with unseen_cursor(backend) as cursor:
        cursor.execute(f"UPDATE {Author._meta.db_table} SET name = 'db' WHERE id = %s", [author.pk])
    with transaction.atomic(using=backend), django_assert_num_queries(1, using=backend):
        assert Author.objects.select_for_update().cached_get(pk=author.pk).name == "db"


def test_filtering_default_manager_keeps_its_filter(backend):
    hidden = Published.objects.model(title="draft", published=False)
    hidden.save()
    shown = Published(title="out", published=True)
    shown.save()
    with pytest.raises(Published.DoesNotExist):
        Published.objects.cached_get(pk=hidden.pk)
    with pytest.raises(Published.DoesNotExist):
        cached_get(Published, hidden.pk)
    assert Published.objects.cached_get(pk=shown.pk) == shown
    assert cached_get_many(Published, [hidden.pk, shown.pk]) == {shown.pk: shown}


def test_only_managers_building_plain_querysets_skip_building_one() -> None:
    """builds_plain() lets a near hit skip the queryset: never for a manager that may filter."""

    class OwnAll(CacheFreshManager):
        def all(self):  # type: ignore[no-untyped-def]
            return super().all().filter(pk__gt=0)

    class OwnInit(CacheFreshQuerySet):  # type: ignore[type-arg]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)

    assert builds_plain(Article._default_manager)
    assert not builds_plain(Published._default_manager)  # its own get_queryset()
    assert not builds_plain(OwnAll())
    assert not builds_plain(Manager.from_queryset(OwnInit)())


def test_model_listed_in_settings_is_cached(backend, django_assert_num_queries):
    listed = Listed.objects.create(name="l")
    assert cached_get(Listed, listed.pk) == listed
    with django_assert_num_queries(0, using=backend):
        assert cached_get(Listed, listed.pk).name == "l"


def test_uncached_model_is_refused_with_instructions(backend):
    thing = NotCached.objects.create(name="n")
    for call in (
        lambda: cached_get(NotCached, thing.pk),
        lambda: cached_get_many(NotCached, [thing.pk]),
        lambda: invalidate(NotCached, thing.pk),
        lambda: invalidate_model(NotCached),
    ):
        with pytest.raises(ImproperlyConfigured) as error:
            call()
        message = str(error.value)
        assert "testapp.NotCached" in message
        assert "CacheFreshManager" in message and "CACHEFRESH['MODELS']" in message


def test_cached_get_many_is_in_bulk(backend, django_assert_num_queries):
    authors = [Author.objects.create(name=f"a{i}") for i in range(4)]
    pks = [a.pk for a in authors] + [9999]
    with django_assert_num_queries(1, using=backend):  # every miss in one query
        first = cached_get_many(Author, pks)
    assert first == Author.objects.in_bulk(pks)
    assert 9999 not in first
    with django_assert_num_queries(1, using=backend):  # 9999 is never cached as absent
        again = Author.objects.cached_get_many(pks)
    assert {pk: row(a) for pk, a in again.items()} == {
        pk: row(a) for pk, a in Author.objects.in_bulk(pks).items()
    }
    with django_assert_num_queries(0, using=backend):
        hits = Author.objects.cached_get_many([str(a.pk) for a in authors])
    assert set(hits) == {a.pk for a in authors}
    assert all(hits[pk]._state.db == backend and not hits[pk]._state.adding for pk in hits)
    assert cached_get_many(Author, []) == {}


def test_cached_get_many_mixes_hits_and_misses(backend, django_assert_num_queries):
    authors = [Author.objects.create(name=f"a{i}") for i in range(4)]
    cached_get(Author, authors[0].pk)
    Author.objects.filter(pk=authors[1].pk).update(name="new")
    with django_assert_num_queries(1, using=backend):
        got = cached_get_many(Author, [a.pk for a in authors])
    assert {pk: a.name for pk, a in got.items()} == {
        authors[0].pk: "a0",
        authors[1].pk: "new",
        authors[2].pk: "a2",
        authors[3].pk: "a3",
    }
    with django_assert_num_queries(0, using=backend):
        assert len(cached_get_many(Author, [a.pk for a in authors])) == 4


def test_cached_get_many_odd_pks_behave_like_in_bulk(backend):
    Author.objects.create(pk=1, name="one")
    for pks in [["x"], [None], [1, None], ["1", 1], [1], ["1", 1]]:
        assert outcome(lambda pks=pks: cached_get_many(Author, pks)) == outcome(
            lambda pks=pks: Author.objects.in_bulk(pks)
        ), pks


def test_uuid_keys_of_cached_get_many_match_in_bulk(backend):
    thing = UUIDPk.objects.create()
    for _ in range(2):
        assert cached_get_many(UUIDPk, [str(thing.pk)]) == UUIDPk.objects.in_bulk([str(thing.pk)])


def test_using_selects_the_database(backend, django_assert_num_queries):
    Author.objects.create(pk=1, name="here")
    Author.objects.using("other").create(pk=1, name="there")
    assert cached_get(Author, 1).name == "here"
    assert cached_get(Author, 1, using="other").name == "there"
    with django_assert_num_queries(0, using="other"):
        there = Author.objects.using("other").cached_get(pk=1)
    assert there.name == "there" and there._state.db == "other"
    assert cached_get_many(Author, [1], using="other")[1].name == "there"
    Author.objects.using("other").filter(pk=1).update(name="moved")
    assert cached_get(Author, 1).name == "here"
    assert cached_get(Author, 1, using="other").name == "moved"


def test_invalidate_after_raw_sql(backend):
    authors = [Author.objects.create(name="old") for _ in range(3)]
    table = Author._meta.db_table
    for author in authors:
        cached_get(Author, author.pk)
    with unseen_cursor(backend) as cursor:
        cursor.execute(f"UPDATE {table} SET name = 'raw'")
    assert cached_get(Author, authors[0].pk).name == "old"  # out of Django's sight
    invalidate(Author, authors[0].pk, str(authors[1].pk))
    assert cached_get(Author, authors[0].pk).name == "raw"
    assert cached_get(Author, authors[1].pk).name == "raw"
    assert cached_get(Author, authors[2].pk).name == "old"
    invalidate(authors[2])
    assert cached_get(Author, authors[2].pk).name == "raw"
    with unseen_cursor(backend) as cursor:
        cursor.execute(f"UPDATE {table} SET name = 'again'")
    invalidate_model(Author)
    assert {a.name for a in cached_get_many(Author, [a.pk for a in authors]).values()} == {"again"}
    with pytest.raises(TypeError):
        invalidate(Author)


def test_invalidate_with_using(backend):
    Author.objects.using("other").create(pk=1, name="old")
    Author.objects.create(pk=1, name="main")
    cached_get(Author, 1, using="other")
    cached_get(Author, 1)
    with unseen_cursor("other") as cursor:
        cursor.execute(f"UPDATE {Author._meta.db_table} SET name = 'raw'")
    with unseen_cursor(backend) as cursor:
        cursor.execute(f"UPDATE {Author._meta.db_table} SET name = 'raw'")
    invalidate(Author, 1, using="other")
    assert cached_get(Author, 1, using="other").name == "raw"
    assert cached_get(Author, 1).name == "main"  # the other database's entry is untouched
    invalidate_model(Author, using=backend)
    assert cached_get(Author, 1).name == "raw"


def test_async_forms(backend):
    from asgiref.sync import async_to_sync

    from cachefresh import acached_get, acached_get_many

    author = Author.objects.create(name="async")

    async def read() -> None:
        assert (await acached_get(Author, author.pk)).name == "async"
        assert (await Author.objects.acached_get(pk=author.pk)).name == "async"
        assert set(await acached_get_many(Author, [author.pk, 999])) == {author.pk}
        assert set(await Author.objects.acached_get_many([author.pk])) == {author.pk}

    async_to_sync(read)()


def test_cached_get_many_reads_misses_in_batches_the_backend_accepts():
    """Django declares SQLite's limit as 999 parameters a statement; misses respect it."""
    config = {"KEY_PREFIX": f"t{uuid.uuid4().hex[:12]}"}
    with override_settings(CACHEFRESH=dict(settings.CACHEFRESH, **config)):
        authors = Author.objects.bulk_create(Author(name="a") for _ in range(2500))
        pks = [author.pk for author in authors]
        limit = connections["default"].features.max_query_params
        with CaptureQueriesContext(connections["default"]) as queries:
            found = cached_get_many(Author, pks)
        assert len(found) == len(pks)
        assert len(queries) == -(-len(pks) // limit)
