"""One process of the slug storm (tests/read/test_unique_storm.py): a writer or a reader of Post
slugs.

Run as ``python -m tests.support.slug_storm_worker writer|reader SECONDS POOL KEY_PREFIX SEED
ALIAS`` (ALIAS: ``pg`` or ``mysql``); prints one JSON line of counts. It reaches the test
database and the test run's Redis namespace through the environment the pytest process set
(tests/settings.py).
"""

import json
import os
import random
import sys
import time
import uuid

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

from django.conf import settings

ALIAS = "pg"


def setup(prefix: str, alias: str) -> None:
    global ALIAS
    ALIAS = alias
    database = settings.DATABASES[alias]
    database["NAME"] = database["TEST"]["NAME"]  # pytest's database, not the development one
    settings.CACHEFRESH = dict(settings.CACHEFRESH, CACHE="redis", KEY_PREFIX=prefix)
    import django

    django.setup()
    from tests.support.routers import ACTIVE

    ACTIVE["alias"] = alias


def write(deadline: float, pool: list[str], rng: random.Random) -> dict:
    from django.db import DatabaseError, IntegrityError, transaction

    from tests.testapp.models import Post

    done = failed = 0
    while time.monotonic() < deadline:
        kind = rng.choice(["swap", "swap_save", "rename", "reuse"])
        try:
            with transaction.atomic(using=ALIAS):
                rows = list(Post.objects.select_for_update().order_by("pk"))
                held = {row.slug for row in rows}
                if kind.startswith("swap") and len(rows) >= 2:
                    a, b = rng.sample(rows, 2)
                    old_a, old_b = a.slug, b.slug
                    if kind == "swap":  # QuerySet.update(), through a temporary value
                        Post.objects.filter(pk=a.pk).update(slug=f"tmp-{uuid.uuid4().hex}")
                        Post.objects.filter(pk=b.pk).update(slug=old_a)
                        Post.objects.filter(pk=a.pk).update(slug=old_b)
                    else:  # save()
                        a.slug = f"tmp-{uuid.uuid4().hex}"
                        a.save()
                        b.slug = old_a
                        b.save()
                        a.slug = old_b
                        a.save()
                elif kind == "rename":  # a value left unused: only the row check refuses it
                    free = [v for v in pool if v not in held]
                    if free and rows:
                        row = rng.choice(rows)
                        row.slug = rng.choice(free)
                        row.save(update_fields=["slug"])
                elif rows:  # a row deleted, its value taken by a new row
                    row = rng.choice(rows)
                    row.delete()
                    Post.objects.create(slug=row.slug, title=f"new {uuid.uuid4().hex[:6]}")
            done += 1
        except (IntegrityError, DatabaseError):
            failed += 1
    return {"writes": done, "failed": failed}


def read(deadline: float, pool: list[str], rng: random.Random) -> dict:
    from tests.testapp.models import Post

    reads = found = wrong = 0
    examples = []
    while time.monotonic() < deadline:
        slug = rng.choice(pool)
        reads += 1
        try:
            post = Post.objects.cached_get(slug=slug)
        except Post.DoesNotExist:
            continue
        found += 1
        if post.slug != slug:
            wrong += 1
            if len(examples) < 5:
                examples.append([slug, post.pk, post.slug])
    return {"reads": reads, "found": found, "wrong": wrong, "examples": examples}


def main() -> None:
    role, seconds, pool_size, prefix, seed, alias = sys.argv[1:7]
    setup(prefix, alias)
    pool = [f"v{i}" for i in range(int(pool_size))]
    rng = random.Random(int(seed))
    deadline = time.monotonic() + float(seconds)
    result = write(deadline, pool, rng) if role == "writer" else read(deadline, pool, rng)
    from django.db import connections

    connections.close_all()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
