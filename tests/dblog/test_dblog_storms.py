"""The invalidation log under load, on PostgreSQL, MariaDB and SQLite (a file): raw-SQL writers
in other processes, cached readers, listeners SIGKILLed and restarted, listeners side by side.

Every log row a listener commits is named in its output (``-v 2``); ids only grow and the
writers never roll back, so the ids a storm logged are the range between two probes, and each
must be committed by exactly one listener.
"""

import contextlib
import json
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
from django.conf import settings
from django.db import connections

from cachefresh import cached_get_many
from tests.support.dblog_databases import RAW, count_log, next_log_id, other_connection, spec
from tests.support.dblog_procs import (
    ListenerProcess,
    clear_log,
    django_child,
    eventually,
    log_rows,
)
from tests.testapp.models import Article

pytestmark = [
    pytest.mark.django_db(transaction=True, databases="__all__"),
    pytest.mark.servers,
    pytest.mark.slow,
]

WRITER = (
    RAW
    + """
import random, time
cursor = connect().cursor()
pks = [int(pk) for pk in sys.argv[3].split(",")]
end, n, rng = time.monotonic() + float(sys.argv[2]), 0, random.Random()
while time.monotonic() < end:
    n += 1
    if n % 25:
        where, param = "id = %s", rng.choice(pks)
    else:  # now and then a statement over many rows
        where, param = "id %% 7 = %s", n % 7
    cursor.execute(sql("UPDATE testapp_article SET views = views + 1 WHERE " + where), [param])
print(n)
"""
)

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

    def __init__(self, alias):
        super().__init__(daemon=True)
        self.alias, self.sizes, self.stopping = alias, [0], threading.Event()

    def run(self):
        with contextlib.closing(other_connection(self.alias)) as connection:
            while not self.stopping.wait(0.05):
                self.sizes.append(count_log(connection))


@contextlib.contextmanager
def storm(alias, pks, seconds, writers=2, readers=2, during=None):
    """Raw-SQL writers and cached readers; yields how many statements were written once the
    writers are done, with the readers still reading."""
    ids = ",".join(map(str, pks))
    processes = [
        django_child(READER, settings.CACHEFRESH, None, str(seconds + 3), ids, alias=alias)
        for _ in range(readers)
    ]
    try:
        time.sleep(1.0)  # the readers' Django start-up
        argv = [sys.executable, "-c", WRITER, json.dumps(spec(alias)), str(seconds), ids]
        writing = [subprocess.Popen(argv, stdout=subprocess.PIPE) for _ in range(writers)]
        processes += writing
        if during is not None:
            during()
        yield sum(int(w.communicate(timeout=60)[0]) for w in writing)
    finally:
        for process in processes:
            process.kill()
            process.wait()


def listeners(alias, count, *args):
    return [
        ListenerProcess(settings.CACHEFRESH, None, None, *args, alias=alias) for _ in range(count)
    ]


def test_a_raw_sql_storm_leaves_nothing_stale_250_ms_after_writes_quiesce(shared_log_db):
    alias = shared_log_db
    pks = [a.pk for a in Article.objects.bulk_create([Article(title=str(i)) for i in range(60)])]
    sampler = LogSampler(alias)
    # Polling databases poll often here: 250 ms must cover the wait after the last write.
    (worker,) = listeners(alias, 1, "--poll-interval", "0.05")
    try:
        worker.start()
        sampler.start()
        with storm(alias, pks, seconds=3.0) as written:
            time.sleep(0.25)
            stale = stale_rows(pks)
        sampler.stopping.set()
        assert eventually(lambda: log_rows(alias) == [], 5)  # the log drains
        assert worker.stop() == 0  # SIGTERM: a clean stop
        assert "stopped after retiring" in worker.output()
    finally:
        worker.close()
    print(f"\n{alias}: {written} statements, log size max {max(sampler.sizes)}, stale {len(stale)}")
    assert written > 100
    assert stale == set()
    if connections[alias].vendor != "sqlite":
        # It does not grow without bound: far fewer rows wait at any time than were written.
        # On SQLite writers in a tight loop keep taking the one write lock the listener's
        # claim needs too: there it catches up when they pause (docs/limits.md), as above.
        assert max(sampler.sizes) < written / 4


