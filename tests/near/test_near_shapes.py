"""The near cache on the event loop of a fresh process, and with values that cannot be
deep-copied (a memoryview, as psycopg2 gives every BinaryField)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from asgiref.sync import async_to_sync
from django.db import connections

from cachefresh import acached_get, cached_get, cached_get_many, databases
from tests.support.private_cache import Private, make_articles, near_on, private_cache
from tests.testapp.models import Article
from tests.writeapp.models import Blob

pytestmark = [pytest.mark.django_db(transaction=True, databases="__all__"), pytest.mark.servers]


@pytest.fixture
def private() -> Iterator[Private]:
    with private_cache() as setup:
        yield setup


def forget_learned_databases(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a fresh process knows: no database identity learned, no connection open."""
    monkeypatch.setattr(databases, "_recent", {})
    monkeypatch.setattr(databases, "_segments", {})
    for connection in connections.all(initialized_only=True):
        connection.close()


def test_async_reads_in_a_fresh_process_never_connect_on_the_event_loop(
    private: Private, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Asking the database who it is connects: on the event loop, Django raises
    SynchronousOnlyOperation. The read goes to a thread instead, as a miss does."""
    pk = make_articles(1)[0]
    with near_on(private):
        forget_learned_databases(monkeypatch)
        assert async_to_sync(acached_get)(Article, pk).pk == pk
        forget_learned_databases(monkeypatch)
        assert async_to_sync(Article.objects.acached_get)(pk=pk).pk == pk
        forget_learned_databases(monkeypatch)
        # The plain asyncio way a view runs; its thread's connection is closed below.
        assert asyncio.run(Article.objects.acached_get(pk=pk)).title == "a0"
    for connection in connections.all(initialized_only=True):
        connection.close()


def test_a_memoryview_row_is_held_and_handed_out_as_django_does(private: Private) -> None:
    blob = Blob.objects.create(data=b"\x00\x01payload")
    with near_on(private) as cache:
        for _ in range(3):  # fill, Redis hit (held near), near hit
            got = cached_get(Blob, blob.pk)
        assert len(cache.tier) == 1
        again = cached_get_many(Blob, [blob.pk])[blob.pk]
        expected = Blob.objects.get(pk=blob.pk).data
        for value in (got.data, again.data):
            assert type(value) is type(expected) is memoryview
            assert value.tobytes() == expected.tobytes()
        assert got.data is not again.data  # each instance has its own view
