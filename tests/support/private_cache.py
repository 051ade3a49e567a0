"""A private redis-server wired in as cachefresh's cache (its keys die with it), with PostgreSQL
as the database; the near cache switched on over it."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.test import override_settings

from cachefresh import near
from tests.support.redis_servers import RedisServer, cache_entry, redis_server
from tests.support.routers import ACTIVE
from tests.support.servers import require_servers
from tests.testapp.models import Article

#: Socket timeouts of the private cache: what an unreachable cache costs a call.
TIMEOUT = 0.2


class Private:
    """A private server wired in as cachefresh's cache, and its settings for child processes."""

    def __init__(self, server: RedisServer, retry_interval: float) -> None:
        self.server = server
        self.caches = {**settings.CACHES, "private": cache_entry(server.url, TIMEOUT)}
        self.cachefresh = {
            **settings.CACHEFRESH,
            "CACHE": "private",
            "KEY_PREFIX": f"t{uuid.uuid4().hex[:12]}",
            "RETRY_INTERVAL": retry_interval,
        }


@contextlib.contextmanager
def private_cache(*redis_args: str, retry_interval: float = 0.2) -> Iterator[Private]:
    require_servers()
    with redis_server(*redis_args) as server:
        setup = Private(server, retry_interval)
        ACTIVE["alias"] = "pg"
        try:
            with override_settings(CACHES=setup.caches, CACHEFRESH=setup.cachefresh):
                yield setup
        finally:
            ACTIVE["alias"] = "default"


def make_articles(count: int, body: str = "") -> list[int]:
    Article.objects.bulk_create(Article(title=f"a{i}", body=body) for i in range(count))
    return list(Article.objects.order_by("pk").values_list("pk", flat=True))


def assert_clean(reports: list[dict[str, Any]]) -> None:
    for report in reports:
        assert report["ops"] > 50, report
        assert report["errors"] == [], report
        assert report["stale_own"] == [], report
        assert report["final_stale"] == [], report
        assert report["hits"] > 0, report  # the cache was in play, not only the database
        assert report["outbox_left"] == 0, report


@contextlib.contextmanager
def near_on(private: Private, **options: Any) -> Iterator[near.NearCache]:
    private.cachefresh = {**private.cachefresh, "NEAR_CACHE": options or True}
    with override_settings(CACHEFRESH=private.cachefresh):
        cache = near.current()
        assert cache is not None
        assert cache.wait_serving(5), "tracking did not come up"
        yield cache
