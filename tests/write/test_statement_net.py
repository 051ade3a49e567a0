"""The statement net: a write sent through Django's connection, raw SQL included, retires what
it wrote with no ``invalidate()``, at once in autocommit and on commit inside a transaction;
statements that only read, and writes the compiler hook already accounted for, retire nothing
more."""

import threading
from typing import Any

import pytest
from django.db import connections, transaction

from cachefresh import cached_get, cached_get_many
from cachefresh.statements import install
from tests.testapp.models import Author, NotCached, Place, Publisher, Restaurant

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

TABLE = Author._meta.db_table


def raw(alias: str, sql: str, params: Any = (), many: bool = False) -> None:
    with connections[alias].cursor() as cursor:
        if many:
            cursor.executemany(sql, params)
        else:
            cursor.execute(sql, params)


def warm(assert_queries: Any, alias: str, *instances: Any) -> None:
    for instance in instances:
        cached_get(type(instance), instance.pk)
    with assert_queries(0, using=alias):
        for instance in instances:
            cached_get(type(instance), instance.pk)


@pytest.fixture
def authors(backend, django_assert_num_queries):
    made = [Author.objects.create(name=f"a{i}", age=i) for i in range(3)]
    warm(django_assert_num_queries, backend, *made)
    return made


@pytest.mark.parametrize(
    "sql",
    [
        f"UPDATE {TABLE} SET name = 'raw' WHERE id = %s",
        f"UPDATE \"{TABLE}\" SET name = 'raw' WHERE id = %s",
        f"update {TABLE.upper()} set name = 'raw' where id = %s",
        f"/* a comment first */ UPDATE {TABLE} SET name = 'raw' WHERE id = %s",
        f"\n  UPDATE {TABLE} SET name = 'raw' WHERE id IN (SELECT id FROM {TABLE} WHERE id = %s)",
    ],
    ids=["plain", "quoted", "upper-case", "comment", "subquery"],
)
def test_a_raw_update_is_seen_at_once_in_autocommit(authors, backend, sql):
    if connections[backend].vendor == "mysql":
        # MySQL quotes names with backticks (a double quote opens a string), and its table
        # names are case-sensitive where the file system is (lower_case_table_names=0).
        sql = sql.replace(f'"{TABLE}"', f"`{TABLE}`").replace(TABLE.upper(), TABLE)
    raw(backend, sql, [authors[0].pk])
    assert cached_get(Author, authors[0].pk).name == "raw"
    assert cached_get_many(Author, [authors[0].pk])[authors[0].pk].name == "raw"


def test_raw_delete_insert_and_executemany(authors, backend):
    raw(backend, f"DELETE FROM {TABLE} WHERE id = %s", [authors[0].pk])
    with pytest.raises(Author.DoesNotExist):
        cached_get(Author, authors[0].pk)
    raw(backend, f"UPDATE {TABLE} SET age = %s WHERE id = %s", [(7, authors[1].pk)], many=True)
    assert cached_get(Author, authors[1].pk).age == 7
    # An insert reusing a deleted pk: a cached "no such row" must not outlive it.
    raw(backend, f"INSERT INTO {TABLE} (id, name, age) VALUES (%s, 'back', 0)", [authors[0].pk])
    assert cached_get(Author, authors[0].pk).name == "back"


def test_a_write_hidden_in_a_with_clause_is_seen(authors, backend):
    if connections[backend].vendor != "postgresql":
        pytest.skip("data-modifying WITH is PostgreSQL's")
    raw(
        backend,
        f"WITH changed AS (UPDATE {TABLE} SET name = 'cte' WHERE id = %s RETURNING id) "
        "SELECT count(*) FROM changed",
        [authors[2].pk],
    )
    assert cached_get(Author, authors[2].pk).name == "cte"


def test_a_write_after_a_read_in_one_string_is_seen(authors, backend):
    if connections[backend].vendor != "postgresql":
        pytest.skip("SQLite runs one statement per execute()")
    raw(backend, f"SELECT 1; UPDATE {TABLE} SET name = 'second' WHERE id = {authors[1].pk}", None)
    assert cached_get(Author, authors[1].pk).name == "second"


