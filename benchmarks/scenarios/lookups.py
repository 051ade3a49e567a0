"""Unique-field lookups, get_object_or_404 and prefetch_cached, on PostgreSQL + Redis.

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

Runs in a process of its own with the test settings (tests/settings.py) and a database of its
own, ``test_cachefresh_<pid>``, created and dropped here; its Redis keys live under a key
prefix of its own and are deleted at the end.
"""

from __future__ import annotations

import gc
import os
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from benchmarks.env.backends import delete_prefixed
from benchmarks.harness.child import Job
from benchmarks.harness.results import Results
from benchmarks.harness.stats import paired, summarize_seconds
from benchmarks.harness.timing import compare, interleave, timed

NAME = "lookups"
POSTS = 100
BUILD = "building 100 posts (not timed above)"
NEAR = ("near off", "near on")
#: Per comparison, the ratio its target judges: (numerator, denominator).
RATIOS = {
    "single-row lookups": ("cached_get(slug=…)", "cached_get(pk=…)"),
    "get_object_or_404": ("Django get_object_or_404", "cachefresh get_object_or_404"),
    "prefetch": ("prefetch_related_objects", "prefetch_cached"),
}


@dataclass(frozen=True)
class Sizes:
    rounds: int
    #: Calls per variant per round: single-row lookups, and prefetches (each of 100 posts).
    calls: int
    prefetch_calls: int


SIZES = {
    "tiny": Sizes(rounds=3, calls=20, prefetch_calls=3),
    "quick": Sizes(rounds=30, calls=200, prefetch_calls=20),
    "full": Sizes(rounds=60, calls=200, prefetch_calls=20),
}


def measure(job: Job, results: Results) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    # The test settings' database and key namespace are this process's own, never ones it
    # inherited: run from a test session, those would be the session's, clobbered and dropped.
    os.environ["CACHEFRESH_TEST_DB"] = f"test_cachefresh_{os.getpid()}"
    os.environ["CACHEFRESH_TEST_RUN"] = uuid.uuid4().hex[:8]
    prefix = f"bench{uuid.uuid4().hex[:10]}"
    connection = _setup(prefix)
    try:
        _measure(job, results, job.sizes(SIZES), connection)
    finally:
        _cleanup(connection, prefix)


def _setup(prefix: str) -> Any:
    import django
    from django.conf import settings

    if "pg" not in settings.DATABASES:
        sys.exit("PostgreSQL or Redis is unreachable: nothing to measure")
    settings.CACHEFRESH = dict(settings.CACHEFRESH, CACHE="redis", KEY_PREFIX=prefix)
    django.setup()
    from django.db import connections

    from tests.support.routers import ACTIVE

    ACTIVE["alias"] = "pg"
    connections["pg"].creation.create_test_db(verbosity=0, autoclobber=True)
    return connections["pg"]


def _cleanup(connection: Any, prefix: str) -> None:
    from django.conf import settings

    from cachefresh import stats

    stats.flush()  # now, not at exit: its counters are among the keys deleted here
    delete_prefixed(settings.CACHES["redis"]["LOCATION"], f"*:{prefix}:*")
    connection.creation.destroy_test_db(connection.settings_dict["NAME"], verbosity=0)


def _populate() -> tuple[list[Any], list[tuple[Any, ...]]]:
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


def _measure(job: Job, results: Results, sizes: Sizes, connection: Any) -> None:
    from django import shortcuts as django_shortcuts

    from cachefresh.shortcuts import get_object_or_404
    from tests.testapp.models import Post

    posts, rows = _populate()
    post = posts[POSTS // 2]
    singles = {
        "single-row lookups": {
            "cached_get(pk=…)": lambda: Post.objects.cached_get(pk=post.pk),
            "cached_get(slug=…)": lambda: Post.objects.cached_get(slug=post.slug),
        },
        "get_object_or_404": {
            "Django get_object_or_404": lambda: django_shortcuts.get_object_or_404(
                Post, slug=post.slug
            ),
            "cachefresh get_object_or_404": lambda: get_object_or_404(Post, slug=post.slug),
        },
    }
    for group, variants in singles.items():
        found = compare(variants, sizes.calls, sizes.rounds, job.rng(NAME, group))
        _record(job, results, group, found, sizes.calls, RATIOS[group])
    for near in NEAR:
        group = f"prefetch 100 posts, {near}"
        run = near_prefetch_comparison if near == "near on" else prefetch_comparison
        found, fact = run(connection, rows, sizes, job.rng(NAME, group))
        _record(job, results, group, found, sizes.prefetch_calls, RATIOS["prefetch"])
        results.fact(NAME, job.backend, "prefetch", group=near, **fact)


def _record(
    job: Job,
    results: Results,
    group: str,
    found: dict[str, list[float]],
    calls: int,
    ratio: tuple[str, str],
) -> None:
    results.measured(NAME, job.backend, group, summarize_seconds(found, calls))
    top, bottom = ratio
    results.ratio(NAME, job.backend, group, top, bottom, paired(found[top], found[bottom]))


def compare_prefetch(
    variants: dict[str, Callable[[list[Any]], Any]],
    make: Callable[[], list[Any]],
    times: int,
    rounds: int,
    rng: Any,
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

    def prefetching(call: Callable[[list[Any]], Any]) -> Callable[[], float]:
        def loop() -> float:
            inputs = [make() for _ in range(times)]
            gc.collect()
            started = time.perf_counter()
            for posts in inputs:
                call(posts)
            return (time.perf_counter() - started) / times

        return loop

    def building() -> float:
        gc.collect()
        return timed(make, times)

    loops = {name: prefetching(call) for name, call in variants.items()}
    return interleave({**loops, BUILD: building}, rounds, rng)


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


def prefetch_comparison(
    connection: Any, rows: list[tuple[Any, ...]], sizes: Sizes, rng: Any
) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """``prefetch_cached`` against ``prefetch_related_objects``, warm, with the settings now:
    the times, and the queries and cache round trips of one call."""
    from django.db.models import prefetch_related_objects

    from cachefresh import prefetch_cached

    def ours(posts: list[Any]) -> None:
        prefetch_cached(posts, "writer")

    def django(posts: list[Any]) -> None:
        prefetch_related_objects(posts, "writer")

    ours(fresh_posts(rows))  # fills what is cold
    times = compare_prefetch(
        {"prefetch_related_objects": django, "prefetch_cached": ours},
        lambda: fresh_posts(rows),
        sizes.prefetch_calls,
        sizes.rounds,
        rng,
    )
    fact = {
        "queries": count_queries(connection, lambda: ours(fresh_posts(rows))),
        "django_queries": count_queries(connection, lambda: django(fresh_posts(rows))),
        "cache_reads": count_cache_reads(lambda: ours(fresh_posts(rows))),
    }
    return times, fact


def near_prefetch_comparison(
    connection: Any, rows: list[tuple[Any, ...]], sizes: Sizes, rng: Any
) -> tuple[dict[str, list[float]], dict[str, Any]]:
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
        times, fact = prefetch_comparison(connection, rows, sizes, rng)
        after = stats.snapshot().get("testapp.Writer", {})
        tier = {
            event: after.get(event, 0) - before.get(event, 0)
            for event in ("hit", "near_hit", "near_miss")
        }
        fact["near_tier"] = dict(tier, held=len(cache.tier))
    return times, fact


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
