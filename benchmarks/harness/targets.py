"""The project's speed and correctness targets, checked against what this run measured.

Each target is reported with the measured value and a plain verdict: met, not met, or not
measured (with the reason). Nothing here is asserted in tests: numbers depend on the machine.
"""

from __future__ import annotations

from typing import Any

from benchmarks.harness.results import Results
from benchmarks.scenarios.floorcalls import REDIS_FLOOR

HIT = "cached_get() hit"
#: The bound on "auto" against the best fixed strategy; the charts mark the cells over it.
AUTO_BOUND = 1.10
#: The strategies "auto" is compared with: the fastest of them in each case.
FIXED_STRATEGIES = ("cache", "full", "columns")


def _entry(
    target: str,
    bound: str,
    where: str,
    measured: float | None,
    unit: str,
    met: bool | None,
    note: str,
) -> dict[str, Any]:
    """One row of the targets table; ``unit`` is "x" (a ratio) or "count"."""
    return {
        "target": target,
        "bound": bound,
        "where": where,
        "measured": measured,
        "unit": unit,
        "met": met,
        "note": note,
    }


def _verdict(value: float | None, bound: float, at_most: bool) -> bool | None:
    if value is None:
        return None
    return value <= bound if at_most else value >= bound


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
    value_bound: float,
    at_most: bool,
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
            _verdict(row["median"], value_bound, at_most),
            "" if row.get("paired", True) else row.get("how", "separate process"),
        )
        for row in rows
    ]


#: Ratio targets: (name, bound as shown, scenario, numerator, denominator, bound, at most).
RATIO_TARGETS = (
    ("columns / raw cursor", "<= 1.3x", "floors", "columns", "raw cursor", 1.3, True),
    (
        "refresh_from_db(fields=[one]) / columns",
        ">= 3x",
        "floors",
        "refresh_from_db",
        "columns",
        3.0,
        False,
    ),
    # The statement net on reads and on writes the compiler hook accounts for: a few
    # attribute reads per statement. A raw write pays a retirement, the price of being seen.
    *(
        (
            f"{group}: net on / off",
            "<= 1.05x",
            "net",
            f"{group}, net on",
            f"{group}, net off",
            1.05,
            True,
        )
        for group in ("get(pk)", "cached_get() miss", "ORM update, one row")
    ),
    (
        "filter(pk__in=...) / cached_get_many(100)",
        ">= 1x",
        "read",
        "filter(pk__in=...)",
        "cached_get_many(100)",
        1.0,
        False,
    ),
)


def evaluate(results: Results) -> list[dict[str, Any]]:
    targets: list[dict[str, Any]] = []
    targets += _target(
        "cached_get hit / redis-py floor",
        "<= 1.25x",
        _ratios(results, "floors", HIT, REDIS_FLOOR),
        1.25,
        True,
        "needs Redis",
    )
    for peer in ("cacheops", "cachalot"):
        rows = [
            r
            for r in _ratios(results, "floors", f"{peer} hit", HIT)
            if r["backend"] == "postgres+redis" and r.get("how", "").startswith("bridged")
        ]
        targets += _target(
            f"{peer} hit / cached_get hit",
            ">= 4x",
            rows,
            4.0,
            False,
            _skip_reason(results, peer) or "needs PostgreSQL + Redis",
        )
    for name, shown, scenario, numerator, denominator, bound, at_most in RATIO_TARGETS:
        rows = _ratios(results, scenario, numerator, denominator)
        targets += _target(name, shown, rows, bound, at_most, "not run")
    auto = [r for r in results.ratios if r["numerator"] == "auto" and r["scenario"] == "refresh"]
    targets += _target("auto / best fixed strategy", "<= 1.10x", auto, AUTO_BOUND, True, "not run")
    targets += _grid_summary(results)
    targets += _load_targets(results)
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


def _load_targets(results: Results) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name, field, label, bound, limit in (
        ("herd", "max_queries", "herd: queries for one cold row", "<= 2 queries", 2),
        ("storm", "stale", "storm: stale rows after writes stop", "0 stale rows", 0),
    ):
        facts = [f for f in results.facts if f["scenario"] == "load" and f["name"] == name]
        if not facts:
            why = _skip_reason(results, name) or "not run"
            out.append(_entry(label, bound, "-", None, "count", None, why))
        for fact in facts:
            library, value = fact["library"], fact.get(field)
            ours = library == "cachefresh"
            out.append(
                _entry(
                    label,
                    bound if ours else "(peer)",
                    f"{fact['backend']}: {library}",
                    value,
                    "count",
                    _verdict(value, limit, True) if ours else None,
                    "" if ours else "a peer's count, shown beside ours",
                )
            )
    return out
