"""The speed targets of issue 22 in one chart, from one run or several (the docs' three).

``speed-targets.png``: each ratio target that bounds how close cachefresh comes to a floor or
how far ahead of a peer it stays, one row per target and place, its bound as a vertical line,
the median over the runs as a dot and the range over the runs as a bar; a target missed in
any run is marked as every chart marks one (red outline and hatching, named in the legend).

``python -m benchmarks.harness.charts.speed OUT.png RUN_DIR...`` draws it from several runs'
``results.json``.
"""

from __future__ import annotations

import json
import operator
import statistics
import sys
from pathlib import Path
from typing import Any

from benchmarks.harness.charts.style import MISSED, missed_patch, plain_numbers, plt, save

PREFETCH = "prefetch_related_objects time / prefetch_cached's"
#: The targets drawn, by the name the targets table gives them, with issue 22's bounds: each
#: run is judged against these, so that a run made before the bounds moved reads the same.
SPEED_TARGETS = {
    "near hit / in-process floor": ("<= 2x", 2.0, operator.le),
    "cached_get hit / redis-py floor": ("<= 1.25x", 1.25, operator.le),
    "cacheops hit / cached_get hit": (">= 4x", 4.0, operator.ge),
    "columns / raw cursor": ("<= 1.2x", 1.2, operator.le),
    f"{PREFETCH}, near off": (">= 3x", 3.0, operator.ge),
}


def _name(row: dict[str, Any]) -> str:
    # Before issue 22 one prefetch target judged near off and near on alike.
    if row["target"] == PREFETCH and "near off" in row["where"]:
        return f"{PREFETCH}, near off"
    return str(row["target"])


def rows_of(docs: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Per (target, where), the row of each run that measured it."""
    found: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for doc in docs:
        for row in doc["targets"]:
            if _name(row) in SPEED_TARGETS and row["measured"] is not None:
                found.setdefault((_name(row), row["where"]), []).append(row)
    order = {name: index for index, name in enumerate(SPEED_TARGETS)}
    return dict(sorted(found.items(), key=lambda item: order[item[0][0]]))


def draw_runs(docs: list[dict[str, Any]], path: Path) -> bool:
    found = rows_of(docs)
    if not found:
        return False
    figure, axis = plt.subplots(figsize=(11, 0.55 * len(found) + 1.6))
    missed_any = False
    for y, ((target, _), rows) in enumerate(reversed(list(found.items()))):
        _, limit, met_when = SPEED_TARGETS[target]
        values = [row["measured"] for row in rows]
        low, high, middle = min(values), max(values), statistics.median(values)
        missed = not all(met_when(value, limit) for value in values)
        missed_any |= missed
        axis.barh(y, high - low or middle * 0.01, left=low, height=0.5, color="#0072B2",
                  **(MISSED if missed else {}))  # fmt: skip
        axis.plot([middle], [y], "o", color="black")
        axis.plot([limit] * 2, [y - 0.4, y + 0.4], color="#C00000", linewidth=2)
        axis.annotate(f"{middle:.2f}x ({low:.2f} to {high:.2f})", (high, y), xytext=(6, -4),
                      textcoords="offset points")  # fmt: skip
    labels = [f"{target} ({SPEED_TARGETS[target][0]})\n{where}" for target, where in found]
    axis.set_yticks(range(len(found)), list(reversed(labels)))
    axis.set_xscale("log")
    axis.set_xlim(0.8, max(axis.get_xlim()[1], 5.0) * 1.15)
    plain_numbers(axis.xaxis)
    axis.set_xlabel("ratio (median of per-round ratios); dot: median over runs, bar: range")
    axis.set_title(f"Speed targets over {len(docs)} run(s); red line: the bound")
    if missed_any:
        axis.legend(
            handles=[missed_patch("missed in at least one run")],
            loc="upper center",
            bbox_to_anchor=(0.5, -0.1),
        )
    return save(figure, path)


def draw(doc: dict[str, Any], path: Path) -> bool:
    return draw_runs([doc], path)


if __name__ == "__main__":
    out, *runs = sys.argv[1:]
    docs = [json.loads((Path(run) / "results.json").read_text()) for run in runs]
    raise SystemExit(0 if draw_runs(docs, Path(out)) else 1)