def test_a_raw_write_inside_a_transaction_is_retired_on_commit(authors, backend):
    with transaction.atomic(using=backend):
        raw(backend, f"UPDATE {TABLE} SET name = 'in txn' WHERE id = %s", [authors[0].pk])
        # The transaction wrote the table: its reads come from the database, and are not stored.
        assert cached_get(Author, authors[0].pk).name == "in txn"
    assert cached_get(Author, authors[0].pk).name == "in txn"


def test_a_rolled_back_raw_write_leaves_nothing_behind(authors, backend):
    with pytest.raises(RuntimeError), transaction.atomic(using=backend):
        raw(backend, f"UPDATE {TABLE} SET name = 'never' WHERE id = %s", [authors[0].pk])
        assert cached_get(Author, authors[0].pk).name == "never"
        assert cached_get(Author, authors[1].pk).name == "a1"
        raise RuntimeError
    assert cached_get(Author, authors[0].pk).name == "a0"
    assert cached_get_many(Author, [authors[0].pk])[authors[0].pk].name == "a0"


def test_reads_and_other_tables_retire_nothing(authors, backend, django_assert_num_queries):
    raw(backend, f"SELECT name FROM {TABLE} WHERE id = %s", [authors[0].pk])
    raw(backend, f"\n  SELECT name FROM {TABLE} UNION SELECT name FROM {TABLE}")
    raw(backend, f"EXPLAIN SELECT name FROM {TABLE}")
    raw(backend, f"UPDATE {NotCached._meta.db_table} SET name = 'x'")
    with django_assert_num_queries(0, using=backend):
        for author in authors:
            cached_get(Author, author.pk)


def test_an_orm_write_stays_precise(authors, backend, django_assert_num_queries):
    """The net leaves the compiler hook's statements alone: a save by pk retires that row
    only, not the table."""
    authors[0].name = "saved"
    authors[0].save()
    with django_assert_num_queries(0, using=backend):
        cached_get(Author, authors[1].pk)
        cached_get(Author, authors[2].pk)
    assert cached_get(Author, authors[0].pk).name == "saved"


def test_a_raw_write_to_a_parent_table_retires_its_children(backend, django_assert_num_queries):
    restaurant = Restaurant.objects.create(name="old")
    warm(django_assert_num_queries, backend, restaurant, Place.objects.get(pk=restaurant.pk))
    raw(backend, f"UPDATE {Place._meta.db_table} SET name = 'new'")
    assert cached_get(Restaurant, restaurant.pk).name == "new"
    assert cached_get(Place, restaurant.pk).name == "new"


def test_a_raw_write_retires_unique_lookups(backend):
    Publisher.objects.create(code="old")
    with pytest.raises(Publisher.DoesNotExist):
        Publisher.objects.cached_get(code="new")  # a cached "no row holds it"
    assert Publisher.objects.cached_get(code="old").code == "old"
    raw(backend, f"UPDATE {Publisher._meta.db_table} SET code = 'new'")
    assert Publisher.objects.cached_get(code="new").code == "new"
    with pytest.raises(Publisher.DoesNotExist):
        Publisher.objects.cached_get(code="old")


def test_connections_of_other_threads_carry_the_net(authors, backend):
    def write() -> None:
        try:
            raw(backend, f"UPDATE {TABLE} SET name = 'thread' WHERE id = %s", [authors[0].pk])
        finally:
            connections[backend].close()

    if connections[backend].vendor == "sqlite":
        pytest.skip("an in-memory SQLite test database is not shared with other threads")
    worker = threading.Thread(target=write)
    worker.start()
    worker.join()
    assert cached_get(Author, authors[0].pk).name == "thread"


def test_a_users_execute_wrapper_keeps_ours_in_place(authors, backend):
    connection = connections[backend]
    connection.close()
    seen: list[str] = []

    def spy(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(spy):
        connection.ensure_connection()  # a new connection, opened inside the user's block
    raw(backend, f"UPDATE {TABLE} SET name = 'after' WHERE id = %s", [authors[0].pk])
    assert cached_get(Author, authors[0].pk).name == "after"
    assert spy not in connection.execute_wrappers
    install(connection)
    assert connection.execute_wrappers.count(connection.execute_wrappers[0]) == 1
