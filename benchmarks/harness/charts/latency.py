"""Which fixed strategy wins in each cell of the latency grid, and how close "auto" comes.

A heatmap per field set: the cell's colour is its fastest fixed strategy; the text gives that
strategy's time and "auto"'s paired ratio to it; cells where "auto" is over the bound are
hatched and outlined in red.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from matplotlib.patches import Patch, Rectangle

from benchmarks.harness.charts.style import MISSED, colour, missed_patch, plt, save
from benchmarks.harness.targets import AUTO_BOUND, FIXED_STRATEGIES
from benchmarks.harness.units import duration, ratio


def draw(doc: dict[str, Any], path: Path) -> bool:
    items = [m for m in doc["measurements"] if m["scenario"] == "latency"]
    if not items:
        return False
    field_sets = list(dict.fromkeys(m["fields"] for m in items))
    # "auto" against the cell's best fixed strategy: the paired ratio the targets use.
    ratios = {
        (r["backend"], r["group"]): r["median"]
        for r in doc["ratios"]
        if r["scenario"] == "latency" and r["numerator"] == "auto"
    }
    fig, axes = plt.subplots(
        1, len(field_sets), figsize=(5.2 * len(field_sets) + 1.5, 5.6), squeeze=False
    )
    missed_any = False
    for ax, fields in zip(axes[0], field_sets, strict=True):
        missed_any |= _panel(ax, items, fields, ratios)
    handles = [
        Patch(facecolor=colour(name), alpha=0.6, label=f"fastest: {name}")
        for name in FIXED_STRATEGIES
    ]
    if missed_any:
        handles.append(missed_patch(f'"auto" over {AUTO_BOUND:.2f}x the fastest (unrounded)'))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False)
    fig.suptitle('Fastest fixed strategy per database and cache latency; "auto" as a ratio to it')
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return save(fig, path)


def _panel(
    ax: Any, items: list[dict[str, Any]], fields: str, ratios: dict[tuple[str, str], float]
) -> bool:
    """One field set's grid of cells (every cell of the run's axes); whether any missed."""
    databases = list(dict.fromkeys(m["database"] for m in items))
    caches = list(dict.fromkeys(m["cache"] for m in items))
    cells: dict[tuple[str, str], dict[str, dict[str, Any]]] = defaultdict(dict)
    for m in items:
        if m["fields"] == fields:
            cells[m["database"], m["cache"]][m["variant"]] = m
    missed_any = False
    for row, database in enumerate(databases):
        for col, cache in enumerate(caches):
            fixed = {
                k: v for k, v in cells.get((database, cache), {}).items() if k in FIXED_STRATEGIES
            }
            if fixed:
                auto = ratios.get((f"{database} & {cache}", fields))
                missed_any |= _cell(ax, row, col, fixed, auto)
    ax.set_xlim(0, len(caches))
    ax.set_ylim(0, len(databases))
    ax.set_xticks([c + 0.5 for c in range(len(caches))], caches, rotation=15)
    ax.set_yticks([r + 0.5 for r in range(len(databases))], databases)
    ax.set_xlabel("cache (added one-way delay, ms)")
    ax.set_ylabel("database (added one-way delay, ms)")
    ax.set_title(f"{fields} (narrow rows)")
    return missed_any


def _cell(
    ax: Any, row: int, col: int, fixed: dict[str, dict[str, Any]], auto: float | None
) -> bool:
    """One cell: its winner's colour and time, "auto"'s ratio; whether "auto" missed."""
    winner = min(fixed, key=lambda k: fixed[k]["median_ns"])
    missed = auto is not None and auto > AUTO_BOUND
    ax.add_patch(Rectangle((col, row), 1, 1, facecolor=colour(winner), alpha=0.6))
    if missed:
        inset = 0.04  # inside the cell, so neighbours' outlines do not overlap
        ax.add_patch(
            Rectangle(
                (col + inset, row + inset),
                1 - 2 * inset,
                1 - 2 * inset,
                facecolor="none",
                **MISSED,
            )
        )
    text = f"{winner}\n{duration(fixed[winner]['median_ns'])}"
    if auto is not None:
        text += f"\nauto {ratio(auto)}"
    ax.text(
        col + 0.5,
        row + 0.5,
        text,
        ha="center",
        va="center",
        fontsize=11,
        fontweight="bold" if missed else "normal",
        # A light box keeps the text legible without hiding the cell's colour.
        bbox={"facecolor": "white", "alpha": 0.45, "edgecolor": "none", "pad": 1.5},
    )
    return missed
