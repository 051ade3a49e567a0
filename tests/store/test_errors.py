"""A bug of ours raises; only the cache client's own failures count as a cache outage."""

import socket

import pytest
from django.conf import settings
from django.test import override_settings

from cachefresh import cached_get, codec
from cachefresh.store import get_store
from tests.testapp.models import Article

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def test_a_programming_error_in_our_code_reaches_the_caller(backend, monkeypatch):
    article = Article.objects.create(title="t")
    cached_get(Article, article.pk)

    def broken(*args, **kwargs):
        raise TypeError("a bug in cachefresh")

    monkeypatch.setattr(codec, "decode", broken)
    with pytest.raises(TypeError, match="a bug in cachefresh"):
        cached_get(Article, article.pk)
    store = get_store()
    assert not store.breaker.failing  # not mistaken for an outage


def test_a_bug_below_the_store_facade_is_not_an_outage(backend, monkeypatch):
    article = Article.objects.create(title="t")
    store = get_store()

    def broken(keys):
        raise AttributeError("a bug in a store backend")

    monkeypatch.setattr(store.store, "get_many", broken)
    with pytest.raises(AttributeError):
        cached_get(Article, article.pk)
    assert not store.breaker.failing


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_refused_connection_is_an_outage_and_reads_fall_back(db):
    dead = {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
    }
    article = Article.objects.create(title="t")
    with override_settings(
        CACHES={**settings.CACHES, "dead": dead}, CACHEFRESH=dict(settings.CACHEFRESH, CACHE="dead")
    ):
        assert cached_get(Article, article.pk).title == "t"
        assert get_store().breaker.failing
