"""Invariant 3 in one process: after every kind of committed ORM write, cached_get is the row.

Each test first warms the cache (and proves the entry is served, with no query), then writes
through the ORM, then compares what cached_get returns with the row the database holds.
"""

from typing import Any

import pytest
from django.db import connections
from django.db.models import F, Model, Q

from cachefresh import cached_get, cached_get_many
from tests.testapp.models import Article, ArticleProxy, Author

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def warm(django_assert_num_queries: Any, alias: str, *instances: Model) -> None:
    """Fill each row's entry and check that it is now served from the cache."""
    for instance in instances:
        cached_get(type(instance), instance.pk)
    with django_assert_num_queries(0, using=alias):
        for instance in instances:
            cached_get(type(instance), instance.pk)


def committed(model: type[Model], pk: Any) -> list[Any] | None:
    """The row as the database holds it, read around the cache."""
    rows = list(model._base_manager.filter(pk=pk).values_list())
    return list(rows[0]) if rows else None


def cached(model: type[Model], pk: Any) -> list[Any] | None:
    try:
        instance = cached_get(model, pk)
    except model.DoesNotExist:
        return None
    return [getattr(instance, f.attname) for f in model._meta.concrete_fields]


def assert_fresh(model: type[Model], *pks: Any) -> None:
    for pk in pks:
        assert cached(model, pk) == committed(model, pk)
    many = cached_get_many(model, pks)
    assert sorted(many) == sorted(pk for pk in pks if committed(model, pk) is not None)


@pytest.fixture
def authors(backend, django_assert_num_queries):
    made = [Author.objects.create(name=f"a{i}", age=i) for i in range(3)]
    warm(django_assert_num_queries, backend, *made)
    return made


def test_save(authors):
    authors[0].name = "saved"
    authors[0].save()
    assert_fresh(Author, authors[0].pk)
    assert cached_get(Author, authors[0].pk).name == "saved"


def test_save_update_fields(authors):
    authors[1].age = 99
    authors[1].name = "not saved"
    authors[1].save(update_fields=["age"])
    assert cached_get(Author, authors[1].pk).age == 99
    assert_fresh(Author, authors[1].pk)


def test_save_through_a_proxy(backend, django_assert_num_queries):
    article = Article.objects.create(title="t")
    warm(django_assert_num_queries, backend, article)
    proxy = ArticleProxy.objects.get(pk=article.pk)
    proxy.title = "via proxy"
    proxy.save()
    assert cached_get(Article, article.pk).title == "via proxy"


def test_queryset_update_by_pk_and_by_other_filters(authors):
    Author.objects.filter(pk=authors[0].pk).update(name="by pk")
    Author.objects.filter(pk__in=[authors[1].pk]).update(age=F("age") + 10)
    Author.objects.filter(age__gte=2).update(name="by filter")
    Author.objects.exclude(pk=authors[0].pk).filter(age=11).update(name="excluded")
    assert_fresh(Author, *(a.pk for a in authors))
    assert [cached_get(Author, a.pk).name for a in authors] == ["by pk", "excluded", "by filter"]


def test_update_through_a_join(backend, authors, django_assert_num_queries):
    article = Article.objects.create(title="t", author=authors[2])
    warm(django_assert_num_queries, backend, article)
    Article.objects.filter(author__name="a2").update(title="joined")
    assert cached_get(Article, article.pk).title == "joined"


def test_queryset_delete(authors):
    Author.objects.filter(age__lte=1).delete()
    assert_fresh(Author, *(a.pk for a in authors))
    with pytest.raises(Author.DoesNotExist):
        cached_get(Author, authors[0].pk)


