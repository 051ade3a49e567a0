"""Routes: what a read resolves once per (model, alias) is resolved again whenever it may have
changed. A route kept past such a change would read another database's or another prefix's
entries, read a replica's own entries, or build instances of fields the model no longer has.
"""

import multiprocessing
import uuid

import pytest
from django.conf import settings
from django.db import connections
from django.test import override_settings

from cachefresh import cached_get, changes, routes
from tests.testapp.models import Article

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def test_a_route_is_resolved_once_and_again_after_any_setting_changes(backend):
    article = Article.objects.create(title="a")
    cached_get(Article, article.pk)
    first = routes.route(Article, backend)
    cached_get(Article, article.pk)
    assert routes.route(Article, backend) is first  # nothing changed: the same route
    prefix = f"t{uuid.uuid4().hex[:12]}"
    with override_settings(CACHEFRESH=dict(settings.CACHEFRESH, KEY_PREFIX=prefix)):
        moved = routes.route(Article, backend)
        assert moved is not first and moved.tag.startswith(f"{prefix}:")
        assert cached_get(Article, article.pk).title == "a"
    with override_settings(CACHEFRESH=dict(settings.CACHEFRESH, REPLICAS={"replica": backend})):
        assert routes.route(Article, "replica").primary == backend
    assert routes.route(Article, "replica").primary == "replica"
    # Not one of cachefresh's settings, but the signing key comes from it.
    signing = dict(settings.CACHEFRESH, SIGN_ENTRIES=True)
    with override_settings(CACHEFRESH=signing):
        before = routes.route(Article, backend)
        assert routes.route(Article, backend) is before
        with override_settings(SECRET_KEY="another"):
            after = routes.route(Article, backend)
            assert after is not before and after.mac != before.mac


def test_a_route_follows_the_models_fields(backend):
    """A model whose fields change at run time gets a new plan, so a new route."""
    Article.objects.create(title="a")
    first = routes.route(Article, backend)
    Article._meta._expire_cache()  # what adding a field at run time does
    assert routes.route(Article, backend) is not first


def _route_in_child(alias: str, queue: "multiprocessing.Queue[int]") -> None:
    queue.put(changes.count)


def test_a_forked_child_resolves_its_routes_again(backend):
    """The child has no near cache listener and no store of its parent's: the count moves."""
    routes.route(Article, backend)
    queue: multiprocessing.Queue[int] = multiprocessing.get_context("fork").Queue()
    child = multiprocessing.get_context("fork").Process(
        target=_route_in_child, args=(backend, queue)
    )
    connections.close_all()  # a child must not share the parent's sockets
    child.start()
    counted = queue.get(timeout=30)
    child.join(30)
    assert counted != changes.count


def test_hits_of_the_function_and_manager_forms_build_no_queryset(backend, monkeypatch):
    """A hit needs no QuerySet: the function forms and CacheFreshManager build one only when
    the cache cannot answer (a miss builds one, and gets Django's answer through it)."""
    from django.db.models import QuerySet

    from cachefresh import cached_get_many

    article = Article.objects.create(title="a")
    built: list[QuerySet] = []
    django_init = QuerySet.__init__

    def counting(self: QuerySet, *args: object, **kwargs: object) -> None:
        built.append(self)
        django_init(self, *args, **kwargs)

    monkeypatch.setattr(QuerySet, "__init__", counting)
    assert cached_get(Article, article.pk).title == "a"  # the miss: a queryset to fill through
    assert built
    through = Article.objects.using(backend)  # a queryset of Django's making, before counting
    built.clear()
    assert cached_get(Article, article.pk).title == "a"
    assert cached_get(Article, article.pk, using=backend).title == "a"
    assert Article.objects.cached_get(pk=article.pk).title == "a"
    assert through.cached_get(pk=article.pk).title == "a"
    assert cached_get_many(Article, [article.pk])[article.pk].title == "a"
    assert Article.objects.cached_get_many([article.pk])[article.pk].title == "a"
    assert built == []
