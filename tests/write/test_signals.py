"""Signals and logging: what is sent, with which arguments, and when (after commit only)."""

import logging
import socket
from contextlib import contextmanager

import pytest
from django.conf import settings
from django.db import connections, transaction
from django.test import override_settings

from cachefresh import cached_get, cached_get_many, invalidate, invalidate_model, signals
from tests.testapp.models import Article, ArticleProxy

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


@contextmanager
def listening(signal):
    received = []

    def receiver(sender, **kwargs):
        kwargs.pop("signal")
        received.append((sender, kwargs))

    signal.connect(receiver)
    try:
        yield received
    finally:
        signal.disconnect(receiver)


def test_hit_and_miss_carry_model_pk_database_and_reason(backend):
    article = Article.objects.create(title="a")
    with listening(signals.cache_hit) as hits, listening(signals.cache_miss) as misses:
        cached_get(Article, article.pk)
        cached_get(Article, article.pk)
    assert misses == [(Article, {"using": backend, "pk": article.pk, "reason": "absent"})]
    assert hits == [(Article, {"using": backend, "pk": article.pk})]


def test_sender_is_the_model_asked_for_even_a_proxy(backend):
    article = Article.objects.create(title="a")
    cached_get(Article, article.pk)
    with listening(signals.cache_hit) as hits:
        ArticleProxy.objects.cached_get(pk=article.pk)
    assert [sender for sender, _ in hits] == [ArticleProxy]


def test_get_many_sends_one_signal_per_row(backend):
    first, second = Article.objects.create(title="a"), Article.objects.create(title="b")
    cached_get(Article, first.pk)
    with listening(signals.cache_hit) as hits, listening(signals.cache_miss) as misses:
        cached_get_many(Article, [first.pk, second.pk])
    assert [kwargs["pk"] for _, kwargs in hits] == [first.pk]
    assert [(kwargs["pk"], kwargs["reason"]) for _, kwargs in misses] == [(second.pk, "absent")]


def test_miss_reasons_inside_transactions(backend):
    article = Article.objects.create(title="a")
    with listening(signals.cache_miss) as misses, transaction.atomic(using=backend):
        cached_get(Article, article.pk)
        Article.objects.filter(pk=article.pk).update(title="b")
        cached_get(Article, article.pk)
        cached_get_many(Article, [article.pk])
    # PostgreSQL and MySQL at READ COMMITTED fill inside a transaction: the first miss is plain.
    filling = connections[backend].vendor in ("postgresql", "mysql")
    first = "absent" if filling else "in_transaction"
    assert [kwargs["reason"] for _, kwargs in misses] == [
        first,
        "written_in_transaction",
        "written_in_transaction",
    ]
    assert set(signals.MISS_REASONS) >= {kwargs["reason"] for _, kwargs in misses}


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_cache_unavailable_is_a_miss_reason_and_a_warning(caplog):
    """A Redis nobody listens on: reads go to the database, the signal says why."""
    dead = {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
    }
    article = Article.objects.create(title="a")
    config = dict(settings.CACHEFRESH, CACHE="dead")
    with (
        override_settings(CACHES={**settings.CACHES, "dead": dead}, CACHEFRESH=config),
        listening(signals.cache_miss) as misses,
        caplog.at_level(logging.WARNING, logger="cachefresh"),
    ):
        assert cached_get(Article, article.pk).title == "a"
    assert [kwargs["reason"] for _, kwargs in misses] == ["cache_unavailable"]
    assert any(
        record.levelno == logging.WARNING and "cache unreachable" in record.getMessage()
        for record in caplog.records
    )


def test_each_miss_is_logged_at_debug_with_its_reason(backend, caplog):
    article = Article.objects.create(title="a")
    with caplog.at_level(logging.DEBUG, logger="cachefresh"):
        cached_get(Article, article.pk)
        cached_get(Article, article.pk)
    misses = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert misses == [f"cachefresh: miss on testapp.Article pk {article.pk!r} (absent)"]


def test_invalidated_names_rows_or_whole_tables(backend):
    article = Article.objects.create(title="a")
    with listening(signals.invalidated) as sent:
        article.title = "b"
        article.save()
        Article.objects.filter(title="b").update(views=1)
        invalidate(Article, article.pk)
        invalidate_model(Article)
    table = Article._meta.db_table
    assert sent == [
        (Article, {"using": backend, "table": table, "pks": [article.pk]}),
        (Article, {"using": backend, "table": table, "pks": None}),
        (Article, {"using": backend, "table": table, "pks": [article.pk]}),
        (Article, {"using": backend, "table": table, "pks": None}),
    ]


def test_invalidated_is_sent_on_commit_and_never_on_rollback(backend):
    article = Article.objects.create(title="a")
    with listening(signals.invalidated) as sent:
        with transaction.atomic(using=backend):
            Article.objects.filter(pk=article.pk).update(title="b")
            assert sent == []  # nothing retired before the commit
        assert [kwargs["pks"] for _, kwargs in sent] == [[article.pk]]
        sent.clear()
        with pytest.raises(RuntimeError), transaction.atomic(using=backend):
            Article.objects.filter(pk=article.pk).update(title="c")
            raise RuntimeError
        assert sent == []