def test_a_listener_killed_mid_storm_and_restarted_loses_no_row_and_takes_none_twice(
    shared_log_db,
):
    alias = shared_log_db
    sqlite = connections[alias].vendor == "sqlite"
    pks = [a.pk for a in Article.objects.bulk_create([Article(title=str(i)) for i in range(60)])]
    first = next_log_id(alias)
    batch = "50"  # small batches: the kill lands mid-drain, with a claim in flight
    victim = listeners(alias, 1, "--batch-size", batch)[0].start()
    # Restarted 2 s later with a second worker, both draining the backlog at once; SQLite
    # takes one listener at a time, so there the restart is alone.
    reborn = listeners(alias, 1 if sqlite else 2, "--batch-size", batch)
    sampler = LogSampler(alias)
    try:

        def kill_and_restart():
            sampler.start()
            time.sleep(1.5)
            victim.kill()
            time.sleep(2.0)
            for worker in reborn:
                worker.start()

        with storm(alias, pks, seconds=5.0, during=kill_and_restart) as written:
            assert eventually(lambda: log_rows(alias) == [], 15)
            time.sleep(0.25)
            stale = stale_rows(pks)
        sampler.stopping.set()
        last = next_log_id(alias)
        assert all(worker.stop() == 0 for worker in reborn)
        workers = (victim, *reborn)
        committed = Counter(i for p in workers for i in p.committed_ids() if first < i < last)
        assert [i for i, n in committed.items() if n > 1] == []
        # The victim may have committed its last batch and died before logging it: at most
        # one batch is unaccounted for.
        unaccounted = set(range(first + 1, last)) - set(committed)
        assert len(unaccounted) <= int(batch), sorted(unaccounted)[:10]
        # The kill landed while the victim worked, and the restarted workers took over.
        assert victim.committed_ids() and any(w.committed_ids() for w in reborn)
        print(
            f"\n{alias}: {written} statements, {len(committed)} log rows, per worker "
            f"{[len(p.committed_ids()) for p in workers]}, {len(unaccounted)} unaccounted, "
            f"log size max {max(sampler.sizes)} (it grows while none runs), stale {len(stale)}"
        )
        assert written > 100
        assert stale == set()
    finally:
        for worker in (victim, *reborn):
            worker.close()


def fill_backlog(alias, pks, rows):
    """``rows`` log rows naming cached articles, as committed writes would leave them."""
    with contextlib.closing(other_connection(alias)) as connection:
        cursor = connection.cursor()
        values = ", ".join(f"('testapp_article', '{pks[i % len(pks)]}')" for i in range(rows))
        cursor.execute(f"INSERT INTO cachefresh_log (table_name, row_pk) VALUES {values}")


@pytest.mark.parametrize("shared_log_db", ["mysql"], indirect=True)
def test_two_listeners_on_mariadb_claim_disjoint_rows(shared_log_db):
    alias = shared_log_db
    pks = [a.pk for a in Article.objects.bulk_create([Article(title=str(i)) for i in range(60)])]
    clear_log(alias)  # the inserts' rows
    first = next_log_id(alias)
    fill_backlog(alias, pks, 3000)
    last = next_log_id(alias)
    pair = listeners(alias, 2, "--batch-size", "10")
    try:
        for worker in pair:
            worker.start(wait=False)  # both at once: they drain the same backlog together
        assert eventually(lambda: log_rows(alias) == [], 30)
        assert all(worker.stop() == 0 for worker in pair)
        taken = [set(worker.committed_ids()) for worker in pair]
        assert all(taken), [len(t) for t in taken]  # both worked
        assert taken[0].isdisjoint(taken[1]), sorted(taken[0] & taken[1])[:10]
        assert taken[0] | taken[1] == set(range(first + 1, last))
        print(f"\nper listener: {[len(t) for t in taken]}")
    finally:
        for worker in pair:
            worker.close()


@pytest.mark.parametrize("shared_log_db", ["sqlite"], indirect=True)
def test_sqlite_takes_one_listener_at_a_time_and_a_dead_one_gives_way(shared_log_db):
    alias = shared_log_db
    first, second, third = listeners(alias, 3)
    try:
        first.start()
        second.start(wait=False)
        assert second.process.wait(30) != 0
        assert "Another listener serves SQLite database 'swappable'" in second.output()
        first.kill()  # the lock goes with the process, however it ends
        third.start()
        assert third.stop() == 0
    finally:
        for worker in (first, second, third):
            worker.close()
