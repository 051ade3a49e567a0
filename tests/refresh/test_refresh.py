"""smart_refresh(): the API, each strategy's contract, and how "auto" chooses."""

import asyncio
import logging

import pytest
from asgiref.sync import sync_to_async
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.db import connections, transaction
from django.test.utils import CaptureQueriesContext, override_settings

import cachefresh
from cachefresh import Strategy, cached_get, invalidate, smart_refresh, smart_refresh_many, stats
from cachefresh.cost import cost_model
from cachefresh.database_strategies import DATABASE
from cachefresh.registry import registry
from tests.refreshapp.models import Gadget
from tests.support.unseen import unseen_cursor
from tests.testapp.models import Article, Attachment, Author, NotCached, Restaurant

CANDIDATES = tuple(DATABASE)  # the database strategies auto chooses among

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

STRATEGIES = ["cache", "full", "columns", "auto"]


@pytest.fixture(autouse=True)
def fresh_cost_model():
    cost_model.reset()
    yield
    cost_model.reset()


def test_strategy_is_a_str_enum():
    assert [s.value for s in Strategy] == ["auto", "cache", "full", "columns"]
    assert Strategy.CACHE == "cache" and isinstance(Strategy.COLUMNS, str)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_brings_the_instance_up_to_date(backend, strategy):
    author = Author.objects.create(name="a")
    article = Article.objects.create(title="old", views=1, author=author)
    Article.objects.filter(pk=article.pk).update(title="new", views=2)
    cached_get(Article, article.pk)  # a warm entry, so "cache" has one to use
    used = smart_refresh(article, strategy=strategy)
    assert (article.title, article.views) == ("new", 2)
    assert isinstance(used, Strategy)
    if strategy != "auto":
        assert used == strategy


def test_cache_hit_runs_no_query(backend, django_assert_num_queries):
    article = Article.objects.create(title="t")
    cached_get(Article, article.pk)
    with django_assert_num_queries(0, using=backend):
        assert smart_refresh(article, strategy="cache") == Strategy.CACHE


def test_cache_miss_falls_back_to_full_and_fills(backend, django_assert_num_queries):
    article = Article.objects.create(title="t")
    assert smart_refresh(article, strategy="cache") == Strategy.FULL
    with django_assert_num_queries(0, using=backend):
        assert smart_refresh(article, strategy="cache") == Strategy.CACHE


def test_full_fills_the_cache_after_refresh_from_db(backend, django_assert_num_queries):
    article = Article.objects.create(title="t")
    assert smart_refresh(article, strategy="full") == Strategy.FULL
    with django_assert_num_queries(0, using=backend):
        assert cached_get(Article, article.pk).title == "t"


@pytest.mark.parametrize("name", ["docs/a.txt", None])
def test_full_fills_what_the_database_holds_not_the_attributes(backend, caplog, name):
    """A FileField's attribute is a FieldFile; the entry must hold the name the database has."""
    attachment = Attachment.objects.create(document=name)
    with caplog.at_level(logging.WARNING, logger="cachefresh"):
        assert smart_refresh(attachment, strategy="full") == Strategy.FULL
    assert not caplog.records  # "cannot be cached: … FieldFile"
    with CaptureQueriesContext(connections[backend]) as queries:
        hit = cached_get(Attachment, attachment.pk)
    assert len(queries) == 0
    in_db = Attachment.objects.get(pk=attachment.pk)
    assert hit.__dict__["document"] == in_db.__dict__["document"]  # the name: "" for None
    assert hit.document == in_db.document == attachment.document


def test_columns_selects_only_the_requested_columns(backend):
    article = Article.objects.create(title="t", body="b" * 100, views=3)
    Article.objects.filter(pk=article.pk).update(views=4, body="changed")
    with CaptureQueriesContext(connections[backend]) as queries:
        assert smart_refresh(article, ["views"], strategy="columns") == Strategy.COLUMNS
    assert len(queries) == 1
    sql = queries[0]["sql"].lower()
    assert "views" in sql and "body" not in sql and "title" not in sql
    assert article.views == 4
    assert article.body == "b" * 100  # not requested, not touched, as refresh_from_db does


def test_columns_on_multi_table_inheritance_reads_parent_columns(backend):
    restaurant = Restaurant.objects.create(name="n", serves_pizza=False)
    Restaurant.objects.filter(pk=restaurant.pk).update(name="m", serves_pizza=True)
    smart_refresh(restaurant, ["name", "serves_pizza"], strategy="columns")
    assert (restaurant.name, restaurant.serves_pizza) == ("m", True)


