"""Unique-field lookups, get_object_or_404 and prefetch_cached, on PostgreSQL + Redis.

    python -m benchmarks.lookups_bench [--out DIR] [--rounds N]

Comparisons, each a pair of variants run in many short rounds, in a shuffled order per round,
so that drift on a shared machine (other processes, CPU frequency) hits both alike; a
comparison's figure is the median of the per-round ratios:

* ``cached_get(slug=…)`` warm against ``cached_get(pk=…)`` warm (target: within 1.5x);
* ``cachefresh.shortcuts.get_object_or_404(Post, slug=…)`` warm against Django's;
* ``prefetch_cached(100 posts, "writer")`` warm against ``prefetch_related_objects`` (target:
  0 queries and at least 5x faster), once with the near cache off and once with it on
  (``NEAR_CACHE``, the tier serving and holding every writer; the report says whether every
  row of the timed calls came from it). Each call gets 100 fresh posts built before its round's
  timed loop, so only the prefetch is timed; building them is reported on its own line.

It uses the test settings (tests/settings.py) and a database of its own,
``test_cachefresh_<pid>``, created and dropped here; its Redis keys live under a key prefix of
its own and are deleted at the end. Writes ``lookups.md`` and ``lookups.png``
(:mod:`benchmarks.lookups_report`) and the per-round figures, ``lookups.json``, into ``--out``."""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

CALLS = 200  # per variant per round, for the single-row lookups
PREFETCH_CALLS = 20  # per variant per round: each call walks 100 posts
POSTS = 100


def setup(prefix: str) -> Any:
    import django
    from django.conf import settings

    if "pg" not in settings.DATABASES:
        sys.exit("PostgreSQL or Redis is unreachable: nothing to measure")
    settings.CACHEFRESH = dict(settings.CACHEFRESH, CACHE="redis", KEY_PREFIX=prefix)
    django.setup()
    from django.db import connections

    from tests.routers import ACTIVE

    ACTIVE["alias"] = "pg"
    connections["pg"].creation.create_test_db(verbosity=0, autoclobber=True)
    return connections["pg"]


def populate() -> tuple[list[Any], list[tuple[Any, ...]]]:
    from tests.testapp.models import Post, Publisher, Writer

    publisher = Publisher.objects.create(code="pub")
    writers = Writer.objects.bulk_create(
        Writer(email=f"w{i}@example.com", number=i, publisher=publisher) for i in range(POSTS)
    )
    posts = Post.objects.bulk_create(
        Post(slug=f"post-{i}", title=f"Post {i}", writer=writers[i % len(writers)])
        for i in range(POSTS)
    )
    rows = list(Post.objects.order_by("pk").values_list(*[f.attname for f in Post._meta.fields]))
    return posts, rows


def timed(call: Callable[[], Any], times: int) -> float:
    """Seconds per call, over ``times`` calls."""
    started = time.perf_counter()
    for _ in range(times):
        call()
    return (time.perf_counter() - started) / times


def compare(
    variants: dict[str, Callable[[], Any]], times: int, rounds: int
) -> dict[str, list[float]]:
    """Per-round seconds per call of each variant, in a shuffled order every round."""
    for call in variants.values():  # warm: fill the cache, open connections
        call()
    found: dict[str, list[float]] = {name: [] for name in variants}
    order = list(variants)
    for _ in range(rounds):
        random.shuffle(order)
        for name in order:
            found[name].append(timed(variants[name], times))
    return found


def compare_prefetch(
    variants: dict[str, Callable[[list[Any]], Any]],
    make: Callable[[], list[Any]],
    times: int,
    rounds: int,
) -> dict[str, list[float]]:
    """Per-round seconds per call of each prefetch variant, and of ``make`` alone.

    Each variant's ``times`` inputs are built with ``make`` before its timed loop (every call
    still gets instances with no relation cached) and only the prefetch calls are timed. A
    collection before each timed loop starts every variant from the same garbage-collector
    state; collections during the loop are paid by whoever allocates, as in production.
    Building the inputs is measured as a variant of its own, in the same shuffled rounds.
    """
    for call in variants.values():  # warm: fill the cache, open connections
        call(make())
    build = "building 100 posts (not timed above)"
    found: dict[str, list[float]] = {name: [] for name in [*variants, build]}
    order = list(found)
    for _ in range(rounds):
        random.shuffle(order)
        for name in order:
            if name == build:
                gc.collect()
                found[name].append(timed(make, times))
                continue
            inputs = [make() for _ in range(times)]
            call = variants[name]
            gc.collect()
            started = time.perf_counter()
            for posts in inputs:
                call(posts)
            found[name].append((time.perf_counter() - started) / times)
    return found


def fresh_posts(rows: list[tuple[Any, ...]]) -> list[Any]:
    """Posts as a query would build them, with no relation cached, without querying."""
    from tests.testapp.models import Post

    names = [f.attname for f in Post._meta.fields]
    return [Post.from_db("pg", names, row) for row in rows]


