"""The event-loop reader reaches the server the sync client reaches, the way it reaches it:
``LOCATION`` (host, port, db, password, a unix socket) and ``OPTIONS`` (timeouts, SSL), under
django-redis and Django's own ``RedisCache``. What it cannot honour it does not serve: those
reads keep the thread."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.conf import settings
from django.test import override_settings

from cachefresh import acached_get, cached_get_many
from cachefresh.store import aio, get_store
from tests.support.no_hop import forbid_hops, on_the_loop
from tests.support.private_cache import make_articles
from tests.support.redis_servers import cache_entry, redis_server
from tests.support.routers import ACTIVE
from tests.support.servers import require_servers
from tests.testapp.models import Article

pytestmark = [pytest.mark.django_db(transaction=True, databases="__all__"), pytest.mark.servers]


@pytest.fixture
def on_pg() -> Iterator[None]:
    require_servers()
    ACTIVE["alias"] = "pg"
    try:
        yield
    finally:
        ACTIVE["alias"] = "default"


def served_on_the_loop(cache: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``cache`` as cachefresh's cache, warm rows are hits on the event loop."""
    config = {**settings.CACHEFRESH, "CACHE": "private", "KEY_PREFIX": f"t{uuid.uuid4().hex[:12]}"}
    with override_settings(CACHES={**settings.CACHES, "private": cache}, CACHEFRESH=config):
        pks = make_articles(2)
        cached_get_many(Article, pks)
        assert aio.reader_of(get_store()) is not None
        with monkeypatch.context() as patched:
            forbid_hops(patched)
            assert on_the_loop(lambda: acached_get(Article, pks[1])).pk == pks[1]


def test_password_and_database_number(on_pg: None, monkeypatch) -> None:
    """A wrong database number would miss, a missing password fail: either would hop."""
    with redis_server() as server:
        with server.client() as client:
            client.config_set("requirepass", "s3cret")
        url = f"redis://:s3cret@127.0.0.1:{server.port}/3"
        served_on_the_loop(cache_entry(url), monkeypatch)
        with server.client(password="s3cret", db=3) as client:
            assert client.dbsize() > 0
            client.flushdb()


def test_a_unix_socket(on_pg: None, monkeypatch, tmp_path) -> None:
    socket = str(tmp_path / "redis.sock")
    with redis_server("--unixsocket", socket, "--unixsocketperm", "700"):
        served_on_the_loop(cache_entry(f"unix://{socket}?db=2"), monkeypatch)


def test_djangos_own_redis_cache(on_pg: None, monkeypatch) -> None:
    with redis_server() as server:
        cache = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": server.url}
        served_on_the_loop(cache, monkeypatch)


def test_the_settings_carried_over(on_pg: None) -> None:
    """Timeouts, credentials and SSL settings reach the asyncio connections; the sync pool's
    own machinery (its parser, its callbacks) does not."""
    import redis.asyncio.connection as async_connection
    from redis.asyncio.retry import Retry as AsyncRetry
    from redis.backoff import ExponentialBackoff
    from redis.retry import Retry

    client = redis.Redis(
        host="10.0.0.1", port=6380, db=4, username="u", password="p", socket_timeout=0.3,
        socket_connect_timeout=0.4, ssl=True, ssl_cert_reqs="required",
        ssl_ca_certs="/etc/ssl/ca.pem", ssl_check_hostname=True,
        retry=Retry(ExponentialBackoff(), 2), max_connections=10,
    )  # fmt: skip
    found = aio._async_settings(client)
    assert found is not None
    connection_class, kwargs = found
    assert connection_class is async_connection.SSLConnection
    expected = {
        "host": "10.0.0.1", "port": 6380, "db": 4, "username": "u", "password": "p",
        "socket_timeout": 0.3, "socket_connect_timeout": 0.4, "ssl_cert_reqs": "required",
        "ssl_ca_certs": "/etc/ssl/ca.pem", "ssl_check_hostname": True,
        "max_connections": 10,
    }  # fmt: skip
    assert {key: kwargs.get(key) for key in expected} == expected
    assert "parser_class" not in kwargs and "redis_connect_func" not in kwargs
    assert isinstance(kwargs["retry"], AsyncRetry) and kwargs["retry"].get_retries() == 2
    connection = connection_class(**{k: v for k, v in kwargs.items() if k != "max_connections"})
    assert (connection.host, connection.port, connection.db) == ("10.0.0.1", 6380, 4)
    assert connection.socket_timeout == 0.3


def test_what_the_reader_cannot_honour_keeps_the_thread(on_pg: None) -> None:
    """A connection class of the application's own (Sentinel's is one), or a setting the
    asyncio client lacks (OCSP stapling): no event-loop reader."""

    class Custom(redis.connection.Connection):
        pass

    custom = redis.Redis(connection_pool=redis.ConnectionPool(connection_class=Custom))
    assert aio._async_settings(custom) is None
    if "ssl_validate_ocsp" in redis.connection.SSLConnection.__init__.__code__.co_varnames:
        ocsp = redis.Redis(ssl=True, ssl_validate_ocsp=True)
        assert aio._async_settings(ocsp) is None