def test_unknown_strategy_lists_the_valid_ones(backend):
    article = Article.objects.create(title="t")
    with pytest.raises(ValueError, match="'auto', 'cache', 'full', 'columns'"):
        smart_refresh(article, strategy="fastest")


def test_strategy_setting_applies_when_the_call_says_auto(backend, settings):
    article = Article.objects.create(title="t")
    settings.CACHEFRESH = dict(settings.CACHEFRESH, REFRESH_STRATEGY="columns")
    assert smart_refresh(article) == Strategy.COLUMNS
    assert smart_refresh(article, strategy="full") == Strategy.FULL


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_model_that_is_not_cached_is_refreshed_from_the_database(backend, strategy):
    thing = NotCached.objects.create(name="x")
    NotCached.objects.filter(pk=thing.pk).update(name="y")
    used = smart_refresh(thing, strategy=strategy)
    assert thing.name == "y"
    assert used in (Strategy.FULL, Strategy.COLUMNS)
    if strategy == "cache":
        assert used == Strategy.FULL  # a forced cache lookup acts as a miss
    with pytest.raises(ImproperlyConfigured, match="NotCached"):
        cached_get(NotCached, thing.pk)  # reads through the cache still refuse it


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_deleted_row_raises_does_not_exist(backend, strategy):
    article = Article.objects.create(title="t")
    cached_get(Article, article.pk)
    Article.objects.filter(pk=article.pk).delete()
    with pytest.raises(Article.DoesNotExist, match=r"Article matching query does not exist\."):
        smart_refresh(article, strategy=strategy)


@pytest.mark.parametrize("strategy", ["full", "columns"])
def test_database_strategy_finding_the_row_gone_retires_its_entry(backend, strategy):
    article = Article.objects.create(title="t")
    cached_get(Article, article.pk)
    with unseen_cursor(backend) as cursor:  # a write cachefresh cannot see
        cursor.execute(f"DELETE FROM {Article._meta.db_table} WHERE id = %s", [article.pk])
    with pytest.raises(Article.DoesNotExist, match=r"Article matching query does not exist\."):
        smart_refresh(article, strategy=strategy)
    with pytest.raises(Article.DoesNotExist):
        cached_get(Article, article.pk)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_errors_are_djangos_own(backend, strategy):
    article = Article.objects.create(title="t")
    with pytest.raises(ValueError, match='Found "__" in fields argument'):
        smart_refresh(article, ["author__name"], strategy=strategy)
    with pytest.raises(FieldDoesNotExist):
        smart_refresh(article, ["nope"], strategy=strategy)
    unsaved = Article(title="u")
    with pytest.raises(Article.DoesNotExist) as expected:
        unsaved.refresh_from_db()
    with pytest.raises(Article.DoesNotExist) as got:
        smart_refresh(Article(title="u"), strategy=strategy)
    assert str(got.value) == str(expected.value)


def test_auto_never_uses_the_cache_inside_a_transaction(backend, django_assert_num_queries):
    article = Article.objects.create(title="t")
    cached_get(Article, article.pk)
    for _ in range(10):  # past the cost model's warm-up
        smart_refresh(article)
    with transaction.atomic(using=backend):
        Article.objects.filter(pk=article.pk).update(title="inside")
        for _ in range(5):
            assert smart_refresh(article) != Strategy.CACHE
            assert article.title == "inside"
        # Forced, it still reads the database for a model written in this transaction.
        assert smart_refresh(article, strategy="cache") == Strategy.FULL
        assert article.title == "inside"
    with transaction.atomic(using=backend):
        locked = Article.objects.select_for_update().get(pk=article.pk)
        assert smart_refresh(locked) != Strategy.CACHE


def test_from_queryset_goes_to_refresh_from_db(backend):
    article = Article.objects.create(title="t", views=5)
    cached_get(Article, article.pk)
    with pytest.raises(Article.DoesNotExist):
        smart_refresh(article, from_queryset=Article.objects.filter(views=0))
    assert smart_refresh(article, from_queryset=Article.objects.all()) == Strategy.FULL


