"""Reads inside transactions (ATOMIC_REQUESTS): fill where each statement sees every commit.

PostgreSQL and MySQL/MariaDB (InnoDB) at READ COMMITTED take a new snapshot per statement, so a
fill that takes its tokens before its SELECT is as safe inside a transaction as in autocommit,
as long as the transaction has not written the table. One snapshot per transaction (REPEATABLE
READ, SQLite) may predate the tokens: there nothing is stored, hits are still served. On MySQL
the level is the one the session runs, asked when it connected, not the one the settings name.
"""

from typing import Any

import pytest
from django.db import connections, transaction
from django.test.utils import CaptureQueriesContext

from cachefresh import Strategy, cached_get, cached_get_many, smart_refresh
from cachefresh.keys import RowKeys
from cachefresh.registry import registry
from cachefresh.store import get_store
from tests.support.servers import require_mysql, require_servers
from tests.testapp.models import Article, Author

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def entry_stored(alias: str, model: type, pk: Any) -> bool:
    plan = registry.plan(model)
    found = get_store().get_many([RowKeys(plan.table_tag(alias), pk).entry])
    assert found is not None
    return found[0] is not None


def fills_in_transactions(alias: str) -> bool:
    return connections[alias].vendor in ("postgresql", "mysql")


def test_atomic_requests_get_hits(backend):
    """50 "requests", each an atomic block reading the same 20 rows (ATOMIC_REQUESTS): at READ
    COMMITTED the first request fills, the other 49 hit. Broken on purpose (nothing stored in
    any transaction, as MySQL/MariaDB did before), the ratio was 0 %."""
    pks = [Author.objects.create(name=f"a{n}").pk for n in range(20)]
    reads = 0
    with CaptureQueriesContext(connections[backend]) as queries:
        for _ in range(50):
            with transaction.atomic(using=backend):
                for pk in pks:
                    assert cached_get(Author, pk).name.startswith("a")
                    reads += 1
    queried = sum(1 for query in queries if "testapp_author" in query["sql"])
    ratio = 1 - queried / reads
    print(f"\n{backend}: {ratio:.1%} hits in atomic requests ({queried} queries, {reads} reads)")
    if fills_in_transactions(backend):
        assert ratio >= 0.95, ratio
    else:
        assert queried == reads


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


@pytest.mark.parametrize(
    ("alias", "fills"),
    # Django sets REPEATABLE READ on the first; the second names no level (the server's default
    # here is REPEATABLE READ) but its init_command sets READ COMMITTED.
    [("mysqlrepeatable", False), ("mysqlinit", True)],
)
def test_mysql_fills_by_the_level_the_session_runs(mysql_servers, alias, fills):
    require_mysql()
    author = Author.objects.using("mysql").create(name="a")
    cold = Author.objects.using("mysql").create(name="cold")
    cached_get(Author, author.pk, using="mysql")  # a hit to serve later
    try:
        connections[alias].close()  # a session of its own, learned as it connects
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT @@session.tx_isolation")
            level = cursor.fetchone()[0]
        assert level == ("READ-COMMITTED" if fills else "REPEATABLE-READ")
        with transaction.atomic(using=alias):
            with CaptureQueriesContext(connections[alias]) as queries:
                assert cached_get(Author, author.pk, using=alias).name == "a"
            assert len(queries) == 0
            cached_get(Author, cold.pk, using=alias)
    finally:
        connections[alias].close()
    assert entry_stored("mysql", Author, cold.pk) is fills


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
