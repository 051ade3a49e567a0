"""The invalidation log across processes on PostgreSQL: writes Django never sees (``psql``, the
database's own cascades), a writer killed after its commit. The storms with listeners killed
and restarted, on every database, are in ``test_dblog_storms.py``.

Writers are other processes on plain psycopg connections (or ``psql``, or the database's own
cascades); the listener is ``manage.py cachefresh listen`` in a process of its own; this
process reads through the cache and compares with the database.
"""

import subprocess

import pytest
from django.conf import settings

from cachefresh import cached_get, cached_get_many
from tests.support.dblog_procs import (
    clear_log,
    conninfo,
    django_child,
    eventually,
    gone,
    listener,
    log_rows,
    logged,
    run_raw_sql,
    title_is,
)
from tests.testapp.models import Article, Author, CharPk, Place, Restaurant, UUIDPk

pytestmark = [
    pytest.mark.django_db(transaction=True, databases="__all__"),
    pytest.mark.servers,
    pytest.mark.slow,
]

__all__ = ["logged"]  # the fixture


def test_every_kind_of_write_outside_django_is_retired_through_the_log(logged):
    authors = [Author.objects.create(name=f"a{i}") for i in range(2)]
    articles = [Article.objects.create(title="old", author=authors[i % 2]) for i in range(6)]
    code = CharPk.objects.create(code="k", value=1)
    place = Restaurant.objects.create(name="old")
    keyed = UUIDPk.objects.create(value=1)
    pks = [a.pk for a in articles]
    cached_get_many(Article, pks)
    cached_get(CharPk, "k")
    assert cached_get(Article, pks[0]).title == "old"

    with listener(settings.CACHEFRESH):
        run_raw_sql(f"UPDATE testapp_article SET title = 'raw' WHERE id = {pks[0]}")
        assert eventually(title_is(pks[0], "raw"))

        run_raw_sql(f"DELETE FROM testapp_article WHERE id = {pks[1]}")
        assert eventually(gone(Article, pks[1]))

        run_raw_sql(
            "INSERT INTO testapp_article (id, title, body, views) "
            f"VALUES ({pks[2]}, 'upsert', '', 0) "
            "ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title"
        )
        assert eventually(title_is(pks[2], "upsert"))

        subprocess.run(
            [
                "psql",
                conninfo(),
                "-qc",
                f"UPDATE testapp_article SET title = 'psql' WHERE id = {pks[3]}",
            ],
            check=True,
        )
        assert eventually(title_is(pks[3], "psql"))

        # A cascade done by the database itself, declared in SQL: Django never sees the rows.
        run_raw_sql(
            "ALTER TABLE testapp_article ADD CONSTRAINT cf_test_cascade FOREIGN KEY (author_id) "
            "REFERENCES testapp_author (id) ON DELETE CASCADE"
        )
        try:
            victims = [a.pk for a in articles[4:] if a.author_id == authors[0].pk]
            cached_get_many(Article, victims)
            run_raw_sql(f"DELETE FROM testapp_author WHERE id = {authors[0].pk}")
            for pk in victims:
                assert eventually(gone(Article, pk))
        finally:
            run_raw_sql("ALTER TABLE testapp_article DROP CONSTRAINT cf_test_cascade")

        # Multi-table inheritance: a write to the parent's table retires the child's entry too.
        assert cached_get(Restaurant, place.pk).name == cached_get(Place, place.pk).name == "old"
        run_raw_sql(f"UPDATE testapp_place SET name = 'raw' WHERE id = {place.pk}")
        assert eventually(lambda: cached_get(Restaurant, place.pk).name == "raw")
        assert cached_get(Place, place.pk).name == "raw"

        # A key that is text in the log and a UUID to the read path.
        assert cached_get(UUIDPk, keyed.pk).value == 1
        run_raw_sql(f"UPDATE testapp_uuidpk SET value = 2 WHERE id = '{keyed.pk}'")
        assert eventually(lambda: cached_get(UUIDPk, keyed.pk).value == 2)

        assert cached_get(CharPk, "k").value == 1
        run_raw_sql("TRUNCATE testapp_charpk")
        assert eventually(gone(CharPk, "k"))
        assert eventually(lambda: log_rows() == [], 2)
    del code


def test_a_writer_killed_after_its_commit_is_retired_by_the_listener(logged):
    article = Article.objects.create(title="old")
    clear_log()
    cached_get(Article, article.pk)
    # The ORM write commits, then the process dies where it would have retired the row.
    killed = django_child(
        "import os, signal\n"
        "import cachefresh.retire as retire\n"
        "retire.deliver = lambda *a: os.kill(os.getpid(), signal.SIGKILL)\n"
        "from tests.testapp.models import Article\n"
        f"Article.objects.filter(pk={article.pk}).update(title='new')\n",
        settings.CACHEFRESH,
    )
    assert killed.wait(30) == -9
    assert Article.objects.get(pk=article.pk).title == "new"
    assert cached_get(Article, article.pk).title == "old"  # its own retirement was lost
    with listener(settings.CACHEFRESH):
        assert eventually(title_is(article.pk, "new"))
