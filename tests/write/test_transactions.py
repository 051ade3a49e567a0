"""Invariant 4: invalidation follows the outermost commit; nothing read in a transaction is stored.

Which entries exist is observed through the store itself (the row's token key), so the tests
can tell "retired at commit" from "retired at write time", which cached_get alone cannot.
"""

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connections, transaction

from cachefresh import cached_get, cached_get_many
from cachefresh.keys import RowKeys
from cachefresh.registry import registry
from cachefresh.store import get_store
from tests.support.unseen import unseen_cursor
from tests.testapp.models import Article, Author

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def token_present(alias: str, model: type, pk: Any) -> bool:
    plan = registry.plan(model)
    found = get_store().get_many([RowKeys(plan.table_tag(alias), pk).token])
    assert found is not None
    return found[0] is not None


@pytest.fixture
def author(backend, django_assert_num_queries):
    made = Author.objects.create(name="old")
    cached_get(Author, made.pk)
    with django_assert_num_queries(0, using=backend):
        cached_get(Author, made.pk)
    return made


def test_retired_at_the_outermost_commit_not_before(backend, author):
    with transaction.atomic(using=backend):
        with transaction.atomic(using=backend):
            Author.objects.filter(pk=author.pk).update(name="new")
        assert token_present(backend, Author, author.pk)  # inner block's exit is no commit
    assert not token_present(backend, Author, author.pk)
    assert cached_get(Author, author.pk).name == "new"


def test_invalidation_runs_before_the_apps_on_commit_callbacks(backend, author):
    seen: list[str] = []

    def callback() -> None:
        seen.append(cached_get(Author, author.pk).name)

    with transaction.atomic(using=backend):
        transaction.on_commit(callback, using=backend)  # registered before the write
        with transaction.atomic(using=backend):
            transaction.on_commit(callback, using=backend)  # inside a savepoint
            author.name = "new"
            author.save()
        transaction.on_commit(callback, using=backend)  # after it
    assert seen == ["new", "new", "new"]


def test_callbacks_of_a_first_write_inside_a_savepoint(backend, author):
    seen: list[str] = []
    with transaction.atomic(using=backend):
        transaction.on_commit(
            lambda: seen.append(cached_get(Author, author.pk).name), using=backend
        )
        with transaction.atomic(using=backend):
            Author.objects.filter(pk=author.pk).update(name="new")
    assert seen == ["new"]


def test_savepoint_rollback_keeps_the_writes_before_it(backend, author, django_assert_num_queries):
    other = Author.objects.create(name="other")
    cached_get(Author, other.pk)
    with transaction.atomic(using=backend):
        Author.objects.filter(pk=author.pk).update(name="kept")
        try:
            with transaction.atomic(using=backend):
                Author.objects.filter(pk=other.pk).update(name="rolled back")
                raise RuntimeError
        except RuntimeError:
            pass
    assert cached_get(Author, author.pk).name == "kept"
    assert cached_get(Author, other.pk).name == "other"
    with django_assert_num_queries(0, using=backend):
        assert cached_get(Author, other.pk).name == "other"


def test_write_after_a_rolled_back_savepoint_is_retired(backend, author):
    other = Author.objects.create(name="other")
    cached_get(Author, other.pk)
    with transaction.atomic(using=backend):
        try:
            with transaction.atomic(using=backend):  # the transaction's first write, undone
                Author.objects.filter(pk=other.pk).update(name="rolled back")
                raise RuntimeError
        except RuntimeError:
            pass
        Author.objects.filter(pk=author.pk).update(name="after")
    assert cached_get(Author, author.pk).name == "after"
    assert cached_get(Author, other.pk).name == "other"


def test_rollback_leaves_the_cache_valid(backend, author, django_assert_num_queries):
    try:
        with transaction.atomic(using=backend):
            Author.objects.filter(pk=author.pk).update(name="never")
            raise RuntimeError
    except RuntimeError:
        pass
    assert token_present(backend, Author, author.pk)
    with django_assert_num_queries(0, using=backend):
        assert cached_get(Author, author.pk).name == "old"
    # The rolled back transaction's bookkeeping must not leak into the next one.
    with transaction.atomic(using=backend):
        Author.objects.filter(pk=author.pk).update(name="later")
    assert cached_get(Author, author.pk).name == "later"


def test_inside_a_writing_transaction_reads_see_own_writes_and_store_nothing(
    backend, author, django_assert_num_queries
):
    cold = Author.objects.create(name="cold")  # never read through the cache
    try:
        with transaction.atomic(using=backend):
            Author.objects.filter(pk=author.pk).update(name="uncommitted")
            Author.objects.filter(pk=cold.pk).update(name="uncommitted")
            with django_assert_num_queries(1, using=backend):
                assert cached_get(Author, author.pk).name == "uncommitted"
            assert cached_get(Author, cold.pk).name == "uncommitted"
            assert Author.objects.cached_get(pk=cold.pk).name == "uncommitted"
            assert {a.name for a in cached_get_many(Author, [author.pk, cold.pk]).values()} == {
                "uncommitted"
            }
            raise RuntimeError
    except RuntimeError:
        pass
    assert cached_get(Author, author.pk).name == "old"
    assert cached_get(Author, cold.pk).name == "cold"
    assert cached_get_many(Author, [author.pk, cold.pk])[cold.pk].name == "cold"


