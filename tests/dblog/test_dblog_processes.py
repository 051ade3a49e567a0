"""The invalidation log across processes: writes Django never sees, crashes, restarts.

Writers are other processes on plain psycopg connections (or ``psql``, or the database's own
cascades); the listener is ``manage.py cachefresh listen`` in a process of its own; this
process reads through the cache and compares with the database.
"""

import contextlib
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
from django.conf import settings

from cachefresh import cached_get, cached_get_many
from tests.support.dblog_procs import (
    ListenerProcess,
    clear_log,
    conninfo,
    django_child,
    eventually,
    gone,
    listener,
    log_rows,
    logged,
    raw_connection,
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


WRITER = """
import random, sys, time
import psycopg
conn = psycopg.connect(sys.argv[1], autocommit=True)
pks = [int(pk) for pk in sys.argv[3].split(",")]
end, n, rng = time.monotonic() + float(sys.argv[2]), 0, random.Random()
with conn.cursor() as cursor:
    while time.monotonic() < end:
        n += 1
        if n % 25:
            where, param = "id = %s", rng.choice(pks)
        else:  # now and then a statement over many rows
            where, param = "id %% 7 = %s", n % 7
        cursor.execute("UPDATE testapp_article SET views = views + 1 WHERE " + where, [param])
print(n)
"""

READER = """
import time
from cachefresh import cached_get_many
from tests.testapp.models import Article
pks = [int(pk) for pk in sys.argv[2].split(",")]
end = time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    cached_get_many(Article, pks)
"""


def stale_rows(pks):
    fresh = {pk: a.views for pk, a in Article.objects.in_bulk(pks).items()}
    cached = {pk: a.views for pk, a in cached_get_many(Article, pks).items()}
    return {pk for pk in pks if cached.get(pk) != fresh.get(pk)}


class LogSampler(threading.Thread):
    """The log's size, sampled while the storm runs: it must drain, not grow."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sizes, self.stopping = [], threading.Event()

    def run(self):
        with raw_connection() as conn:
            while not self.stopping.wait(0.05):
                self.sizes.append(conn.execute("SELECT count(*) FROM cachefresh_log").fetchone()[0])


@contextlib.contextmanager
def storm(pks, seconds, writers=2, readers=2, during=None):
    """Raw-SQL writers and cached readers; yields how many statements were written once the
    writers are done, with the readers still reading."""
    spec = ",".join(map(str, pks))
    processes = [
        django_child(READER, settings.CACHEFRESH, None, str(seconds + 3), spec)
        for _ in range(readers)
    ]
    try:
        time.sleep(1.0)  # the readers' Django start-up
        writing = [
            subprocess.Popen(
                [sys.executable, "-c", WRITER, conninfo(), str(seconds), spec],
                stdout=subprocess.PIPE,
            )
            for _ in range(writers)
        ]
        processes += writing
        if during is not None:
            during()
        yield sum(int(w.communicate(timeout=60)[0]) for w in writing)
    finally:
        for process in processes:
            process.kill()
            process.wait()


def test_a_raw_sql_storm_leaves_nothing_stale_250_ms_after_writes_quiesce(logged):
    pks = [a.pk for a in Article.objects.bulk_create([Article(title=str(i)) for i in range(60)])]
    sampler = LogSampler()
    with listener(settings.CACHEFRESH) as worker:
        sampler.start()
        with storm(pks, seconds=3.0) as written:
            time.sleep(0.25)
            stale = stale_rows(pks)
        sampler.stopping.set()
        assert eventually(lambda: log_rows() == [], 5)  # the log drains
        assert worker.stop() == 0  # SIGTERM: a clean stop
        assert "stopped after retiring" in worker.output()
    print(f"\n{written} statements, log size max {max(sampler.sizes)}, stale {len(stale)}")
    assert written > 200
    assert stale == set()
    # It does not grow without bound: far fewer rows wait at any time than were written.
    assert max(sampler.sizes) < written / 4


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


def test_a_listener_killed_mid_storm_and_restarted_loses_no_row_and_takes_none_twice(logged):
    pks = [a.pk for a in Article.objects.bulk_create([Article(title=str(i)) for i in range(60)])]
    with raw_connection() as conn:
        first = conn.execute("SELECT nextval('cachefresh_log_id_seq')").fetchone()[0]
    batch = "50"  # small batches: the kill lands mid-drain, with a claim in flight
    victim = ListenerProcess(settings.CACHEFRESH, None, None, "--batch-size", batch).start()
    # Restarted 2 s later, with a second worker: both drain the backlog at once.
    reborn, second = (
        ListenerProcess(settings.CACHEFRESH, None, None, "--batch-size", batch) for _ in range(2)
    )
    try:

        def kill_and_restart():
            time.sleep(1.5)
            victim.kill()
            time.sleep(2.0)
            reborn.start(wait=False)
            second.start()

        with storm(pks, seconds=5.0, during=kill_and_restart) as written:
            assert eventually(lambda: log_rows() == [], 10)
            time.sleep(0.25)
            assert stale_rows(pks) == set()
        with raw_connection() as conn:
            last = conn.execute("SELECT nextval('cachefresh_log_id_seq')").fetchone()[0]
        assert reborn.stop() == 0 and second.stop() == 0
        workers = (victim, reborn, second)
        committed = Counter(i for p in workers for i in p.committed_ids() if first < i < last)
        assert [i for i, n in committed.items() if n > 1] == []
        # Ids are consecutive (the writers never roll back). The victim may have committed its
        # last batch and died before logging it: at most one batch is unaccounted for.
        unaccounted = set(range(first + 1, last)) - set(committed)
        assert len(unaccounted) <= int(batch), sorted(unaccounted)[:10]
        # The kill landed while the victim worked, and the restarted workers took over.
        assert victim.committed_ids() and (reborn.committed_ids() or second.committed_ids())
        print(
            f"\n{written} statements, {len(committed)} log rows, per worker "
            f"{[len(p.committed_ids()) for p in workers]}, {len(unaccounted)} unaccounted"
        )
    finally:
        for p in (victim, reborn, second):
            p.close()
