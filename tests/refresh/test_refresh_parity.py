"""Differential tests: smart_refresh(strategy=X) leaves an instance exactly as refresh_from_db().

Twin instances are loaded the same way (plain, deferred or ``only()``), with the same relation
caches primed; the row and its related rows then change at random; one twin is refreshed by
Django, the other by cachefresh, and everything observable is compared: field values with their
types, deferred fields, cached related objects, prefetched objects, ``_state``, and the
exception when there is one.
"""

import contextlib

import pytest
from django.db import router
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cachefresh import cached_get, invalidate, smart_refresh
from tests.refreshapp.models import Gadget
from tests.support.unseen import unseen_cursor
from tests.testapp.models import AllTypes, Article, Author, Restaurant

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

FIELD_NAMES = {
    Article: ["id", "title", "body", "views", "author", "author_id", "editor", "editor_id"],
    Restaurant: ["name", "serves_pizza", "place_ptr", "place_ptr_id", "id"],
    Author: ["name", "age"],
    Gadget: ["name", "owner", "owner_id"],
}
# The column each model's changes write: (field, value through the ORM, value by raw SQL).
CHANGED = {
    Article: ("views", 9, 5),
    Restaurant: ("serves_pizza", True, True),
    Author: ("age", 41, 7),
    Gadget: ("name", "changed", "raw"),
}
DEFERRABLE = {
    Article: ["title", "body", "views", "author", "editor"],
    Restaurant: ["name", "serves_pizza"],
    Author: ["name", "age"],
    Gadget: ["name", "owner"],
}


def make_row(model, authors):
    if model is Article:
        article = Article.objects.create(
            title="t", body="b", views=1, author=authors[0], editor=authors[1]
        )
        AllTypes.objects.create(solo=article)
        return article
    if model is Restaurant:
        return Restaurant.objects.create(name="r", serves_pizza=False)
    if model is Gadget:
        return Gadget.objects.create(name="g", owner=authors[0])
    return authors[0]


def load(model, pk, how, deferred, prime):
    queryset = model.objects.all()
    if how == "defer":
        queryset = queryset.defer(*deferred)
    elif how == "only":
        queryset = queryset.only(*deferred)
    if model is Author and "prefetch" in prime:
        queryset = queryset.prefetch_related("articles")
    instance = queryset.get(pk=pk)
    for name in ("author", "editor", "owner"):
        if name in prime and hasattr(instance, name):
            getattr(instance, name)  # caches the related object
    if "reverse" in prime:
        for accessor in ("alltypes", "restaurant"):
            with contextlib.suppress(Exception):
                getattr(instance, accessor)
    return instance


def change(model, instance_pk, authors, op):
    if op == "nothing":
        return
    if op == "delete":
        model.objects.filter(pk=instance_pk).delete()
    elif op == "update":
        field, value, _ = CHANGED[model]
        model.objects.filter(pk=instance_pk).update(**{field: value})
    elif op == "relink" and model in (Article, Gadget):
        name = "author" if model is Article else "owner"
        model.objects.filter(pk=instance_pk).update(**{name: authors[2]})
    elif op == "unlink" and model is Article:
        model.objects.filter(pk=instance_pk).update(editor=None)
    elif op == "related":
        Author.objects.filter(pk=authors[0].pk).update(name="renamed")
    elif op == "save":
        obj = model.objects.filter(pk=instance_pk).first()
        if obj is not None:
            obj.save()
    elif op == "raw":
        # A write out of Django's sight, announced with invalidate().
        column, _, value = CHANGED[model]
        table, pk_column = model._meta.db_table, model._meta.pk.column
        with unseen_cursor(router.db_for_write(model)) as cursor:
            cursor.execute(
                f"UPDATE {table} SET {column} = %s WHERE {pk_column} = %s", [value, instance_pk]
            )
        invalidate(model, instance_pk)


def observe(instance):
    values = {}
    for field in instance._meta.concrete_fields:
        if field.attname in instance.__dict__:
            value = instance.__dict__[field.attname]
            values[field.attname] = (type(value).__name__, value)
    return {
        "values": values,
        "deferred": instance.get_deferred_fields(),
        "fields_cache": {
            key: (type(value).__name__, getattr(value, "pk", value))
            for key, value in instance._state.fields_cache.items()
        },
        "prefetched": sorted(getattr(instance, "_prefetched_objects_cache", {})),
        "db": instance._state.db,
        "adding": instance._state.adding,
    }


def outcome(refresh):
    try:
        refresh()
    except Exception as exc:
        return (type(exc).__name__, str(exc))
    return None


@pytest.mark.parametrize("strategy", ["cache", "full", "columns", "auto"])
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_smart_refresh_matches_refresh_from_db(backend, strategy, data):
    model = data.draw(st.sampled_from([Article, Restaurant, Author, Gadget]), label="model")
    how = data.draw(st.sampled_from(["plain", "defer", "only"]), label="load")
    deferred = data.draw(
        st.lists(st.sampled_from(DEFERRABLE[model]), min_size=1, max_size=2, unique=True),
        label="deferred",
    )
    prime = data.draw(
        st.sets(st.sampled_from(["author", "editor", "owner", "reverse", "prefetch"])),
        label="prime",
    )
    fields = data.draw(
        st.none() | st.lists(st.sampled_from(FIELD_NAMES[model]), min_size=1, max_size=3),
        label="fields",
    )
    ops = data.draw(
        st.lists(
            st.sampled_from(["nothing", "update", "relink", "unlink", "related", "save", "raw"])
            | st.just("delete"),
            max_size=3,
        ),
        label="changes",
    )
    warm = data.draw(st.booleans(), label="warm cache")

    authors = [Author.objects.create(name=f"a{i}") for i in range(3)]
    row = make_row(model, authors)
    if warm:
        cached_get(model, row.pk)
    django_twin = load(model, row.pk, how, deferred, prime)
    our_twin = load(model, row.pk, how, deferred, prime)
    assert observe(django_twin) == observe(our_twin)
    for op in ops:
        change(model, row.pk, authors, op)
    if warm and "delete" not in ops:
        cached_get(model, row.pk)

    expected = outcome(lambda: django_twin.refresh_from_db(fields=fields))
    got = outcome(lambda: smart_refresh(our_twin, fields, strategy=strategy))
    assert got == expected
    assert observe(our_twin) == observe(django_twin)

    Article.objects.all().delete()
    Restaurant.objects.all().delete()
    Gadget.objects.all().delete()
    Author.objects.all().delete()
