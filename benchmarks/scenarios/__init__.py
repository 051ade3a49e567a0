"""The scenarios of the suite, in the order they run: one module each, selected by number or name.

A scenario module either runs in the harness's own process, on the benchmark tables, once per
backend pair (``run(ctx, pair)``), or in a process of its own with a Django of its own
(``measure(job, results)``, started by :mod:`benchmarks.harness.child`), once. ``python -m
benchmarks`` runs the default set; the others run when named (``-s django_suite``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from benchmarks.env.backends import Pair
from benchmarks.harness.context import Context


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    number: int | None = None
    #: Runs in a process of its own (its own Django, database and key prefix), once.
    own_process: bool = False
    #: Needs PostgreSQL + Redis; skipped, with the reason, without them.
    servers: bool = False
    #: In the default set: what ``python -m benchmarks`` and ``make bench`` run.
    default: bool = True

    @property
    def heading(self) -> str:
        return f"{self.number}. {self.title}" if self.number else self.title

    @property
    def label(self) -> str:
        return f"{self.number}/{self.name}" if self.number else self.name

    def run(self, ctx: Context, pair: Pair) -> None:
        if self.own_process:
            from benchmarks.harness import child

            child.run(ctx, pair, self)
            return
        # Imported when run: scenario modules import the models, which need Django set up.
        importlib.import_module(f"benchmarks.scenarios.{self.name}").run(ctx, pair)


SCENARIOS = (
    Scenario("refresh", "Refresh: cache vs refresh_from_db() vs columns vs auto", 1),
    Scenario("read", "Read: get() vs cached_get(); batches", 2),
    Scenario("floors", "Floors and peers; bytes per cached row", 3),
    Scenario("latency", "Injected latency: where each strategy wins", 4),
    Scenario("load", "Correctness under load: stale-set storm, thundering herd", 5),
    Scenario("growth", "Growth: table size, batch size, processes", 6),
    Scenario("net", "The statement net: its cost on reads and single-row writes", 7),
    Scenario("near", "Near cache", own_process=True, servers=True),
    Scenario(
        "lookups",
        "Unique lookups, get_object_or_404 and prefetch_cached",
        own_process=True,
        servers=True,
    ),
    Scenario("dblog", "The invalidation log", own_process=True, servers=True),
    Scenario("async", "Native async hits", own_process=True, servers=True),
    Scenario("failover", "WAIT_FOR_REPLICAS: its cost on writes", servers=True, default=False),
    Scenario(
        "near_cluster",
        "Near cache on a 3-primary Redis Cluster against one Redis",
        own_process=True,
        servers=True,
        default=False,  # starts a private cluster of its own
    ),
    Scenario(
        "django_suite",
        "Django's refresh_from_db() tests through smart_refresh",
        own_process=True,
        default=False,
    ),
)


def select(spec: str) -> list[Scenario]:
    """Scenarios named in ``spec``: numbers or names separated by commas, ``default`` (the
    default set, also what an empty ``spec`` means) or ``all``."""
    chosen: list[Scenario] = []
    for part in [item.strip() for item in spec.split(",") if item.strip()] or ["default"]:
        if part in ("all", "default"):
            matches = [s for s in SCENARIOS if part == "all" or s.default]
        else:
            matches = [s for s in SCENARIOS if part in (str(s.number), s.name)]
        if not matches:
            known = ", ".join(s.label for s in SCENARIOS)
            raise ValueError(f"unknown scenario {part!r}; known: {known}, default, all")
        chosen.extend(match for match in matches if match not in chosen)
    return sorted(chosen, key=SCENARIOS.index)
