"""The project's speed and correctness targets, checked against what this run measured.

Each target is reported with the measured value and a plain verdict: met, not met, or not
measured (with the reason). Nothing here is asserted in tests: numbers depend on the machine.
A ratio target says which ratio it judged (scenario, group, numerator, denominator) and its
bound as a number (``limit``), so that a chart can draw it.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from benchmarks.harness.results import Results
from benchmarks.parts.floorcalls import REDIS_FLOOR

HIT = "cached_get() hit"
#: The bound on "auto" against the best fixed strategy; the charts mark the cells over it.
AUTO_BOUND = 1.10
#: The strategies "auto" is compared with: the fastest of them in each case.
FIXED_STRATEGIES = ("cache", "full", "columns")
#: Issue 11: a write in another process is seen within this (seconds), on loopback.
DELAY_BOUND_S = 0.050
Compare = Callable[[Any, Any], bool]


@dataclass(frozen=True)
class Target:
    """A bound on a ratio (``unit`` "x") or on a fact's field (a count, or seconds: "s")."""

    name: str
    shown: str
    scenario: str
    #: A ratio's numerator and denominator; a fact's name and field.
    top: str
    bottom: str
    bound: float
    met_when: Compare = operator.le
    #: Only the ratios of groups whose name contains this (``None``: every group).
    group: str | None = None


GE, GT = operator.ge, operator.gt
NEAR_HIT = "near hit"
RATIO_TARGETS = (
    # Issue 22's table: a column fetch within 1.2x of a hand-written cursor.
    Target("columns / raw cursor", "<= 1.2x", "floors", "columns", "raw cursor", 1.2),
    Target(
        "refresh_from_db(fields=[one]) / columns",
        ">= 3x",
        "floors",
        "refresh_from_db",
        "columns",
        3.0,
        GE,
    ),
    # The statement net on reads and on writes the compiler hook accounts for: a few
    # attribute reads per statement. A raw write pays a retirement, the price of being seen.
    *(
        Target(f"{g}: net on / off", "<= 1.05x", "net", f"{g}, net on", f"{g}, net off", 1.05)
        for g in ("get(pk)", "cached_get() miss", "ORM update, one row")
    ),
    Target(
        "filter(pk__in=...) / cached_get_many(100)",
        ">= 1x",
        "read",
        "filter(pk__in=...)",
        "cached_get_many(100)",
        1.0,
        GE,
    ),
    # Issue 11: a near hit close to the in-process floor, far ahead of the peers' hits; issue
    # 22 brought the bound from 3x to 2x.
    Target("near hit / in-process floor", "<= 2x", "near", NEAR_HIT, "in-process floor", 2.0),
    *(
        Target(f"{peer} hit / near hit", ">= 20x", "near", f"{peer} hit", NEAR_HIT, 20.0, GE)
        for peer in ("django-cacheops", "django-cachalot")
    ),
    # Issue 13: lookups by a unique field and prefetching, warm.
    Target(
        "slug hit time / pk hit time",
        "<= 1.5x",
        "lookups",
        "cached_get(slug=…)",
        "cached_get(pk=…)",
        1.5,
    ),
    Target(
        "Django's get_object_or_404 time / cachefresh's",
        "> 1x",
        "lookups",
        "Django get_object_or_404",
        "cachefresh get_object_or_404",
        1.0,
        GT,
    ),
    # Issue 13 asked 5x of every prefetch; issue 22 judges the Redis tier alone (near off)
    # against 3x, and the near tier keeps issue 13's bound.
    Target(
        "prefetch_related_objects time / prefetch_cached's, near off",
        ">= 3x",
        "lookups",
        "prefetch_related_objects",
        "prefetch_cached",
        3.0,
        GE,
        group="near off",
    ),
    Target(
        "prefetch_related_objects time / prefetch_cached's, near on",
        ">= 5x",
        "lookups",
        "prefetch_related_objects",
        "prefetch_cached",
        5.0,
        GE,
        group="near on",
    ),
    # Issue 22: an async Redis-tier hit on the event loop, close to the sync hit, no thread.
    Target(
        "acached_get hit / sync hit, 1,000 gathered",
        "<= 1.3x",
        "async",
        "acached_get (event loop)",
        "sync hit (cached_get)",
        1.3,
    ),
)
#: Targets on facts; a peer's fact (its "library" not cachefresh) is shown beside ours.
FACT_TARGETS = (
    Target("herd: queries for one cold row", "<= 2 queries", "load", "herd", "max_queries", 2),
    Target("storm: stale rows after writes stop", "0 stale rows", "load", "storm", "stale", 0),
    Target(
        "near: delay until another process sees a write, median",
        "<= 50 ms",
        "near",
        "near delay",
        "median_s",
        DELAY_BOUND_S,
    ),
    Target("queries in a warm prefetch_cached", "0", "lookups", "prefetch", "queries", 0),
)
FACT_UNITS = {"near delay": "s"}


