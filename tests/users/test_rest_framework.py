"""cachefresh.contrib.rest_framework.CachedGetObjectMixin against plain DRF views, through DRF's
test client: the same responses, status codes and permission outcomes, from the cache where
the lookup allows it."""

from typing import Any

import pytest
from django.db import connections
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from cachefresh import cached_get
from tests.support.redis_keys import forget_keys_of_this_test
from tests.testapp.models import NotCached, Post

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

# No django.contrib.auth in the test project: DRF's anonymous user is None.
DRF = {"UNAUTHENTICATED_USER": None}


@pytest.fixture(autouse=True)
def _drf(backend):
    with override_settings(ROOT_URLCONF="tests.support.drf_app", REST_FRAMEWORK=DRF):
        yield
    forget_keys_of_this_test()


def answer(method: str, url: str, **data: Any) -> tuple[Any, ...]:
    """Status and body of a request, or the exception DRF let through."""
    client = APIClient()
    try:
        response = getattr(client, method)(url, data or None, format="json")
    except Exception as exc:
        return ("raised", type(exc), str(exc))
    return (response.status_code, response.json() if response.content else None)


def same(method: str, url: str, **data: Any) -> tuple[Any, ...]:
    ours, drf = answer(method, f"/cached/{url}", **data), answer(method, f"/plain/{url}", **data)
    assert ours == drf, (method, url)
    return ours


def test_retrieve_by_pk_and_by_slug_from_the_cache(backend):
    post = Post.objects.create(slug="hello", title="t")
    for url in (f"posts/{post.pk}/", "by-slug/hello/"):
        assert same("get", url)[0] == 200
        for prefix, queries_expected in (("cached", 0), ("plain", 1)):
            with CaptureQueriesContext(connections[backend]) as queries:
                answer("get", f"/{prefix}/{url}")
            assert len(queries) == queries_expected, (prefix, url)


def test_every_outcome_is_drfs(backend):
    post = Post.objects.create(slug="hello", title="dup", code="ann")
    Post.objects.create(slug="other", title="dup", code="bob")
    secret = Post.objects.create(slug="secret", title="secret")
    NotCached.objects.create(name="n")
    cached_get(Post, secret.pk)
    urls = [
        f"posts/{post.pk}/",
        "posts/999999/",  # 404: "No Post matches the given query."
        "posts/999999/",  # again
        "posts/abc/",  # a value the field refuses: DRF's bare 404
        f"posts/{secret.pk}/",  # 403 from the object permission, hit or not
        "by-slug/secret/",
        "by-slug/missing/",
        "by-slug/missing/",  # the cached absence
        f"posts/{post.pk}/?title=dup",  # a filter backend narrows: DRF's own lookup
        f"posts/{post.pk}/?title=other",  # narrowed away: 404
        f"posts/{post.pk}/?ordering=title",  # ordering narrows nothing
        "by-title/dup/",  # MultipleObjectsReturned, not unique
        f"own/{post.pk}/?owner=ann",
        f"own/{post.pk}/?owner=bob",  # another caller's row: 404, even warm
        "wrong/hello/",  # AssertionError: lookup_url_kwarg missing from the URL
        "not-cached/1/",
    ]
    outcomes = [same("get", url) for url in urls]
    assert outcomes[1] == (404, {"detail": "No Post matches the given query."})
    assert outcomes[3] == (404, {"detail": "Not found."})
    assert outcomes[4] == (403, {"detail": "Secret posts are refused."})
    assert outcomes[5][0] == 403
    assert outcomes[9][0] == 404 and outcomes[13][0] == 404
    assert outcomes[14][:2] == ("raised", AssertionError)


def test_writes_through_the_viewset(backend):
    post = Post.objects.create(slug="s", title="old")
    twin = Post.objects.create(slug="t", title="old")
    cached_get(Post, post.pk)
    cached_get(Post, twin.pk)
    ours = answer("patch", f"/cached/posts/{post.pk}/", title="new")
    drf = answer("patch", f"/plain/posts/{twin.pk}/", title="new")
    assert ours[0] == drf[0] == 200 and ours[1]["title"] == drf[1]["title"] == "new"
    assert same("get", f"posts/{post.pk}/")[1]["title"] == "new"  # the save retired it
    assert answer("delete", f"/cached/posts/{post.pk}/") == (204, None)
    assert answer("delete", f"/plain/posts/{twin.pk}/") == (204, None)
    assert same("get", f"posts/{post.pk}/")[0] == 404
    secret = Post.objects.create(slug="x", title="secret")
    assert same("delete", f"posts/{secret.pk}/")[0] == 403
    assert Post.objects.filter(pk=secret.pk).exists()