def test_a_write_to_one_model_leaves_others_served(backend, author, django_assert_num_queries):
    article = Article.objects.create(title="t")
    with transaction.atomic(using=backend):
        Article.objects.filter(pk=article.pk).update(title="u")
        with django_assert_num_queries(0, using=backend):
            assert cached_get(Author, author.pk).name == "old"


def test_reads_inside_a_transaction_fill_only_where_each_statement_sees_every_commit(
    backend, django_assert_num_queries
):
    """PostgreSQL and MySQL/MariaDB at READ COMMITTED fill inside a transaction; SQLite (one
    snapshot) never."""
    cold = Author.objects.create(name="cold")
    with transaction.atomic(using=backend):
        cached_get(Author, cold.pk)
        cached_get_many(Author, [cold.pk])
    filled = connections[backend].vendor in ("postgresql", "mysql")
    with django_assert_num_queries(0 if filled else 1, using=backend):
        cached_get(Author, cold.pk)


def test_manual_transactions_store_nothing_uncommitted(backend, author):
    """With autocommit off there is no atomic block, yet the reads are uncommitted."""
    connection = connections[backend]
    connection.set_autocommit(False)
    try:
        Author.objects.filter(pk=author.pk).update(name="uncommitted")
        assert cached_get(Author, author.pk).name == "uncommitted"
        assert cached_get_many(Author, [author.pk])[author.pk].name == "uncommitted"
        connection.rollback()
    finally:
        connection.set_autocommit(True)
    assert cached_get(Author, author.pk).name == "old"


def test_select_for_update_reads_the_database(backend, author, django_assert_num_queries):
    with unseen_cursor(backend) as cursor:
        cursor.execute(
            f"UPDATE {Author._meta.db_table} SET name = 'raw' WHERE id = %s", [author.pk]
        )
    with transaction.atomic(using=backend), django_assert_num_queries(1, using=backend):
        assert Author.objects.select_for_update().cached_get(pk=author.pk).name == "raw"


def test_each_database_has_its_own_transaction(backend, author):
    Author.objects.using("other").create(pk=author.pk, name="elsewhere")
    cached_get(Author, author.pk, using="other")
    with transaction.atomic(using="other"):
        Author.objects.using("other").filter(pk=author.pk).update(name="moved")
        assert cached_get(Author, author.pk).name == "old"
    assert cached_get(Author, author.pk, using="other").name == "moved"


def read_elsewhere(pk: int) -> str:
    """cached_get on another connection: the thread has its own, closed when done."""
    try:
        return cached_get(Author, pk).name
    finally:
        connections.close_all()


@pytest.mark.parametrize("backend", ["postgres-redis"], indirect=True)
def test_fill_during_a_transaction_dies_at_its_commit(backend):
    """Another connection fills the committed (old) row while the write is uncommitted.

    Retiring at write time would let that fill outlive the commit. PostgreSQL only: the
    in-memory SQLite database locks a second connection out instead.
    """
    author = Author.objects.create(name="old")  # cold: the other reader fills it
    with transaction.atomic(using=backend):
        Author.objects.filter(pk=author.pk).update(name="new")
        with ThreadPoolExecutor(1) as pool:
            assert pool.submit(read_elsewhere, author.pk).result() == "old"
    assert cached_get(Author, author.pk).name == "new"


@pytest.mark.parametrize("backend", ["postgres-redis"], indirect=True)
def test_manual_transaction_retires_at_commit(backend, author):
    """A reader on another connection fills the committed row while the write is pending.

    Retiring at write time would let that fill survive the commit: the row stays stale.
    PostgreSQL only: the in-memory SQLite database locks a second connection out instead.
    """

    connection = connections[backend]
    connection.set_autocommit(False)
    try:
        Author.objects.filter(pk=author.pk).update(name="new")
        assert cached_get(Author, author.pk).name == "new"  # its own write
        with ThreadPoolExecutor(1) as pool:
            assert pool.submit(read_elsewhere, author.pk).result() == "old"
        connection.commit()
    finally:
        connection.set_autocommit(True)
    assert cached_get(Author, author.pk).name == "new"


def test_manual_transaction_commit_and_rollback(backend, author, django_assert_num_queries):
    connection = connections[backend]
    connection.set_autocommit(False)
    try:
        Author.objects.filter(pk=author.pk).update(name="new")
        assert token_present(backend, Author, author.pk)  # not before the commit
        connection.commit()
        assert not token_present(backend, Author, author.pk)
        assert cached_get(Author, author.pk).name == "new"  # read in a new transaction
        Author.objects.filter(pk=author.pk).update(name="undone")
        connection.rollback()
    finally:
        connection.set_autocommit(True)
    assert cached_get(Author, author.pk).name == "new"
    with django_assert_num_queries(0, using=backend):
        assert cached_get(Author, author.pk).name == "new"


def test_atomic_block_inside_a_manual_transaction(backend, author):
    """Django runs on_commit hooks only when autocommit comes back on, and a rollback first
    drops them: the retirement must happen at commit() itself, or the commit leaves it behind.
    """
    connection = connections[backend]
    connection.set_autocommit(False)
    try:
        with transaction.atomic(using=backend):
            Author.objects.filter(pk=author.pk).update(name="new")
        assert token_present(backend, Author, author.pk)  # the block's exit is no commit
        connection.commit()
        assert not token_present(backend, Author, author.pk)
        connection.rollback()
    finally:
        connection.set_autocommit(True)
    assert cached_get(Author, author.pk).name == "new"
