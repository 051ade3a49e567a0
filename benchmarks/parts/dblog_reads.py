"""The read side on each database of the invalidation log scenario: a ``cached_get`` hit
against ``get()``, and ``smart_refresh``'s strategies against ``refresh_from_db()``, on the
scenario's cached model (a title and a 200-character body), so that MariaDB and PostgreSQL are
compared in one process, on one Redis, in the same kind of shuffled rounds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from benchmarks.harness.child import Job
from benchmarks.harness.results import Results
from benchmarks.harness.stats import paired, summarize_seconds
from benchmarks.harness.timing import interleave

#: What ``smart_refresh`` is asked for: one field.
FIELDS = ["title"]
STRATEGIES = ("cache", "full", "columns", "auto")


def _per_call(call: Callable[[Any], Any], items: list[Any]) -> Callable[[], float]:
    def timed() -> float:
        start = time.perf_counter()
        for item in items:
            call(item)
        return (time.perf_counter() - start) / len(items)

    return timed


def _refresh(strategy: str) -> Callable[[Any], Any]:
    from cachefresh import smart_refresh

    return lambda obj: smart_refresh(obj, FIELDS, strategy=strategy)


def measure(
    job: Job, results: Results, scenario: str, Row: Any, alias: str, backend: str, sizes: Any
) -> None:
    from cachefresh import cached_get

    pks = list(range(1, sizes.hot + 1))
    for pk in pks:
        cached_get(Row, pk, using=alias)  # warm: every timed call is a hit
    group = "cached_get hit against get()"
    reads = {
        "get()": _per_call(lambda pk: Row.objects.using(alias).get(pk=pk), pks),
        "cached_get hit": _per_call(lambda pk: cached_get(Row, pk, using=alias), pks),
    }
    found = interleave(reads, sizes.rounds, job.rng(scenario, backend, "reads"))
    results.measured(scenario, backend, group, summarize_seconds(found, len(pks)))
    results.ratio(
        scenario,
        backend,
        group,
        "get()",
        "cached_get hit",
        paired(found["get()"], found["cached_get hit"]),
    )

    group = "smart_refresh of one field"
    objs = list(Row.objects.using(alias).filter(pk__in=pks))
    refreshes: dict[str, Callable[[], float]] = {
        "refresh_from_db()": _per_call(lambda obj: obj.refresh_from_db(fields=FIELDS), objs)
    }
    refreshes.update({s: _per_call(_refresh(s), objs) for s in STRATEGIES})
    found = interleave(refreshes, sizes.rounds, job.rng(scenario, backend, "refresh"))
    results.measured(scenario, backend, group, summarize_seconds(found, len(objs)))
    for strategy in STRATEGIES:
        results.ratio(
            scenario,
            backend,
            group,
            strategy,
            "refresh_from_db()",
            paired(found[strategy], found["refresh_from_db()"]),
        )
