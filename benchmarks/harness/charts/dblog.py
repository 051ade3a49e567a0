"""The invalidation log's chart (:mod:`benchmarks.scenarios.dblog`), drawn from the run's
document: ``dblog.png``, one panel per question, each database side by side.

* what the triggers cost a write: the time of a single-row ``UPDATE`` (each its own commit, and
  200 in one transaction) and of a 1,000-row ``UPDATE`` with triggers, over the same
  ``UPDATE`` without (median of per-round ratios, IQR);
* how long from a raw-SQL commit until another process's ``cached_get`` is fresh: median and
  p99 for each wake-up (log scale).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.harness.charts.style import plain_numbers, plt, save
from benchmarks.harness.units import ratio, seconds

SCENARIO = "dblog"
GROUPS = ("single-row UPDATE", "single-row UPDATE, in one transaction", "1,000-row UPDATE")
#: Colour-blind-safe (Okabe and Ito): a colour per (database, wake-up).
COLOURS = ["#0072B2", "#56B4E9", "#D55E00", "#E69F00"]


def _series(doc: dict[str, Any]) -> list[tuple[str, str]]:
    """(backend, variant) of every trigger variant measured, in the run's order."""
    found: list[tuple[str, str]] = []
    for r in doc["ratios"]:
        key = (r["backend"], r["numerator"])
        if r["scenario"] == SCENARIO and r["group"] in GROUPS and key not in found:
            found.append(key)
    return found


def _overhead(ax: Any, doc: dict[str, Any], series: list[tuple[str, str]]) -> None:
    width = 0.8 / len(series)
    for index, (backend, variant) in enumerate(series):
        for x, group in enumerate(GROUPS):
            r = next(
                (
                    r
                    for r in doc["ratios"]
                    if r["scenario"] == SCENARIO
                    and r["group"] == group
                    and (r["backend"], r["numerator"]) == (backend, variant)
                ),
                None,
            )
            if r is None:
                continue
            pos = x - 0.4 + width * (index + 0.5)
            ax.bar(
                pos,
                r["median"],
                width,
                color=COLOURS[index % len(COLOURS)],
                yerr=[[r["median"] - r["q1"]], [r["q3"] - r["median"]]],
                label=f"{backend}, {variant}" if x == 0 else None,
            )
            ax.text(pos, r["q3"] * 1.02, ratio(r["median"]), ha="center", va="bottom", fontsize=9)
    ax.axhline(1.0, color="#555555", linewidth=1, linestyle="--")
    ax.set_xticks(range(len(GROUPS)), [group.replace(", ", ",\n") for group in GROUPS])
    ax.set_ylabel("time with triggers / without (median of rounds, IQR)")
    ax.set_title("What the triggers cost a write")
    ax.legend(loc="upper left", fontsize=9, framealpha=0.9)


def _delays(ax: Any, doc: dict[str, Any]) -> bool:
    found = [
        f for f in doc["facts"] if f["scenario"] == SCENARIO and f["name"] == "commit to fresh"
    ]
    if not found:
        return False
    for x, fact in enumerate(found):
        for offset, key, shade in ((-0.2, "median_s", 1.0), (0.2, "p99_s", 0.55)):
            value = fact[key] * 1e3
            ax.bar(x + offset, value, 0.38, color=COLOURS[x % len(COLOURS)], alpha=shade)
            ax.text(
                x + offset, value * 1.08, seconds(fact[key]), ha="center", va="bottom", fontsize=9
            )
    ax.set_xticks(
        range(len(found)),
        [f"{f['backend']}\n{f['variant']}\n({f['writes']} writes)" for f in found],
    )
    ax.set_yscale("log")
    plain_numbers(ax.yaxis)
    top = max(f["p99_s"] for f in found) * 1e3
    ax.set_ylim(min(f["median_s"] for f in found) * 1e3 / 3, top * 4)
    ax.set_ylabel("ms, log scale (left bar median, right bar p99)")
    ax.set_title("From a raw-SQL commit to a fresh cached_get in another process")
    return True


def draw(doc: dict[str, Any], path: Path) -> bool:
    series = _series(doc)
    if not series:
        return False
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 5.6))
    _overhead(left, doc, series)
    if not _delays(right, doc):
        right.set_visible(False)
    fig.tight_layout()
    return save(fig, path)