def test_cost_model_prices_the_lookup_against_the_database_time_it_saves():
    from cachefresh.cost import EXPLORE_SHARE, CostModel

    model = CostModel()
    # The first, cold calls (a miss, slow connections) must not weigh on the estimates.
    model.observe_database("m", "db", "full", False, 5e-3)
    model.observe_database("m", "db", "columns", False, 5e-3)
    model.of("m", "db", False).observe_lookup(False, 5e-3)
    for _ in range(2):
        model.observe_database("m", "db", "full", False, 300e-6)
        model.observe_database("m", "db", "columns", False, 100e-6)
        model.of("m", "db", False).observe_lookup(True, 40e-6)
    decisions = [model.decide(model.of("m", "db", False), CANDIDATES, True) for _ in range(2000)]
    chosen = [d for d in decisions if d.reason == "cost"]
    explored = [d for d in decisions if d.reason == "explore"]
    assert {(d.database, d.cache_first) for d in chosen} == {("columns", True)}
    # Both other branches are re-checked, the cheap one (columns alone) more often than full.
    tried_full = sum(d.database == "full" for d in explored)
    tried_columns = sum(d.database == "columns" and not d.cache_first for d in explored)
    assert tried_columns > tried_full >= 1
    # ...on a budget: exploring costs about EXPLORE_SHARE of the time per branch.
    spent = tried_full * 300e-6 + tried_columns * 100e-6
    assert spent <= 2 * EXPLORE_SHARE * 40e-6 * len(decisions) * 1.05
    # Cold rows at start-up miss, which says nothing about later lookups.
    cold = CostModel()
    for _ in range(3):
        cold.observe_database("m", "db", "full", False, 300e-6)
        cold.observe_database("m", "db", "columns", False, 100e-6)
        cold.of("m", "db", False).observe_lookup(False, 40e-6)
    assert cold.decide(cold.of("m", "db", False), CANDIDATES, True).cache_first
    # Mostly misses: a lookup that rarely saves the database trip is not worth making.
    for _ in range(60):
        model.of("m", "db", False).observe_lookup(False, 40e-6)
    assert not model.decide(model.of("m", "db", False), CANDIDATES, True).cache_first
    # A far cache: the lookup costs more than the query it would save.
    other = CostModel()
    for _ in range(3):
        other.observe_database("m", "db", "full", True, 300e-6)
        other.observe_database("m", "db", "columns", True, 100e-6)
        other.of("m", "db", True).observe_lookup(True, 2e-3)
    assert not other.decide(other.of("m", "db", True), CANDIDATES, True).cache_first
    assert not other.decide(other.of("m", "db", True), CANDIDATES, False).cache_first


def test_counters_say_which_strategy_ran_and_why(backend):
    article = Article.objects.create(title="t")
    before = stats.snapshot().get("testapp.Article", {})
    smart_refresh(article, strategy="columns")
    after = stats.snapshot()["testapp.Article"]
    assert after.get("refresh_columns", 0) == before.get("refresh_columns", 0) + 1
    assert after.get("refresh_reason_forced", 0) == before.get("refresh_reason_forced", 0) + 1


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_many_uses_one_cache_round_trip_and_one_query(backend, strategy):
    articles = [Article.objects.create(title=f"t{i}") for i in range(6)]
    for article in articles[:3]:
        cached_get(Article, article.pk)  # three warm, three cold
    Article.objects.update(views=7)  # every entry retired by the table-wide write
    for article in articles[:3]:
        cached_get(Article, article.pk)
    with CaptureQueriesContext(connections[backend]) as queries:
        used = smart_refresh_many(articles, strategy=strategy)
    assert all(a.views == 7 for a in articles)
    assert len(queries) <= 1
    if strategy in ("cache", "auto"):
        assert used[:3] == [Strategy.CACHE] * 3
        assert len(queries) == 1


def test_many_reports_a_deleted_row_after_refreshing_the_others(backend):
    first, second = Article.objects.create(title="a"), Article.objects.create(title="b")
    Article.objects.filter(pk=first.pk).update(title="a2")
    Article.objects.filter(pk=second.pk).delete()
    with pytest.raises(Article.DoesNotExist):
        smart_refresh_many([first, second], strategy="columns")
    assert first.title == "a2"


def test_async_twins(backend):
    article = Article.objects.create(title="t")
    Article.objects.filter(pk=article.pk).update(title="u")

    async def run():
        used = await cachefresh.asmart_refresh(article, strategy="columns")
        many = await cachefresh.asmart_refresh_many([article], strategy="full")
        got = await cachefresh.acached_get(Article, article.pk)
        got_many = await cachefresh.acached_get_many(Article, [article.pk])
        # The executor thread's connections must not outlive the test database.
        await sync_to_async(connections.close_all)()
        return used, many, got, got_many

    used, many, got, got_many = asyncio.run(run())
    assert used == Strategy.COLUMNS and many == [Strategy.FULL]
    assert got.title == "u" and got_many[article.pk].title == "u"


