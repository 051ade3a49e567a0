# ruff: noqa: DJ008  -- throwaway models are never printed
"""Which models are cached: managers, CACHEFRESH['MODELS'] entries, and refusals.

Unsupported models are throwaway classes in an isolated app registry; the registry under test
is pointed at that app registry, so the project's own models never have to be broken.
"""

from collections.abc import Iterator
from typing import Any

import pytest
from django.apps.registry import Apps
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.test import override_settings
from django.test.utils import isolate_apps

import cachefresh.registry as registry_module
from cachefresh import CacheFreshManager, cached_get, checks
from cachefresh.registry import Registry
from cachefresh.support import unsupported_reason
from tests.testapp.models import Author, BigPk, CharPk, Listed, NotCached, Restaurant, UUIDPk

# Only the tests that read rows need a database; the rest build registries in memory.
uses_db = pytest.mark.django_db(transaction=True, databases="__all__")


def models_setting(*patterns: str) -> Any:
    return override_settings(CACHEFRESH=dict(settings.CACHEFRESH, MODELS=list(patterns)))


# --- the project's models, through the real registry ------------------------------------------


@uses_db
def test_app_wildcard_caches_plain_models(backend, django_assert_num_queries):
    thing = NotCached.objects.create(name="n")
    with pytest.raises(ImproperlyConfigured):
        cached_get(NotCached, thing.pk)
    with models_setting("testapp.*"):
        cached_get(NotCached, thing.pk)
        with django_assert_num_queries(0, using=backend):
            assert cached_get(NotCached, thing.pk).name == "n"
        NotCached.objects.filter(pk=thing.pk).update(name="m")  # its writes are watched too
        assert cached_get(NotCached, thing.pk).name == "m"
        with pytest.raises(ImproperlyConfigured):
            cached_get(ContentType, ContentType.objects.get_for_model(Author).pk)


@uses_db
def test_star_caches_every_app(backend, django_assert_num_queries):
    content_type = ContentType.objects.get_for_model(Author)
    with models_setting("*"):
        cached_get(ContentType, content_type.pk)
        with django_assert_num_queries(0, using=backend):
            assert cached_get(ContentType, content_type.pk).model == "author"


@uses_db
@pytest.mark.parametrize("label", ["testapp.NotCached", "testapp.notcached"])
def test_a_label_caches_one_model(backend, label, django_assert_num_queries):
    thing = NotCached.objects.create(name="n")
    listed = Listed.objects.create(name="l")
    with models_setting(label):
        cached_get(NotCached, thing.pk)
        with django_assert_num_queries(0, using=backend):
            cached_get(NotCached, thing.pk)
        with pytest.raises(ImproperlyConfigured, match=r"testapp\.Listed"):
            cached_get(Listed, listed.pk)  # no longer listed
    assert cached_get(Author, Author.objects.create(name="a").pk).name == "a"  # by its manager


def test_unknown_label_is_refused():
    with (
        models_setting("testapp.Nope"),
        pytest.raises(
            ImproperlyConfigured, match=r"'testapp\.Nope', which is not an installed model"
        ),
    ):
        Registry().cached_models()


# --- throwaway models in an isolated app registry ---------------------------------------------


@pytest.fixture
def isolated(monkeypatch) -> Iterator[Apps]:
    with isolate_apps("tests.testapp") as apps:
        monkeypatch.setattr(registry_module, "apps", apps)
        yield apps


def define(kind: str, *, cached_manager: bool = False) -> type[models.Model]:
    """A model of an unsupported kind, defined in whatever app registry is current."""
    body: dict[str, Any] = {"__module__": __name__}
    if cached_manager:
        body["objects"] = CacheFreshManager()
    name = kind.title().replace("_", "") + ("Managed" if cached_manager else "")
    if kind == "composite":
        body |= {
            "a": models.IntegerField(),
            "b": models.IntegerField(),
            "pk": models.CompositePrimaryKey("a", "b"),
            "Meta": type("Meta", (), {"app_label": "testapp"}),
        }
        return type(name, (models.Model,), body)
    if kind == "unmanaged":
        body["Meta"] = type("Meta", (), {"app_label": "testapp", "managed": False})
        return type(name, (models.Model,), body)
    if kind == "several_parents":
        meta = type("Meta", (), {"app_label": "testapp"})
        first = type(
            name + "A",
            (models.Model,),
            {"__module__": __name__, "a_id": models.AutoField(primary_key=True), "Meta": meta},
        )
        second = type(
            name + "B",
            (models.Model,),
            {"__module__": __name__, "b_id": models.AutoField(primary_key=True), "Meta": meta},
        )
        body["Meta"] = meta
        return type(name, (first, second), body)
    if kind == "own_pk_child":
        meta = type("Meta", (), {"app_label": "testapp"})
        parent = type(name + "Base", (models.Model,), {"__module__": __name__, "Meta": meta})
        body |= {"child_id": models.AutoField(primary_key=True), "Meta": meta}
        return type(name, (parent,), body)
    pk_fields: dict[str, Any] = {
        "decimal_pk": lambda: models.DecimalField(primary_key=True, max_digits=5, decimal_places=2),
        "datetime_pk": lambda: models.DateTimeField(primary_key=True),
        "float_pk": lambda: models.FloatField(primary_key=True),
        "collated_pk": lambda: models.CharField(
            primary_key=True, max_length=10, db_collation="und-x-icu"
        ),
    }
    if kind in pk_fields:
        body |= {"key": pk_fields[kind](), "Meta": type("Meta", (), {"app_label": "testapp"})}
        return type(name, (models.Model,), body)
    raise AssertionError(kind)


