"""Reads inside transactions (ATOMIC_REQUESTS): fill where each statement sees every commit.

PostgreSQL at READ COMMITTED takes a new snapshot per statement, so a fill that takes its
tokens before its SELECT is as safe inside a transaction as in autocommit, as long as the
transaction has not written the table. One snapshot per transaction (REPEATABLE READ, SQLite)
may predate the tokens: there nothing is stored, hits are still served.
"""

from typing import Any

import pytest
from django.db import connections, transaction

from cachefresh import Strategy, cached_get, cached_get_many, smart_refresh
from cachefresh.keys import RowKeys
from cachefresh.registry import registry
from cachefresh.store import get_store
from tests.conftest import require_servers
from tests.testapp.models import Article, Author

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def entry_stored(alias: str, model: type, pk: Any) -> bool:
    plan = registry.plan(model)
    found = get_store().get_many([RowKeys(plan.table_tag(alias), pk).entry])
    assert found is not None
    return found[0] is not None


def fills_in_transactions(alias: str) -> bool:
    return connections[alias].vendor == "postgresql"


def test_second_read_inside_atomic_runs_no_query(backend, django_assert_num_queries):
    author = Author.objects.create(name="a")
    with transaction.atomic(using=backend):
        with django_assert_num_queries(1, using=backend):
            assert cached_get(Author, author.pk).name == "a"
        expected = 0 if fills_in_transactions(backend) else 2
        with django_assert_num_queries(expected, using=backend):
            assert cached_get(Author, author.pk).name == "a"
            assert cached_get_many(Author, [author.pk])[author.pk].name == "a"
    assert entry_stored(backend, Author, author.pk) is fills_in_transactions(backend)


def test_a_transaction_that_wrote_the_table_reads_the_database(backend, django_assert_num_queries):
    author = Author.objects.create(name="a")
    cached_get(Author, author.pk)
    with transaction.atomic(using=backend):
        Author.objects.filter(pk=author.pk).update(name="b")
        with django_assert_num_queries(1, using=backend):
            assert cached_get(Author, author.pk).name == "b"
        other = Author.objects.create(name="c")  # a plain insert: the table is written
        cached_get(Author, other.pk)
    assert not entry_stored(backend, Author, other.pk)
    assert cached_get(Author, author.pk).name == "b"


def test_other_tables_written_in_the_transaction_do_not_stop_fills(backend):
    author = Author.objects.create(name="a")
    with transaction.atomic(using=backend):
        Article.objects.create(title="t")
        cached_get(Author, author.pk)
    assert entry_stored(backend, Author, author.pk) is fills_in_transactions(backend)


def test_a_savepoint_rolled_back_takes_its_writes_with_it(backend):
    author = Author.objects.create(name="a")
    with transaction.atomic(using=backend):
        try:
            with transaction.atomic(using=backend):
                Author.objects.filter(pk=author.pk).update(name="b")
                raise RuntimeError("roll the savepoint back")
        except RuntimeError:
            pass
        assert cached_get(Author, author.pk).name == "a"
    assert entry_stored(backend, Author, author.pk) is fills_in_transactions(backend)


def test_repeatable_read_stores_nothing_but_serves_hits(servers, django_assert_num_queries):
    require_servers()
    author = Author.objects.using("pg").create(name="a")
    cold = Author.objects.using("pg").create(name="cold")
    cached_get(Author, author.pk, using="pg")  # a hit to serve later
    try:
        with transaction.atomic(using="pgrepeatable"):
            with django_assert_num_queries(0, using="pgrepeatable"):
                assert cached_get(Author, author.pk, using="pgrepeatable").name == "a"
            cached_get(Author, cold.pk, using="pgrepeatable")
            smart_refresh(cold, strategy="cache", using="pgrepeatable")
    finally:
        connections["pgrepeatable"].close()  # a mirror: its session would block the test DB's drop
    assert not entry_stored("pg", Author, cold.pk)


def test_smart_refresh_inside_a_transaction_follows_the_same_rules(
    backend, django_assert_num_queries
):
    article = Article.objects.create(title="t")
    with transaction.atomic(using=backend):
        assert smart_refresh(article, strategy="cache") == Strategy.FULL  # a miss
        expected = Strategy.CACHE if fills_in_transactions(backend) else Strategy.FULL
        with django_assert_num_queries(0 if expected == Strategy.CACHE else 1, using=backend):
            assert smart_refresh(article, strategy="cache") == expected
        Article.objects.filter(pk=article.pk).update(title="u")
        assert smart_refresh(article, strategy="cache") == Strategy.FULL
        assert article.title == "u"
    assert smart_refresh(article, strategy="cache") == Strategy.FULL  # retired at commit
    assert article.title == "u"


def test_select_for_update_never_reads_the_cache(backend, django_assert_num_queries):
    author = Author.objects.create(name="a")
    cached_get(Author, author.pk)
    with transaction.atomic(using=backend), django_assert_num_queries(1, using=backend):
        Author.objects.select_for_update().cached_get(pk=author.pk)


def test_a_row_inserted_in_a_transaction_that_rolls_back_is_never_served(backend):
    """A plain insert marks its table as written: before, on PostgreSQL the new row read inside
    the transaction was stored, and served after the rollback took the row away."""
    with pytest.raises(RuntimeError), transaction.atomic(using=backend):
        ghost = Author.objects.create(name="ghost")
        assert cached_get(Author, ghost.pk).name == "ghost"
        raise RuntimeError("roll back")
    assert not entry_stored(backend, Author, ghost.pk)
    with pytest.raises(Author.DoesNotExist):
        cached_get(Author, ghost.pk)
