"""strategy="auto" follows measured latency: the column fetch wins when the cache is far, the
cache wins when the database is far. Distances are made real with a loopback latency proxy."""

import uuid

import pytest
from django.conf import settings as django_settings
from django.db import connections
from django.test.utils import override_settings

from benchmarks.env.proxy import LatencyProxy
from cachefresh import Strategy, cached_get, smart_refresh
from cachefresh.cost import WARMUP, CostModel, cost_model
from cachefresh.database_strategies import DATABASE
from tests.support.routers import ACTIVE
from tests.support.servers import require_servers
from tests.testapp.models import Article

CANDIDATES = tuple(DATABASE)  # the database strategies auto chooses among

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

DELAY_MS = 3.0


def settle(article, calls=60):
    cost_model.reset()
    return [smart_refresh(article, ["views"]) for _ in range(calls)][-20:]


def test_sqlite_with_a_far_redis_picks_the_column_fetch():
    require_servers()
    redis = django_settings.CACHES["redis"]
    host, port = redis["LOCATION"].split("//")[1].split("/")[0].split(":")
    with LatencyProxy(host, int(port), DELAY_MS) as proxy:
        far = dict(redis, LOCATION=f"redis://127.0.0.1:{proxy.port}/0")
        caches = dict(django_settings.CACHES, far=far)
        config = {"CACHE": "far", "KEY_PREFIX": f"t{uuid.uuid4().hex[:12]}"}
        with override_settings(CACHES=caches, CACHEFRESH=config):
            article = Article.objects.create(title="t")
            cached_get(Article, article.pk)
            used = settle(article)
    assert used.count(Strategy.COLUMNS) >= 18, used


def test_far_postgres_with_a_near_redis_picks_the_cache():
    require_servers()
    connection = connections["pg"]
    original = connection.settings_dict["PORT"]
    config = {"CACHE": "redis", "KEY_PREFIX": f"t{uuid.uuid4().hex[:12]}"}
    ACTIVE["alias"] = "pg"
    try:
        with LatencyProxy(connection.settings_dict["HOST"], int(original), DELAY_MS) as proxy:
            connection.close()
            connection.settings_dict["PORT"] = proxy.port
            with override_settings(CACHEFRESH=config):
                article = Article.objects.create(title="t")
                cached_get(Article, article.pk)
                used = settle(article)
            connection.close()
    finally:
        connection.settings_dict["PORT"] = original
        ACTIVE["alias"] = "default"
    assert used.count(Strategy.CACHE) >= 18, used


def test_one_pause_does_not_flip_the_choice_and_a_lasting_change_does():
    """A single slow sample (a GC pass on a loaded machine) left columns dearer than full for
    the rest of a run; a change that lasts must still be followed."""
    model = CostModel()
    known = model.of("testapp.Article", "default", False)
    for _ in range(WARMUP + 5):
        known.of("full").observe(300e-6)
        known.of("columns").observe(50e-6)
    known.of("columns").observe(20e-3)  # one pause, 400x the usual time
    assert model.decide(known, CANDIDATES, cache_allowed=False).database == "columns"
    for _ in range(15):  # the column fetch really got slow
        known.of("columns").observe(20e-3)
    assert model.decide(known, CANDIDATES, cache_allowed=False).database == "full"