def _entry(
    target: str,
    bound: str,
    where: str,
    measured: float | None,
    unit: str,
    met: bool | None,
    note: str,
    **judged: Any,
) -> dict[str, Any]:
    """One row of the targets table; ``unit`` is "x" (a ratio), "s" or "count"."""
    return {
        "target": target,
        "bound": bound,
        "where": where,
        "measured": measured,
        "unit": unit,
        "met": met,
        "note": note,
        **judged,
    }


def _ratios(results: Results, scenario: str, numerator: str, denominator: str) -> list[dict]:
    return [
        r
        for r in results.ratios
        if r["scenario"] == scenario
        and r["numerator"] == numerator
        and r["denominator"] == denominator
    ]


def _target(
    name: str,
    bound: str,
    rows: list[dict[str, Any]],
    limit: float,
    met_when: Compare,
    missing: str,
) -> list[dict[str, Any]]:
    if not rows:
        return [_entry(name, bound, "-", None, "x", None, missing)]
    return [
        _entry(
            name,
            bound,
            f"{row['backend']}: {row['group']}",
            row["median"],
            "x",
            met_when(row["median"], limit),
            "" if row.get("paired", True) else row.get("how", "separate process"),
            **{key: row[key] for key in ("scenario", "group", "numerator", "denominator")},
            limit=limit,
        )
        for row in rows
    ]


def evaluate(results: Results) -> list[dict[str, Any]]:
    le = operator.le
    floors = _ratios(results, "floors", HIT, REDIS_FLOOR)
    targets = _target(
        "cached_get hit / redis-py floor", "<= 1.25x", floors, 1.25, le, "needs Redis"
    )
    for peer in ("cacheops", "cachalot"):
        rows = [
            r
            for r in _ratios(results, "floors", f"{peer} hit", HIT)
            if r["backend"] == "postgres+redis" and r.get("how", "").startswith("bridged")
        ]
        why = _skip_reason(results, peer) or "needs PostgreSQL + Redis"
        targets += _target(f"{peer} hit / cached_get hit", ">= 4x", rows, 4.0, operator.ge, why)
    for t in RATIO_TARGETS:
        rows = _ratios(results, t.scenario, t.top, t.bottom)
        rows = [r for r in rows if t.group is None or t.group in r["group"]]
        why = _scenario_skip(results, t.scenario) or "not run"
        targets += _target(t.name, t.shown, rows, t.bound, t.met_when, why)
    auto = [r for r in results.ratios if r["numerator"] == "auto" and r["scenario"] == "refresh"]
    targets += _target("auto / best fixed strategy", "<= 1.10x", auto, AUTO_BOUND, le, "not run")
    targets += _grid_summary(results)
    for t in FACT_TARGETS:
        targets += _fact_target(results, t)
    return targets


def _grid_summary(results: Results) -> list[dict[str, Any]]:
    """The latency grid has many cells: one line per field set, with its worst cell."""
    out = []
    cells = [r for r in results.ratios if r["numerator"] == "auto" and r["scenario"] == "latency"]
    for fields in dict.fromkeys(r["group"] for r in cells):
        mine = [r for r in cells if r["group"] == fields]
        worst = max(mine, key=lambda r: r["median"])
        within = sum(r["median"] <= AUTO_BOUND for r in mine)
        out.append(
            _entry(
                "auto / best fixed strategy, latency grid",
                "<= 1.10x",
                f"{fields}: worst cell {worst['backend']}",
                worst["median"],
                "x",
                within == len(mine),
                f"{within} of {len(mine)} cells within 1.10x",
            )
        )
    return out


def _skip_reason(results: Results, what: str) -> str | None:
    for skip in results.skipped:
        if what in skip["what"]:
            return skip["why"]
    return None


def _scenario_skip(results: Results, scenario: str) -> str | None:
    """Why ``scenario`` measured nothing: the first reason it gave, if it gave one."""
    for skip in results.skipped:
        if skip["scenario"] == scenario:
            return skip["why"]
    return None


def _fact_target(results: Results, t: Target) -> list[dict[str, Any]]:
    unit = FACT_UNITS.get(t.top, "count")
    facts = [f for f in results.facts if f["scenario"] == t.scenario and f["name"] == t.top]
    if not facts:
        why = _skip_reason(results, t.top) or _scenario_skip(results, t.scenario) or "not run"
        return [_entry(t.name, t.shown, "-", None, unit, None, why)]
    out = []
    for fact in facts:
        library, value = fact.get("library"), fact.get(t.bottom)
        ours = library in (None, "cachefresh")
        out.append(
            _entry(
                t.name,
                t.shown if ours else "(peer)",
                f"{fact['backend']}: {library or fact.get('group', t.top)}",
                value,
                unit,
                (None if value is None else t.met_when(value, t.bound)) if ours else None,
                "" if ours else "a peer's count, shown beside ours",
            )
        )
    return out
