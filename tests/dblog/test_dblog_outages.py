"""The invalidation log through outages: the listener loses its database, or the cache.

The shared servers are never restarted: a proxy in front of one cuts the listener's
connections, which is what a restart looks like from the listener. The cache is a private
``redis-server``, paused. Each runs on every database the listener can lose.
"""

import time

import pytest
from django.conf import settings
from django.db import connections
from django.test import override_settings

from cachefresh import cached_get
from cachefresh.store import get_store
from tests.support.dblog_databases import run_raw_sql_on
from tests.support.dblog_procs import (
    CuttableProxy,
    ListenerProcess,
    clear_log,
    eventually,
    listener,
    log_rows,
    title_is,
)
from tests.support.raw_entries import row_keys
from tests.support.redis_servers import (
    RedisServer,
    cache_entry,
    redis_server,
    require_redis_server,
)
from tests.testapp.models import Article

pytestmark = [
    pytest.mark.django_db(transaction=True, databases="__all__"),
    pytest.mark.servers,
    pytest.mark.slow,
]


@pytest.mark.parametrize("shared_log_db", ["postgresql", "mysql"], indirect=True)
def test_the_listener_survives_a_database_restart_and_loses_no_row(shared_log_db):
    alias = shared_log_db
    article = Article.objects.create(title="old")
    clear_log(alias)  # the insert's row: a listener retiring it would empty the cache
    cached_get(Article, article.pk)
    db = connections[alias].settings_dict
    proxy = CuttableProxy((db["HOST"], int(db["PORT"])))
    try:
        with listener(settings.CACHEFRESH, pg_port=proxy.port, alias=alias) as worker:
            proxy.cut()  # to the listener, the database went away
            update = f"UPDATE testapp_article SET title = 'during' WHERE id = {article.pk}"
            run_raw_sql_on(alias, update)
            time.sleep(1.5)
            assert cached_get(Article, article.pk).title == "old"  # nobody retired it yet
            assert log_rows(alias) == [("testapp_article", str(article.pk))]
            proxy.restore()
            assert eventually(title_is(article.pk, "during"))
            assert "retrying in" in worker.output()
            assert worker.stop() == 0
    finally:
        proxy.close()


def entry_still_held(server: RedisServer, article: Article, alias: str) -> bool:
    token = get_store().store.make_key(row_keys(article, alias).token)  # type: ignore[attr-defined]
    return bool(server.client().exists(token))


def test_rows_stay_in_the_log_while_the_cache_is_down_even_if_the_listener_dies(shared_log_db):
    alias = shared_log_db
    require_redis_server()
    with redis_server() as server:
        # The listener gives up on the paused server fast; this process, which only talks
        # to it while it runs, is patient, so that a loaded machine cannot fail its fill.
        listener_caches = {**settings.CACHES, "private": cache_entry(server.url, 0.2)}
        caches = {**settings.CACHES, "private": cache_entry(server.url, 2)}
        cachefresh = {**settings.CACHEFRESH, "CACHE": "private", "RETRY_INTERVAL": 0.2}
        with override_settings(CACHES=caches, CACHEFRESH=cachefresh):
            article = Article.objects.create(title="old")
            clear_log(alias)
            cached_get(Article, article.pk)
            assert entry_still_held(server, article, alias)
            first = ListenerProcess(cachefresh, listener_caches, alias=alias).start()
            try:
                server.pause()
                update = f"UPDATE testapp_article SET title = 'new' WHERE id = {article.pk}"
                run_raw_sql_on(alias, update)
                time.sleep(1.5)  # it claims, cannot retire, rolls back, backs off: again and again
                first.kill()
                server.resume()
                assert "the cache did not take the retirements" in first.output()
                assert log_rows(alias) == [("testapp_article", str(article.pk))]
                # Asked of the server itself, not through this process's breaker.
                assert entry_still_held(server, article, alias), "the cache was retired"
            finally:
                first.close()
            with listener(cachefresh, caches=listener_caches, alias=alias):
                assert eventually(title_is(article.pk, "new"))
        clear_log(alias)
