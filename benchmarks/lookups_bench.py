"""Unique-field lookups, get_object_or_404 and prefetch_cached, on PostgreSQL + Redis.

    python -m benchmarks.lookups_bench [--out DIR] [--rounds N]

Three comparisons, each a pair of variants run in many short rounds, in a shuffled order per
round, so that drift on a shared machine (other processes, CPU frequency) hits both alike; a
comparison's figure is the median of the per-round ratios:

* ``cached_get(slug=…)`` warm against ``cached_get(pk=…)`` warm (target: within 1.5x);
* ``cachefresh.shortcuts.get_object_or_404(Post, slug=…)`` warm against Django's;
* ``prefetch_cached(100 posts, "writer")`` warm against ``prefetch_related_objects`` (target:
  0 queries and at least 5x faster). Each call gets 100 fresh posts built before its round's
  timed loop, so only the prefetch is timed; building them is reported on its own line.

It uses the test settings (tests/settings.py) and a database of its own,
``test_cachefresh_<pid>``, created and dropped here; its Redis keys live under a key prefix of
its own and are deleted at the end. Writes ``lookups.md`` and ``lookups.png`` into ``--out``.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
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


def sig(value: float) -> str:
    """Three significant figures, without an exponent (1,400 rather than 1.4e+03)."""
    rounded = float(f"{value:.3g}")
    return f"{rounded:,.0f}" if rounded >= 100 else f"{rounded:.3g}"


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
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "lookups.md").write_text(report(results, args.rounds))
    chart(results, args.out / "lookups.png")
    print((args.out / "lookups.md").read_text())


def run(connection: Any, rounds: int) -> dict[str, Any]:
    from django import shortcuts as django_shortcuts
    from django.db.models import prefetch_related_objects

    from cachefresh import prefetch_cached
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
    prefetch_cached(fresh_posts(rows), "writer")
    warm_queries = count_queries(connection, lambda: prefetch_cached(fresh_posts(rows), "writer"))
    django_queries = count_queries(
        connection, lambda: prefetch_related_objects(fresh_posts(rows), "writer")
    )
    prefetch = compare_prefetch(
        {
            "prefetch_related_objects": lambda posts: prefetch_related_objects(posts, "writer"),
            "prefetch_cached": lambda posts: prefetch_cached(posts, "writer"),
        },
        lambda: fresh_posts(rows),
        PREFETCH_CALLS,
        rounds,
    )
    return {
        "lookups": lookups,
        "shortcut": shortcut,
        "prefetch": prefetch,
        "queries": {"prefetch_cached": warm_queries, "prefetch_related_objects": django_queries},
    }


def ratios(found: dict[str, list[float]], top: str, bottom: str) -> list[float]:
    return [a / b for a, b in zip(found[top], found[bottom], strict=True)]


def report(results: dict[str, Any], rounds: int) -> str:
    lines = [
        f"Medians over {rounds} rounds on PostgreSQL + Redis, variants shuffled per round.",
        "",
        "| variant | median µs per call |",
        "| --- | ---: |",
    ]
    for group in ("lookups", "shortcut", "prefetch"):
        for name, seconds in results[group].items():
            lines.append(f"| {name} | {sig(statistics.median(seconds) * 1e6)} |")
    slug = ratios(results["lookups"], "cached_get(slug=…)", "cached_get(pk=…)")
    g404 = ratios(results["shortcut"], "Django get_object_or_404", "cachefresh get_object_or_404")
    pre = ratios(results["prefetch"], "prefetch_related_objects", "prefetch_cached")
    queries = results["queries"]
    lines += [
        "",
        "| comparison | median of per-round ratios | range | target |",
        "| --- | ---: | ---: | --- |",
        f"| slug hit / pk hit (time) | {sig(statistics.median(slug))}x | "
        f"{sig(min(slug))} to {sig(max(slug))}x | ≤ 1.5x |",
        f"| Django's get_object_or_404 / cachefresh's (speed-up) | {sig(statistics.median(g404))}x"
        f" | {sig(min(g404))} to {sig(max(g404))}x | faster |",
        f"| prefetch_related_objects / prefetch_cached, 100 posts (speed-up) | "
        f"{sig(statistics.median(pre))}x | {sig(min(pre))} to {sig(max(pre))}x | ≥ 5x |",
        "",
        f"Queries for one warm call on 100 posts: prefetch_cached {queries['prefetch_cached']}, "
        f"prefetch_related_objects {queries['prefetch_related_objects']} (target: 0).",
        "",
    ]
    return "\n".join(lines)


def chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [
        ("Warm single-row lookups", {**results["lookups"], **results["shortcut"]}),
        ("Warm prefetch of 100 posts' writers", results["prefetch"]),
    ]
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    for ax, (title, found) in zip(axes, panels, strict=True):
        names = list(found)
        medians = [statistics.median(found[n]) * 1e6 for n in names]
        lows = [m - min(found[n]) * 1e6 for m, n in zip(medians, names, strict=True)]
        highs = [max(found[n]) * 1e6 - m for m, n in zip(medians, names, strict=True)]
        bars = ax.barh(names, medians, xerr=[lows, highs], color="#4c72b0", capsize=3)
        ax.bar_label(bars, labels=[sig(m) for m in medians], padding=4)
        ax.set_title(title)
        ax.set_xlabel("µs per call (median, whiskers: min to max over rounds)")
        ax.invert_yaxis()
        ax.set_xlim(0, max(m + h for m, h in zip(medians, highs, strict=True)) * 1.25)
    figure.suptitle("cachefresh lookups on PostgreSQL + Redis (lower is faster)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def cleanup(connection: Any, prefix: str) -> None:
    from django.core.cache import caches

    from cachefresh.store.redis import raw_client

    client = raw_client(caches["redis"])
    doomed = list(client.scan_iter(match=f"*:{prefix}:*", count=1000))
    if doomed:
        client.delete(*doomed)
    connection.creation.destroy_test_db(connection.settings_dict["NAME"], verbosity=0)


if __name__ == "__main__":
    main()
