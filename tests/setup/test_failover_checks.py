"""System checks of a Sentinel setup (E008) and of WAIT_FOR_REPLICAS (E001, E009), and the
clear error a store that cannot wait raises on first use. No server is contacted."""

from typing import Any

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from cachefresh.checks import check_cachefresh
from cachefresh.store import get_store
from cachefresh.store.sentinel import SentinelStore

SENTINEL_OPTIONS = {
    "CLIENT_CLASS": "django_redis.client.SentinelClient",
    "CONNECTION_FACTORY": "django_redis.pool.SentinelConnectionFactory",
    "SENTINELS": [("127.0.0.1", 26379)],
}


def found(entry: dict[str, Any], **cachefresh: Any) -> list[Any]:
    caches = {**settings.CACHES, "sentinel": entry}
    with override_settings(CACHES=caches, CACHEFRESH={"CACHE": "sentinel", **cachefresh}):
        return [m for m in check_cachefresh() if m.id in ("cachefresh.E008", "cachefresh.E009")]


def sentinel_entry(location: str = "redis://mymaster/0", **options: Any) -> dict[str, Any]:
    return {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": location,
        "OPTIONS": {**SENTINEL_OPTIONS, **options},
    }


def test_a_complete_sentinel_setup_passes_and_is_served_by_the_sentinel_store() -> None:
    assert found(sentinel_entry(), WAIT_FOR_REPLICAS=1) == []
    with override_settings(
        CACHES={**settings.CACHES, "sentinel": sentinel_entry()},
        CACHEFRESH={"CACHE": "sentinel"},
    ):
        assert isinstance(get_store().store, SentinelStore)


@pytest.mark.parametrize(
    ("entry", "text"),
    [
        (sentinel_entry(CONNECTION_FACTORY=None), "without OPTIONS['CONNECTION_FACTORY']"),
        (sentinel_entry(SENTINELS=None), "must list the Sentinels"),
        (sentinel_entry(SENTINELS="127.0.0.1:26379"), "must list the Sentinels"),
        (sentinel_entry(SENTINELS=[("127.0.0.1", "26379")]), "must list the Sentinels"),
        (
            sentinel_entry("redis://mymaster/0?is_master=0", CLIENT_CLASS=None),
            "names the replicas (is_master=0)",
        ),
    ],
)
def test_an_incomplete_sentinel_setup_is_E008(entry: dict[str, Any], text: str) -> None:
    messages = found(entry)
    assert [m.id for m in messages] == ["cachefresh.E008"]
    assert text in messages[0].msg
    assert "pydoc cachefresh.store.sentinel" in messages[0].hint


def test_wait_for_replicas_must_be_a_whole_number() -> None:
    for bad in (-1, 1.5, True, "1"):
        with override_settings(CACHEFRESH={"WAIT_FOR_REPLICAS": bad}):
            messages = [m for m in check_cachefresh() if m.id == "cachefresh.E001"]
        assert messages and "WAIT_FOR_REPLICAS" in messages[0].msg, bad


def test_wait_for_replicas_on_a_cache_without_replicas_is_E009_and_refused_on_use() -> None:
    locmem = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    messages = found(locmem, WAIT_FOR_REPLICAS=1)
    assert [m.id for m in messages] == ["cachefresh.E009"]
    assert "no replicas to wait for" in messages[0].msg
    assert found(locmem, WAIT_FOR_REPLICAS=0) == []
    caches = {**settings.CACHES, "sentinel": locmem}
    cachefresh = {"CACHE": "sentinel", "WAIT_FOR_REPLICAS": 2}
    with (
        override_settings(CACHES=caches, CACHEFRESH=cachefresh),
        pytest.raises(ImproperlyConfigured, match="WAIT_FOR_REPLICAS"),
    ):
        get_store()
