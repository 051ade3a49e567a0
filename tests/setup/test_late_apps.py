"""Registration follows Django's app registry (issue 9, item 4).

With ``CACHEFRESH = {"MODELS": ["*"]}``, a model whose app is installed after the registry was
first built (``override_settings(INSTALLED_APPS=…)``, ``apps.set_installed_apps()``, as Django's
own test runner does) or that is registered at run time is cached like any other: its second
read runs no query, and its writes retire what was cached.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.apps import apps
from django.conf import settings
from django.db import connections, models
from django.test import override_settings
from django.test.utils import isolate_apps

import cachefresh.registry as registry_module
from cachefresh import cached_get, smart_refresh
from cachefresh.registry import registry
from tests.testapp.models import Author

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

LATE_APPS = [*settings.INSTALLED_APPS, "tests.lateapp"]


@pytest.fixture
def everything(backend):
    """``MODELS: ["*"]`` on the backend pair, with the registry built before any app is added."""
    with override_settings(CACHEFRESH=dict(settings.CACHEFRESH, MODELS=["*"])):
        cached_get(Author, Author.objects.create(name="first").pk)
        assert Author in registry.cached_models()  # built now, before any app is added
        yield backend
    delete_keys_of_this_test()


def delete_keys_of_this_test() -> None:
    if settings.CACHEFRESH["CACHE"] != "redis":
        return  # LocMem: the backend fixture clears it
    from django_redis import get_redis_connection

    client = get_redis_connection("redis")
    pattern = f"*{settings.CACHEFRESH['KEY_PREFIX']}*"
    for key in client.scan_iter(match=pattern, count=1000):
        client.delete(key)
    assert not list(client.scan_iter(match=pattern, count=1000))


@contextmanager
def table_of(model: type[models.Model], alias: str) -> Iterator[None]:
    with connections[alias].schema_editor() as editor:
        editor.create_model(model)
    try:
        yield
    finally:
        with connections[alias].schema_editor() as editor:
            editor.delete_model(model)


def assert_cached(model: type[models.Model], alias: str, django_assert_num_queries) -> None:
    with table_of(model, alias):
        thing = model._default_manager.create(name="a")
        assert cached_get(model, thing.pk).name == "a"
        with django_assert_num_queries(0, using=alias):
            assert cached_get(model, thing.pk).name == "a"
            smart_refresh(thing, strategy="cache")  # a hit: the model is cached, not refused
        model._default_manager.filter(pk=thing.pk).update(name="b")
        assert cached_get(model, thing.pk).name == "b"
        thing.delete()
        with pytest.raises(model.DoesNotExist):
            cached_get(model, thing.pk)


def test_an_app_installed_by_override_settings(everything, django_assert_num_queries):
    with override_settings(INSTALLED_APPS=LATE_APPS):
        assert_cached(apps.get_model("lateapp", "LateThing"), everything, django_assert_num_queries)


def test_an_app_installed_by_set_installed_apps(everything, django_assert_num_queries):
    # What Django's runtests.py does with the test apps; no setting_changed is sent.
    apps.set_installed_apps(LATE_APPS)
    try:
        assert_cached(apps.get_model("lateapp", "LateThing"), everything, django_assert_num_queries)
    finally:
        apps.unset_installed_apps()
    with pytest.raises(LookupError):
        apps.get_model("lateapp", "LateThing")


def test_a_model_registered_at_run_time(everything, monkeypatch, django_assert_num_queries):
    with isolate_apps("tests.testapp") as isolated:
        monkeypatch.setattr(registry_module, "apps", isolated)
        registry.cached_models()  # built from the isolated registry, before the model exists

        class Latecomer(models.Model):
            name = models.CharField(max_length=50)

            class Meta:
                app_label = "testapp"

            def __str__(self) -> str:
                return self.name

        assert_cached(Latecomer, everything, django_assert_num_queries)
    monkeypatch.undo()
    registry.reset()