def test_model_mixin_gives_instance_smart_refresh(backend):
    gadget = Gadget.objects.create(name="g")
    Gadget.objects.filter(pk=gadget.pk).update(name="h")
    assert gadget.smart_refresh(strategy="columns") == Strategy.COLUMNS
    assert gadget.name == "h"
    assert isinstance(Gadget._default_manager, cachefresh.CacheFreshManager)


@override_settings(CACHEFRESH={"REFRESH_STRATEGY": "sideways"})
def test_bad_strategy_setting_is_reported():
    from cachefresh.checks import check_cachefresh

    messages = check_cachefresh()
    assert any("REFRESH_STRATEGY" in m.msg and "sideways" in m.msg for m in messages)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_nothing_read_in_a_manual_transaction_is_stored(backend, strategy):
    article = Article.objects.create(title="committed")
    connection = connections[backend]
    connection.set_autocommit(False)
    try:
        with unseen_cursor(backend) as cursor:  # uncommitted, and out of cachefresh's sight
            cursor.execute(
                f"UPDATE {Article._meta.db_table} SET title = %s WHERE id = %s",
                ["uncommitted", article.pk],
            )
        # As documented for raw SQL: invalidate() tells cachefresh the transaction wrote it.
        invalidate(Article, article.pk)
        smart_refresh(article, strategy=strategy)
        assert article.title == "uncommitted"
        connection.rollback()
    finally:
        connection.set_autocommit(True)
    assert cached_get(Article, article.pk).title == "committed"


def test_refreshed_signal_and_counters_name_the_concrete_model(backend):
    from cachefresh.signals import refreshed
    from tests.testapp.models import ArticleProxy

    article = Article.objects.create(title="t")
    proxy = ArticleProxy.objects.get(pk=article.pk)
    seen = []

    def receiver(sender, instance, strategy, fields, **kwargs):
        seen.append((sender, instance, strategy, fields))

    refreshed.connect(receiver)
    try:
        before = stats.snapshot().get("testapp.Article", {}).get("refresh_columns", 0)
        smart_refresh(proxy, ["title"], strategy="columns")
        smart_refresh_many([article], strategy="full")
        smart_refresh(article, ["title"], from_queryset=Article.objects.all())
    finally:
        refreshed.disconnect(receiver)
    assert seen == [
        (ArticleProxy, proxy, Strategy.COLUMNS, ["title"]),
        (Article, article, Strategy.FULL, None),
        (Article, article, Strategy.FULL, ["title"]),
    ]
    assert stats.snapshot()["testapp.Article"]["refresh_columns"] == before + 1
    assert "testapp.ArticleProxy" not in stats.snapshot()


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_model_a_wildcard_skipped_is_refreshed_from_the_database(backend, strategy, settings):
    from decimal import Decimal

    from tests.testapp.models import Priced

    settings.CACHEFRESH = dict(settings.CACHEFRESH, MODELS=["testapp.*"])
    assert "testapp.Priced" in {m._meta.label for m in registry.skipped()}
    row = Priced.objects.create(code=Decimal("1.50"), label="a")
    Priced.objects.filter(pk=row.pk).update(label="b", note="n")
    assert smart_refresh(row, ["label"], strategy=strategy) in (Strategy.FULL, Strategy.COLUMNS)
    assert (row.label, row.note) == ("b", "")  # only the field asked for, as refresh_from_db()
    assert smart_refresh_many([row], strategy=strategy) in (
        [Strategy.FULL],
        [Strategy.COLUMNS],
    )
    assert row.note == "n"
    Priced.objects.filter(pk=row.pk).delete()
    with pytest.raises(Priced.DoesNotExist):
        smart_refresh(row, strategy=strategy)


def test_auto_on_an_uncached_model_chooses_by_cost(backend):
    thing = NotCached.objects.create(name="x")
    used = {smart_refresh(thing, ["name"]) for _ in range(40)}
    # Warm-up tries both database strategies; the cache is never consulted.
    assert used == {Strategy.FULL, Strategy.COLUMNS}


def test_async_forms_refresh_uncached_models(backend):
    from cachefresh import asmart_refresh, asmart_refresh_many

    thing = NotCached.objects.create(name="x")
    NotCached.objects.filter(pk=thing.pk).update(name="y")

    async def run():
        try:
            return (
                await asmart_refresh(thing, strategy="cache"),
                await asmart_refresh_many([thing], strategy="columns"),
            )
        finally:  # the worker thread's connection would keep the test database from its drop
            await sync_to_async(connections.close_all)()

    assert asyncio.run(run()) == (Strategy.FULL, [Strategy.COLUMNS])
    assert thing.name == "y"
