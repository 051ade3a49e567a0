"""Invariant 5: an entry written for one shape of a model is never used for another.

The model's fields are changed at run time (swapped columns, a retyped field, an added or a
removed field), exactly as a deploy that changes a model while old entries sit in the cache.
The first read after each change must go to the database and agree with get().
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import connections, models

from cachefresh import cached_get
from tests.testapp.models import Reshaped

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

meta = Reshaped._meta


def values(instance: Reshaped) -> list[tuple[str, Any, type]]:
    return [
        (f.attname, getattr(instance, f.attname), type(getattr(instance, f.attname)))
        for f in meta.concrete_fields
    ]


@contextmanager
def swapped_columns() -> Iterator[None]:
    a, b = meta.get_field("a"), meta.get_field("b")
    a.column, b.column = b.column, a.column
    meta._expire_cache()
    try:
        yield
    finally:
        a.column, b.column = b.column, a.column
        meta._expire_cache()


def _replace(old: models.Field[Any, Any] | None, new: models.Field[Any, Any] | None) -> None:
    if old is not None:
        meta.local_fields.remove(old)
        delattr(Reshaped, old.attname)
    if new is not None:
        if getattr(new, "model", None) is Reshaped:  # a field that was in place before: put it back
            meta.add_field(new)
            setattr(Reshaped, new.attname, new.descriptor_class(new))
        else:
            new.contribute_to_class(Reshaped, new.name)
    meta._expire_cache()


@contextmanager
def replaced(name: str, field: models.Field[Any, Any]) -> Iterator[None]:
    old = meta.get_field(name)
    _replace(old, field)
    try:
        yield
    finally:
        _replace(field, old)


@contextmanager
def removed(name: str) -> Iterator[None]:
    old = meta.get_field(name)
    _replace(old, None)
    try:
        yield
    finally:
        _replace(None, old)


@contextmanager
def added(alias: str, field: models.Field[Any, Any]) -> Iterator[None]:
    _replace(None, field)
    try:
        with connections[alias].schema_editor() as editor:
            editor.add_field(Reshaped, field)
        try:
            yield
        finally:
            with connections[alias].schema_editor() as editor:
                editor.remove_field(Reshaped, field)
    finally:
        _replace(field, None)


def assert_shape_change_is_a_miss(
    alias: str, change: Callable[[], Any], django_assert_num_queries: Any
) -> None:
    row = Reshaped.objects.create(a=1, b=2)
    cached_get(Reshaped, row.pk)
    with django_assert_num_queries(0, using=alias):
        cached_get(Reshaped, row.pk)
    with change():
        with django_assert_num_queries(1, using=alias):  # the old entry is not used
            got = Reshaped.objects.cached_get(pk=row.pk)
        assert values(got) == values(Reshaped.objects.get(pk=row.pk))
        with django_assert_num_queries(0, using=alias):  # the new shape is cached in turn
            assert values(cached_get(Reshaped, row.pk)) == values(got)
    with django_assert_num_queries(1, using=alias):  # and not used once the change is undone
        back = cached_get(Reshaped, row.pk)
    assert values(back) == values(Reshaped.objects.get(pk=row.pk))


def test_swapped_columns(backend, django_assert_num_queries):
    assert_shape_change_is_a_miss(backend, swapped_columns, django_assert_num_queries)
    with swapped_columns():
        assert cached_get(Reshaped, Reshaped.objects.get().pk).a == 2


def test_retyped_field(backend, django_assert_num_queries):
    assert_shape_change_is_a_miss(
        backend,
        lambda: replaced("b", models.BigIntegerField(default=0, name="b")),
        django_assert_num_queries,
    )


def test_removed_field(backend, django_assert_num_queries):
    assert_shape_change_is_a_miss(backend, lambda: removed("b"), django_assert_num_queries)


def test_added_field(backend, django_assert_num_queries):
    def change() -> Any:
        return added(backend, models.CharField(max_length=10, default="new", name="c"))

    assert_shape_change_is_a_miss(backend, change, django_assert_num_queries)


def test_model_is_restored():
    """Guards the tests above: a leaked change would break every later test of Reshaped."""
    assert [(f.name, f.column, type(f)) for f in meta.concrete_fields] == [
        ("id", "id", models.AutoField),
        ("a", "a", models.IntegerField),
        ("b", "b", models.IntegerField),
    ]
