"""Entries placed under cachefresh's keys by hand, as another client of the cache could."""

from typing import Any

from cachefresh import cached_get
from cachefresh.keys import RowKeys
from cachefresh.registry import registry
from cachefresh.store import get_store
from tests.testapp.models import Article


def put_raw(key: str, value: Any) -> None:
    """Place ``value`` under a cachefresh key, as another client of the cache could."""
    store = get_store().store
    client = getattr(store, "client", None)
    if client is not None:
        client.set(store.make_key(key), value, ex=600)  # type: ignore[attr-defined]
    else:
        store.cache.set(key, value, 600)


def row_keys(article: Article, alias: str) -> RowKeys:
    return RowKeys(registry.plan(Article).table_tag(alias), article.pk)


def valid_entry(article: Article, alias: str) -> bytes:
    """The entry cachefresh holds for ``article`` now (filled by reading it)."""
    cached_get(Article, article.pk)
    store = get_store()
    plan = registry.plan(Article)
    keys = row_keys(article, alias)
    found = store.get_many([keys.entry, keys.token, plan.keys_of(alias)[2]])
    assert found is not None and isinstance(found[0], bytes)
    return found[0]