def count_queries(connection: Any, call: Callable[[], Any]) -> int:
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        call()
    return len(captured)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench-results", type=Path)
    parser.add_argument("--rounds", default=30, type=int)
    args = parser.parse_args()
    prefix = f"bench{uuid.uuid4().hex[:10]}"
    connection = setup(prefix)
    try:
        results = run(connection, args.rounds)
    finally:
        cleanup(connection, prefix)
    from benchmarks.lookups_report import chart, report

    args.out.mkdir(parents=True, exist_ok=True)
    # Every per-round figure, so the report and chart can be drawn again from them.
    (args.out / "lookups.json").write_text(json.dumps(results, indent=1))
    (args.out / "lookups.md").write_text(report(results, args.rounds))
    chart(results, args.out / "lookups.png")
    print((args.out / "lookups.md").read_text())


def run(connection: Any, rounds: int) -> dict[str, Any]:
    from django import shortcuts as django_shortcuts

    from cachefresh.shortcuts import get_object_or_404
    from tests.testapp.models import Post

    posts, rows = populate()
    post = posts[POSTS // 2]
    lookups = compare(
        {
            "cached_get(pk=…)": lambda: Post.objects.cached_get(pk=post.pk),
            "cached_get(slug=…)": lambda: Post.objects.cached_get(slug=post.slug),
        },
        CALLS,
        rounds,
    )
    shortcut = compare(
        {
            "Django get_object_or_404": lambda: django_shortcuts.get_object_or_404(
                Post, slug=post.slug
            ),
            "cachefresh get_object_or_404": lambda: get_object_or_404(Post, slug=post.slug),
        },
        CALLS,
        rounds,
    )
    return {
        "lookups": lookups,
        "shortcut": shortcut,
        "prefetch": {
            "near off": prefetch_comparison(connection, rows, rounds),
            "near on": near_prefetch_comparison(connection, rows, rounds),
        },
    }


def prefetch_comparison(connection: Any, rows: list[tuple[Any, ...]], rounds: int) -> Any:
    """``prefetch_cached`` against ``prefetch_related_objects``, warm, with the settings now."""
    from django.db.models import prefetch_related_objects

    from cachefresh import prefetch_cached

    def ours(posts: list[Any]) -> None:
        prefetch_cached(posts, "writer")

    def django(posts: list[Any]) -> None:
        prefetch_related_objects(posts, "writer")

    ours(fresh_posts(rows))  # fills what is cold
    return {
        "times": compare_prefetch(
            {"prefetch_related_objects": django, "prefetch_cached": ours},
            lambda: fresh_posts(rows),
            PREFETCH_CALLS,
            rounds,
        ),
        "queries": {
            "prefetch_cached": count_queries(connection, lambda: ours(fresh_posts(rows))),
            "prefetch_related_objects": count_queries(
                connection, lambda: django(fresh_posts(rows))
            ),
        },
        "cache reads": count_cache_reads(lambda: ours(fresh_posts(rows))),
    }


def near_prefetch_comparison(connection: Any, rows: list[tuple[Any, ...]], rounds: int) -> Any:
    """:func:`prefetch_comparison` with ``NEAR_CACHE`` on, and proof that the tier served."""
    from django.conf import settings
    from django.test import override_settings

    from cachefresh import near, prefetch_cached, stats

    with override_settings(CACHEFRESH=dict(settings.CACHEFRESH, NEAR_CACHE=True)):
        cache = near.current()
        if cache is None or not cache.wait_serving(10):
            raise RuntimeError("the near cache did not come up: nothing to measure")
        for _ in range(2):  # a Redis hit fills the tier, the next call is a near hit
            prefetch_cached(fresh_posts(rows), "writer")
        before = stats.snapshot().get("testapp.Writer", {})
        found = prefetch_comparison(connection, rows, rounds)
        after = stats.snapshot().get("testapp.Writer", {})
        found["near"] = {
            event: after.get(event, 0) - before.get(event, 0)
            for event in ("hit", "near_hit", "near_miss")
        }
        found["near"]["held"] = len(cache.tier)
    return found


def count_cache_reads(call: Callable[[], Any]) -> int:
    """How many times ``call`` read the shared cache (round trips to Redis)."""
    from cachefresh.store import get_store

    store = get_store()
    reads = 0
    real = store.get_many

    def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal reads
        reads += 1
        return real(*args, **kwargs)

    store.get_many = counted  # type: ignore[method-assign]
    try:
        call()
    finally:
        del store.get_many
    return reads


def cleanup(connection: Any, prefix: str) -> None:
    from django.core.cache import caches

    from cachefresh import stats
    from cachefresh.store.redis import raw_client

    stats.flush()  # now, not at exit: its counters are among the keys deleted here
    client = raw_client(caches["redis"])
    doomed = list(client.scan_iter(match=f"*:{prefix}:*", count=1000))
    if doomed:
        client.delete(*doomed)
    connection.creation.destroy_test_db(connection.settings_dict["NAME"], verbosity=0)


if __name__ == "__main__":
    main()
