"""Write paths the compiler's ``execute_sql`` alone does not see: Django 6.x's
``UPDATE … RETURNING`` saves, rows the database deletes or changes by itself (Django 6.1's
``DB_*`` on_delete), values the database computes, and deletes filtered through a relation."""

from typing import Any

import pytest
from django import forms
from django.db import connections, models, transaction
from django.db.models import F

from cachefresh import cached_get, cached_get_many
from tests.testapp.models import Article, Author
from tests.writeapp.models import Coded, Kitchen

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

needs_database_on_delete = pytest.mark.skipif(
    not hasattr(models, "DB_CASCADE"), reason="DB_* on_delete came with Django 6.1"
)


def warm(assert_queries: Any, alias: str, *instances: Any) -> None:
    for instance in instances:
        cached_get(type(instance), instance.pk)
    with assert_queries(0, using=alias):
        for instance in instances:
            cached_get(type(instance), instance.pk)


def test_a_save_of_an_f_expression_is_seen(backend, django_assert_num_queries):
    article = Article.objects.create(title="t")
    warm(django_assert_num_queries, backend, article)
    article.views = F("views") + 1
    article.save()
    assert cached_get(Article, article.pk).views == 1
    assert cached_get_many(Article, [article.pk])[article.pk].views == 1


def test_a_save_of_a_model_with_a_generated_field_is_seen(backend, django_assert_num_queries):
    coded = Coded.objects.create(code="abc")
    warm(django_assert_num_queries, backend, coded)
    coded.code = "xyz"
    coded.save()
    fresh = cached_get(Coded, coded.pk)
    assert (fresh.code, fresh.code_upper) == ("xyz", "XYZ")


def test_a_model_form_save_is_seen(backend, django_assert_num_queries):
    """What the admin's change view does with a model whose save returns columns."""
    form_class = forms.modelform_factory(Coded, fields=["code", "hits"])
    coded = Coded.objects.create(code="abc")
    warm(django_assert_num_queries, backend, coded)
    form = form_class({"code": "edited", "hits": 3}, instance=Coded.objects.get(pk=coded.pk))
    assert form.is_valid(), form.errors
    form.save()
    assert (cached_get(Coded, coded.pk).code, cached_get(Coded, coded.pk).hits) == ("edited", 3)


def test_a_returning_save_inside_a_rolled_back_transaction_leaves_no_trace(
    backend, django_assert_num_queries
):
    article = Article.objects.create(title="t")
    warm(django_assert_num_queries, backend, article)
    with pytest.raises(RuntimeError), transaction.atomic(using=backend):
        article.views = F("views") + 1
        article.save()
        # Marked as written: this read comes from the database, and is not stored.
        assert cached_get(Article, article.pk).views == 1
        raise RuntimeError
    assert cached_get(Article, article.pk).views == 0
    assert cached_get_many(Article, [article.pk])[article.pk].views == 0


def test_a_unique_generated_field_is_never_answered_wrongly(backend):
    with pytest.raises(Coded.DoesNotExist):
        Coded.objects.cached_get(code_upper="ABC")
    Coded.objects.create(code="abc")
    assert Coded.objects.cached_get(code_upper="ABC").code == "abc"
    Coded.objects.filter(code="abc").update(code="def")
    assert Coded.objects.cached_get(code_upper="DEF").code == "def"
    with pytest.raises(Coded.DoesNotExist):
        Coded.objects.cached_get(code_upper="ABC")


def test_a_delete_through_a_relation_retires_every_row_it_deleted(
    backend, django_assert_num_queries
):
    """A fast delete whose filter names another alias of the table (the kitchens of k2's
    author): that alias's pk column does not name the deleted rows."""
    author = Author.objects.create(name="a")
    k1, k2 = (Kitchen.objects.create(name=n, author=author) for n in ("1", "2"))
    kept = Kitchen.objects.create(name="3")
    warm(django_assert_num_queries, backend, k1, k2, kept)
    Kitchen.objects.filter(author__kitchen__pk=k2.pk).delete()
    for deleted in (k1, k2):
        with pytest.raises(Kitchen.DoesNotExist):
            cached_get(Kitchen, deleted.pk)
    assert list(cached_get_many(Kitchen, [k1.pk, k2.pk, kept.pk])) == [kept.pk]


def test_an_update_through_a_relation_retires_every_row_it_wrote(
    backend, django_assert_num_queries
):
    author = Author.objects.create(name="a")
    first, sibling = (Article.objects.create(title=t, author=author) for t in ("1", "2"))
    warm(django_assert_num_queries, backend, first, sibling)
    Article.objects.filter(author__articles__pk=first.pk).update(title="both")
    assert [cached_get(Article, a.pk).title for a in (first, sibling)] == ["both", "both"]


@pytest.fixture
def crates(backend, django_assert_num_queries):
    from tests.writeapp.models import Bottle, Cork, Crate, Sticker, Tag

    crate = Crate.objects.create(name="c")
    bottle = Bottle.objects.create(crate=crate, name="b")
    rows = {
        "crate": crate,
        "bottle": bottle,
        "cork": Cork.objects.create(bottle=bottle),
        "tag": Tag.objects.create(crate=crate),
    }
    if connections[backend].features.supports_on_delete_db_default:
        rows["sticker"] = Sticker.objects.create(bottle=bottle)
    warm(django_assert_num_queries, backend, *(row for row in rows.values() if row is not crate))
    return rows


def assert_gone(*instances: Any) -> None:
    for instance in instances:
        model = type(instance)
        with pytest.raises(model.DoesNotExist):
            cached_get(model, instance.pk)
        assert cached_get_many(model, [instance.pk]) == {}


@needs_database_on_delete
@pytest.mark.parametrize("how", ["instance", "queryset", "raw"])
def test_the_databases_own_on_delete_is_seen(crates, backend, how):
    """Deleting a crate deletes its bottles and, a step further, their corks; its tags lose
    their crate, and the bottles' stickers their bottle. None of those tables is named by any
    statement Django sends."""
    crate = crates["crate"]
    if how == "instance":
        crate.delete()
    elif how == "queryset":
        type(crate).objects.filter(name="c").delete()
    else:
        with connections[backend].cursor() as cursor:
            cursor.execute(f"DELETE FROM {crate._meta.db_table} WHERE id = %s", [crate.pk])
    assert_gone(crates["bottle"], crates["cork"])
    assert cached_get(type(crates["tag"]), crates["tag"].pk).crate_id is None
    if "sticker" in crates:
        assert cached_get(type(crates["sticker"]), crates["sticker"].pk).bottle_id is None


@needs_database_on_delete
def test_db_set_default_is_seen_and_rolled_back_deletes_are_not(crates, backend):
    if "sticker" not in crates:
        pytest.skip(f"{connections[backend].display_name} has no ON DELETE SET DEFAULT")
    bottle, sticker = crates["bottle"], crates["sticker"]
    bottle_pk = bottle.pk
    with pytest.raises(RuntimeError), transaction.atomic(using=backend):
        type(bottle).objects.get(pk=bottle_pk).delete()
        assert cached_get(type(sticker), sticker.pk).bottle_id is None
        raise RuntimeError
    assert cached_get(type(sticker), sticker.pk).bottle_id == bottle_pk
    assert cached_get(type(crates["cork"]), crates["cork"].pk).bottle_id == bottle_pk
    type(bottle).objects.filter(pk=bottle_pk).delete()
    assert cached_get(type(sticker), sticker.pk).bottle_id is None
    assert_gone(crates["cork"])