KINDS = {
    "composite": "it has a composite primary key",
    "unmanaged": "it is unmanaged",
    "several_parents": "it inherits from several concrete models",
    # Its parent's columns are in the row its parent link names, not the one its pk names.
    "own_pk_child": "it inherits from a concrete model but has a primary key of its own",
    # One row, several keys (1.5 / 1.50, one instant in two zones, 'a' / 'A'): a write under
    # one spelling would leave the entry under another stale.
    "decimal_pk": "its primary key is a DecimalField",
    "datetime_pk": "its primary key is a DateTimeField",
    "float_pk": "its primary key is a FloatField",
    "collated_pk": "its primary key has a db_collation",
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_unsupported_reason_says_why(isolated, kind):
    assert KINDS[kind] in unsupported_reason(define(kind))


def test_supported_kinds_have_no_reason():
    for model in (Author, Listed, NotCached, ContentType, BigPk, UUIDPk, CharPk, Restaurant):
        assert unsupported_reason(model) is None


@pytest.mark.parametrize("kind", list(KINDS))
def test_named_explicitly_it_is_refused(isolated, kind):
    model = define(kind)
    with models_setting(model._meta.label):
        registry = Registry()
        with pytest.raises(ImproperlyConfigured) as error:
            registry.cached_models()
    message = str(error.value)
    assert f"cachefresh cannot cache {model._meta.label}: {KINDS[kind]}" in message
    assert f"Remove {model._meta.label!r} from CACHEFRESH['MODELS']" in message


@pytest.mark.parametrize("kind", list(KINDS))
def test_with_a_cachefresh_manager_it_is_refused(isolated, kind):
    model = define(kind, cached_manager=True)
    with models_setting(), pytest.raises(ImproperlyConfigured) as error:
        Registry().cached_models()
    assert f"cachefresh cannot cache {model._meta.label}: {KINDS[kind]}" in str(error.value)
    assert f"Give {model._meta.label} a plain models.Manager" in str(error.value)


@pytest.mark.parametrize("pattern", ["*", "testapp.*"])
def test_matched_by_a_wildcard_it_is_skipped_with_a_warning(isolated, pattern, monkeypatch):
    unsupported = {define(kind): reason for kind, reason in KINDS.items()}

    class Fine(models.Model):
        class Meta:
            app_label = "testapp"

    with models_setting(pattern):
        registry = Registry()
        cached = registry.cached_models()
        assert Fine in cached and not set(unsupported) & cached
        assert registry.plan(Fine).model is Fine
        for model in unsupported:
            with pytest.raises(ImproperlyConfigured, match=model._meta.label):
                registry.plan(model)
        monkeypatch.setattr(registry_module, "registry", registry)
        warnings = [m for m in checks.check_cachefresh() if m.id == "cachefresh.W001"]
    assert {w.obj for w in warnings} == set(unsupported)
    for warning in warnings:
        assert unsupported[warning.obj] in warning.msg
        assert "matches a wildcard" in warning.msg


def test_explicit_name_wins_over_a_wildcard(isolated):
    model = define("unmanaged")
    with models_setting("testapp.*", model._meta.label), pytest.raises(ImproperlyConfigured):
        Registry().cached_models()


def test_proxy_of_a_cached_model_uses_the_concrete_plan(isolated):
    class Base(models.Model):
        objects = CacheFreshManager()

        class Meta:
            app_label = "testapp"

    class Shadow(Base):
        class Meta:
            app_label = "testapp"
            proxy = True

    with models_setting():
        registry = Registry()
        assert registry.plan(Shadow) is registry.plan(Base)


@uses_db
def test_writes_still_invalidate_while_a_named_model_is_refused(backend):
    """A setting check E002 refuses must not turn every ORM write into a traceback."""
    author = Author.objects.create(name="a")
    cached_get(Author, author.pk)
    with models_setting("testapp.Nope"):
        Author.objects.filter(pk=author.pk).update(name="b")  # no ImproperlyConfigured
        NotCached.objects.create(name="n")
    assert cached_get(Author, author.pk).name == "b"
