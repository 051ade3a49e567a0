"""cachefresh.views.CachedObjectMixin against Django's own generic views: the same response
or exception for every lookup, from the cache where it can be."""

from typing import Any

import pytest
from django.db import connections
from django.http import Http404, HttpResponse
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.views.generic import DeleteView, DetailView, UpdateView

from cachefresh import cached_get
from cachefresh.views import CachedObjectMixin
from tests.support.redis_keys import forget_keys_of_this_test
from tests.testapp.models import NotCached, Post, Published

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


@pytest.fixture(autouse=True)
def _forget_keys(backend):
    yield
    forget_keys_of_this_test()


def pair(base: type = DetailView, **attrs: Any) -> tuple[type, type]:
    """Django's view and the same with the mixin, both named ``PostDetail`` (Django's
    messages name the class), rendering the object's fields instead of a template."""

    def render_to_response(self: Any, context: dict[str, Any], **kwargs: Any) -> HttpResponse:
        obj = context["object"]
        fields = {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}
        return HttpResponse(f"{type(obj).__name__} {fields!r} db={obj._state.db}")

    body = {"render_to_response": render_to_response, **attrs}
    plain = type("PostDetail", (base,), body)
    cached = type("PostDetail", (CachedObjectMixin, base), body)
    return plain, cached


def respond(view: type, path: str = "/", **kwargs: Any) -> tuple[Any, ...]:
    request = RequestFactory().get(path)
    try:
        response = view.as_view()(request, **kwargs)
    except Exception as exc:
        return ("raised", type(exc), str(exc))
    return ("response", response.status_code, response.content)


def same(views: tuple[type, type], path: str = "/", **kwargs: Any) -> tuple[Any, ...]:
    plain, cached = views
    ours, django = respond(cached, path, **kwargs), respond(plain, path, **kwargs)
    assert ours == django, kwargs
    return ours


def test_pk_and_slug_from_the_cache(backend):
    post = Post.objects.create(slug="hello", title="t")
    views = pair(model=Post)
    for kwargs in ({"pk": post.pk}, {"slug": "hello"}):
        assert same(views, **kwargs)[:2] == ("response", 200)
        with CaptureQueriesContext(connections[backend]) as queries:
            respond(views[1], **kwargs)
        assert len(queries) == 0, kwargs
        with CaptureQueriesContext(connections[backend]) as queries:
            respond(views[0], **kwargs)
        assert len(queries) == 1  # what the mixin saves


def test_every_outcome_is_djangos(backend):
    post = Post.objects.create(slug="hello", title="dup")
    Post.objects.create(slug="other", title="dup")
    Published.objects.create(title="hidden", published=False)
    hidden = Published.objects.create(title="shown", published=True)
    NotCached.objects.create(name="n")
    cases = [
        (pair(model=Post), {"pk": 10**6}),  # Http404 with Django's message
        (pair(model=Post), {"slug": "missing"}),
        (pair(model=Post), {"slug": "missing"}),  # again, from the cached absence
        (pair(model=Post), {}),  # AttributeError: neither pk nor slug
        (pair(model=Post), {"pk": "abc"}),  # ValueError from the field
        (pair(model=Post), {"pk": post.pk, "slug": "wrong"}),  # pk alone decides
        (pair(model=Post, query_pk_and_slug=True), {"pk": post.pk, "slug": "hello"}),
        (pair(model=Post, query_pk_and_slug=True), {"pk": post.pk, "slug": "wrong"}),
        (pair(model=Post, slug_field="title"), {"slug": "dup"}),  # MultipleObjectsReturned
        (pair(model=Post, slug_url_kwarg="s", pk_url_kwarg="id"), {"s": "hello"}),
        (pair(model=Post, slug_url_kwarg="s", pk_url_kwarg="id"), {"id": post.pk}),
        (pair(model=Post, slug_url_kwarg="s"), {"slug": "hello"}),  # the wrong kwarg
        (pair(queryset=Post.objects.filter(title="x")), {"pk": post.pk}),
        (pair(queryset=Post.objects.select_related("writer")), {"slug": "hello"}),
        (pair(model=Published), {"pk": hidden.pk - 1}),  # the manager's own filter
        (pair(model=Published), {"pk": hidden.pk}),
        (pair(model=NotCached), {"pk": 1}),
        (pair(model=NotCached, slug_field="name"), {"slug": "n"}),
    ]
    for views, kwargs in cases:
        same(views, **kwargs)
    missing = ("raised", Http404, "No post found matching the query")
    assert same(pair(model=Post), slug="missing") == missing


def test_a_get_queryset_of_the_users_own_rows_goes_to_django(backend):
    """A queryset built from the request (one user's rows) is never answered from the cache."""
    mine = Post.objects.create(slug="mine", title="ann")
    theirs = Post.objects.create(slug="theirs", title="bob")

    def get_queryset(self: Any) -> Any:
        return Post.objects.filter(title=self.request.GET["user"])

    views = pair(get_queryset=get_queryset)
    cached_get(Post, theirs.pk)  # warm: a hit would leak it
    assert same(views, "/?user=ann", pk=mine.pk)[:2] == ("response", 200)
    assert same(views, "/?user=ann", pk=theirs.pk)[:2] == ("raised", Http404)


def test_update_and_delete_views_read_through_the_cache_and_write_through_django(backend):
    post = Post.objects.create(slug="s", title="old")
    cached_get(Post, post.pk)

    class Edit(CachedObjectMixin, UpdateView):
        model = Post
        fields = ("title",)
        success_url = "/done/"

    class Remove(CachedObjectMixin, DeleteView):
        model = Post
        success_url = "/done/"

    request = RequestFactory().post("/", {"title": "new"})
    assert Edit.as_view()(request, slug="s").status_code == 302
    assert cached_get(Post, post.pk).title == "new"  # the save retired the entry
    assert Remove.as_view()(RequestFactory().post("/"), pk=post.pk).status_code == 302
    with pytest.raises(Post.DoesNotExist):
        cached_get(Post, post.pk)
