"""Invariant 8: every supported kind of model and primary key, and several databases."""

import uuid
import warnings
from typing import Any

import pytest
from django.core.cache import caches
from django.core.cache.backends.base import memcache_key_warnings

from cachefresh import cached_get, cached_get_many
from cachefresh.conf import get_settings
from cachefresh.keys import RowKeys
from cachefresh.registry import registry
from tests.testapp.models import (
    Article,
    ArticleProxy,
    Author,
    BigPk,
    CharPk,
    Place,
    Profile,
    Restaurant,
    UUIDPk,
)

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

ODD_CHAR_PKS = [
    "plain",
    "with:colons:inside",
    "with spaces and\ttabs\nand newlines",
    "ünïcödé ✓ 漢字 🙂",
    "x" * 300,
    "ü" * 300,
    "{braces}|pipes|",
    "",
    "5",
    "i5",
    "s5",
    "h" + "0" * 32,
]


def full_keys(model: type, alias: str, pk: Any) -> list[str]:
    plan = registry.plan(model)
    row = RowKeys(plan.table_tag(alias), pk)
    cache = caches[get_settings().cache_alias]
    return [cache.make_key(k) for k in (row.entry, row.token, row.lock)] + [
        cache.make_key(plan.keys_of(alias)[2])
    ]


def assert_served(alias: str, model: type, pk: Any, django_assert_num_queries: Any) -> Any:
    cached_get(model, pk)
    with django_assert_num_queries(0, using=alias):
        hit = model.objects.cached_get(pk=pk)
    expected = model.objects.get(pk=pk)
    assert type(hit) is type(expected)
    for field in model._meta.concrete_fields:
        assert getattr(hit, field.attname) == getattr(expected, field.attname), field.attname
    assert hit._state.db == alias and not hit._state.adding
    return hit


def test_char_pks(backend, django_assert_num_queries):
    for code in ODD_CHAR_PKS:
        CharPk.objects.create(code=code, value=1)
        assert assert_served(backend, CharPk, code, django_assert_num_queries).code == code
        CharPk.objects.filter(pk=code).update(value=2)
        assert cached_get(CharPk, code).value == 2, code
        row = CharPk.objects.get(pk=code)
        row.value = 3
        row.save()
        assert cached_get_many(CharPk, [code]) == {code: row}
        assert cached_get(CharPk, code).value == 3, code


def test_char_pks_never_share_keys(backend, django_assert_num_queries):
    for index, code in enumerate(ODD_CHAR_PKS):
        CharPk.objects.create(code=code, value=index)
    assert {c: r.value for c, r in cached_get_many(CharPk, ODD_CHAR_PKS).items()} == {
        code: index for index, code in enumerate(ODD_CHAR_PKS)
    }
    with django_assert_num_queries(0, using=backend):
        for index, code in enumerate(ODD_CHAR_PKS):
            assert cached_get(CharPk, code).value == index
    entries = {full_keys(CharPk, backend, code)[0] for code in ODD_CHAR_PKS}
    assert len(entries) == len(ODD_CHAR_PKS)


def test_keys_are_valid_memcached_keys(backend):
    cases = [(CharPk, code) for code in ODD_CHAR_PKS]
    cases += [(Author, 1), (Author, -(2**31)), (BigPk, 2**63 - 1), (UUIDPk, uuid.uuid4())]
    for model, pk in cases:
        for key in full_keys(model, backend, pk):
            assert list(memcache_key_warnings(key)) == [], key
            assert len(key.encode()) <= 250
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # Django's own check for every cache backend
            caches["default"].validate_key(full_keys(model, backend, pk)[0])


def test_big_auto_field(backend, django_assert_num_queries):
    row = BigPk.objects.create(id=2**62 + 7, value=1)
    assert assert_served(backend, BigPk, row.pk, django_assert_num_queries).value == 1
    assert assert_served(backend, BigPk, str(row.pk), django_assert_num_queries).pk == row.pk
    BigPk.objects.filter(pk=row.pk).update(value=2)
    assert cached_get(BigPk, row.pk).value == 2
    auto = BigPk.objects.create()
    assert cached_get(BigPk, auto.pk).value == 0


def test_uuid_pk_in_every_spelling(backend, django_assert_num_queries):
    row = UUIDPk.objects.create(value=1)
    for spelling in (row.pk, str(row.pk), row.pk.hex, str(row.pk).upper()):
        assert assert_served(backend, UUIDPk, spelling, django_assert_num_queries).pk == row.pk
    UUIDPk.objects.filter(pk=str(row.pk)).update(value=2)
    assert cached_get(UUIDPk, row.pk.hex).value == 2