def test_delete_cascades_and_sets_null(backend, authors, django_assert_num_queries):
    owner, editor, other = authors
    owned = Article.objects.create(title="owned", author=owner)
    edited = Article.objects.create(title="edited", author=other, editor=editor)
    warm(django_assert_num_queries, backend, owned, edited)
    owner.delete()
    editor.delete()
    with pytest.raises(Article.DoesNotExist):
        cached_get(Article, owned.pk)
    assert cached_get(Article, edited.pk).editor_id is None
    assert_fresh(Article, owned.pk, edited.pk)
    assert_fresh(Author, owner.pk, editor.pk, other.pk)


def test_queryset_delete_with_cascade(backend, authors, django_assert_num_queries):
    articles = [Article.objects.create(title=str(i), author=authors[0]) for i in range(3)]
    warm(django_assert_num_queries, backend, *articles)
    Author.objects.filter(name="a0").delete()
    assert cached_get_many(Article, [a.pk for a in articles]) == {}


def test_bulk_update(authors):
    for author in authors:
        author.name = f"bulk {author.pk}"
    Author.objects.bulk_update(authors, ["name"])
    assert_fresh(Author, *(a.pk for a in authors))
    assert cached_get(Author, authors[2].pk).name == f"bulk {authors[2].pk}"


def test_bulk_create_after_a_miss(backend):
    with pytest.raises(Author.DoesNotExist):
        cached_get(Author, 500)
    assert cached_get_many(Author, [501]) == {}
    Author.objects.bulk_create([Author(pk=500, name="new"), Author(pk=501, name="newer")])
    assert cached_get(Author, 500).name == "new"
    assert cached_get_many(Author, [501])[501].name == "newer"


def test_bulk_create_upsert(authors, backend):
    # MySQL's ON DUPLICATE KEY UPDATE names no conflict target: Django refuses one there.
    target = connections[backend].features.supports_update_conflicts_with_target
    Author.objects.bulk_create(
        [Author(pk=authors[0].pk, name="upserted", age=0), Author(pk=700, name="fresh")],
        update_conflicts=True,
        update_fields=["name"],
        **({"unique_fields": ["id"]} if target else {}),
    )
    assert cached_get(Author, authors[0].pk).name == "upserted"
    assert_fresh(Author, authors[0].pk, 700)


def test_update_or_create(authors):
    Author.objects.update_or_create(pk=authors[0].pk, defaults={"name": "updated"})
    Author.objects.update_or_create(pk=800, defaults={"name": "created"})
    assert cached_get(Author, authors[0].pk).name == "updated"
    assert cached_get(Author, 800).name == "created"


def test_get_or_create_after_a_cached_miss(backend):
    with pytest.raises(Author.DoesNotExist):
        cached_get(Author, 900)
    Author.objects.get_or_create(pk=900, defaults={"name": "made"})
    assert cached_get(Author, 900).name == "made"


def test_delete_then_recreate_with_the_same_pk(authors):
    pk = authors[0].pk
    authors[0].delete()
    with pytest.raises(Author.DoesNotExist):
        cached_get(Author, pk)
    Author.objects.create(pk=pk, name="reborn")
    assert cached_get(Author, pk).name == "reborn"


def test_a_write_retires_only_what_it_touched(backend, authors, django_assert_num_queries):
    """Pk-filtered writes keep the other rows' entries: the invalidation is per row."""
    Author.objects.filter(pk=authors[0].pk).update(name="changed")
    with django_assert_num_queries(0, using=backend):
        assert cached_get(Author, authors[1].pk).name == "a1"
    with django_assert_num_queries(1, using=backend):
        assert cached_get(Author, authors[0].pk).name == "changed"


def test_update_with_or_and_negated_filters(authors):
    Author.objects.filter(Q(pk=authors[0].pk) | Q(name="a1")).update(age=50)
    Author.objects.filter(~Q(pk=authors[0].pk), ~Q(pk=authors[1].pk)).update(name="negated")
    assert [cached_get(Author, a.pk).age for a in authors[:2]] == [50, 50]
    assert cached_get(Author, authors[2].pk).name == "negated"
    assert_fresh(Author, *(a.pk for a in authors))
