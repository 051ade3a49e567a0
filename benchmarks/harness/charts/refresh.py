"""Time per refresh by strategy, per backend pair: scenario 1's bars, "auto" misses marked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.patches import Patch

from benchmarks.harness.charts.style import MISSED, colour, missed_patch, plain_numbers, plt, save
from benchmarks.harness.targets import AUTO_BOUND


def draw(doc: dict[str, Any], path: Path) -> bool:
    items = [m for m in doc["measurements"] if m["scenario"] == "refresh"]
    if not items:
        return False
    over = {
        (r["backend"], r["group"])
        for r in doc["ratios"]
        if r["scenario"] == "refresh" and r["numerator"] == "auto" and r["median"] > AUTO_BOUND
    }
    backends = list(dict.fromkeys(m["backend"] for m in items))
    fig, axes = plt.subplots(len(backends), 1, figsize=(11, 4.2 * len(backends)), squeeze=False)
    for ax, backend in zip(axes[:, 0], backends, strict=True):
        mine = [m for m in items if m["backend"] == backend]
        groups = list(dict.fromkeys(m["group"] for m in mine))
        variants = list(dict.fromkeys(m["variant"] for m in mine))
        width = 0.8 / len(variants)
        for index, variant in enumerate(variants):
            by_group = {m["group"]: m for m in mine if m["variant"] == variant}
            for number, group in enumerate(groups):
                m = by_group.get(group)
                if m is None:
                    continue
                missed = variant == "auto" and (backend, group) in over
                median = m["median_ns"] / 1000
                ax.bar(
                    number + index * width,
                    median,
                    width,
                    yerr=[[median - m["q1_ns"] / 1000], [m["q3_ns"] / 1000 - median]],
                    color=colour(variant),
                    **(MISSED if missed else {}),
                )
        ax.set_xticks([g + 0.4 - width / 2 for g in range(len(groups))], groups)
        ax.set_yscale("log")
        plain_numbers(ax.yaxis)
        ax.set_ylabel("time per refresh, µs (median, IQR)")
        ax.set_xlabel("row width, fields refreshed")
        ax.set_title(f"Time per refresh by strategy: {backend}")
        # Built here, not from the bars: the first "auto" bar may carry the missed mark.
        handles = [Patch(color=colour(variant), label=variant) for variant in variants]
        if any(key[0] == backend for key in over):
            handles.append(
                missed_patch(f'"auto" over {AUTO_BOUND:.2f}x the best fixed (unrounded)')
            )
        ax.legend(handles=handles, ncol=3, loc="upper left", framealpha=0.9)
        ax.set_ylim(top=ax.get_ylim()[1] * 3)  # room for the legend above the bars
    fig.tight_layout()
    return save(fig, path)