def test_proxy_shares_the_concrete_models_entries(backend, django_assert_num_queries):
    article = Article.objects.create(title="t")
    cached_get(Article, article.pk)
    with django_assert_num_queries(0, using=backend):
        proxy = ArticleProxy.objects.cached_get(pk=article.pk)
        many = cached_get_many(ArticleProxy, [article.pk])
    assert type(proxy) is ArticleProxy and type(many[article.pk]) is ArticleProxy
    assert proxy.title == "t"
    Article.objects.filter(pk=article.pk).update(title="u")
    assert cached_get(ArticleProxy, article.pk).title == "u"
    ArticleProxy.objects.filter(pk=article.pk).update(title="v")
    with django_assert_num_queries(1, using=backend):
        assert cached_get(Article, article.pk).title == "v"


@pytest.fixture
def restaurant(backend, django_assert_num_queries):
    made = Restaurant.objects.create(name="Luigi", serves_pizza=True)
    cached_get(Restaurant, made.pk)
    cached_get(Place, made.pk)
    with django_assert_num_queries(0, using=backend):
        assert cached_get(Restaurant, made.pk).serves_pizza
        assert cached_get(Place, made.pk).name == "Luigi"
    return made


def test_mti_write_through_parent_reaches_child(restaurant):
    place = Place.objects.get(pk=restaurant.pk)
    place.name = "Mario"
    place.save()
    assert cached_get(Restaurant, restaurant.pk).name == "Mario"
    Place.objects.filter(pk=restaurant.pk).update(name="Peach")
    assert cached_get(Restaurant, restaurant.pk).name == "Peach"
    Place.objects.filter(name="Peach").update(name="Toad")
    assert cached_get(Restaurant, restaurant.pk).name == "Toad"


def test_mti_write_through_child_reaches_parent(restaurant):
    restaurant.name = "Wario"
    restaurant.serves_pizza = False
    restaurant.save()
    assert cached_get(Place, restaurant.pk).name == "Wario"
    assert not cached_get(Restaurant, restaurant.pk).serves_pizza
    Restaurant.objects.filter(pk=restaurant.pk).update(name="Yoshi")
    assert cached_get(Place, restaurant.pk).name == "Yoshi"
    Restaurant.objects.filter(serves_pizza=False).update(name="Bowser", serves_pizza=True)
    assert cached_get(Place, restaurant.pk).name == "Bowser"
    assert cached_get(Restaurant, restaurant.pk).serves_pizza


def test_mti_child_only_write_reaches_the_child(restaurant):
    Restaurant.objects.filter(pk=restaurant.pk).update(serves_pizza=False)
    assert not cached_get(Restaurant, restaurant.pk).serves_pizza


def test_mti_delete_through_either(backend, restaurant):
    Place.objects.filter(pk=restaurant.pk).delete()
    with pytest.raises(Restaurant.DoesNotExist):
        cached_get(Restaurant, restaurant.pk)
    other = Restaurant.objects.create(name="b")
    cached_get(Place, other.pk)
    other.delete()
    with pytest.raises(Place.DoesNotExist):
        cached_get(Place, other.pk)


def test_mti_parent_row_without_child(backend):
    place = Place.objects.create(name="just a place")
    cached_get(Place, place.pk)
    with pytest.raises(Restaurant.DoesNotExist):
        cached_get(Restaurant, place.pk)
    assert cached_get_many(Restaurant, [place.pk]) == {}


def test_the_alias_is_part_of_the_key(backend, django_assert_num_queries):
    Author.objects.create(pk=7, name="main")
    Author.objects.using("other").create(pk=7, name="other")
    assert cached_get(Author, 7).name == "main"
    assert cached_get(Author, 7, using="other").name == "other"
    with django_assert_num_queries(0, using=backend), django_assert_num_queries(0, using="other"):
        assert cached_get(Author, 7).name == "main"
        assert Author.objects.db_manager("other").cached_get(pk=7).name == "other"
        assert cached_get_many(Author, [7], using="other")[7].name == "other"
    assert full_keys(Author, backend, 7) != full_keys(Author, "other", 7)
    Author.objects.filter(pk=7).update(name="main 2")
    assert cached_get(Author, 7, using="other").name == "other"
    assert cached_get(Author, 7).name == "main 2"
    Author.objects.using("other").filter(name="other").update(name="other 2")
    assert cached_get(Author, 7, using="other").name == "other 2"


def test_one_to_one_primary_key(backend, django_assert_num_queries):
    author = Author.objects.create(name="a")
    Profile.objects.create(author=author, bio="b")
    assert assert_served(backend, Profile, author.pk, django_assert_num_queries).bio == "b"
    assert Profile.objects.cached_get(pk=author) == Profile.objects.get(pk=author)
    assert Profile.objects.cached_get(author=author.pk).bio == "b"
    Profile.objects.filter(pk=author.pk).update(bio="c")
    assert cached_get(Profile, author.pk).bio == "c"
    author.delete()  # cascades
    with pytest.raises(Profile.DoesNotExist):
        cached_get(Profile, author.pk)
