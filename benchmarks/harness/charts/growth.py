"""Cost against table size (bars, a group per call) and against batch size (per-row cost).

With only a few table sizes (two in quick mode), lines over two points said little; grouped
bars compare the sizes call by call. Below, the per-row cost of ``cached_get_many(n)`` and
``filter(pk__in=...)`` against n, with the batches where the cache is not faster ringed.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from benchmarks.harness.charts.style import MISSED, colour, plain_numbers, plt, save

#: Table sizes from small to large: light to dark.
SIZE_COLOURS = ("#9ecae1", "#4292c6", "#08519c", "#08306b")


def draw(doc: dict[str, Any], path: Path) -> bool:
    items = [m for m in doc["measurements"] if m["scenario"] == "growth"]
    sizes = [m for m in items if "table_rows" in m]
    batches = [m for m in items if "batch_rows" in m]
    if not sizes:
        return False
    backends = list(dict.fromkeys(m["backend"] for m in sizes))
    rows = 2 if batches else 1
    fig, axes = plt.subplots(
        rows, len(backends), figsize=(6.5 * len(backends), 4.6 * rows), squeeze=False
    )
    for column, backend in enumerate(backends):
        _table_sizes(axes[0, column], [m for m in sizes if m["backend"] == backend], backend)
        if batches:
            mine = [m for m in batches if m["backend"] == backend]
            _batch_sizes(axes[1, column], mine, backend)
    fig.tight_layout()
    return save(fig, path)


def _table_sizes(ax: Any, items: list[dict[str, Any]], backend: str) -> None:
    variants = list(dict.fromkeys(m["variant"] for m in items))
    table_rows = sorted({m["table_rows"] for m in items})
    width = 0.8 / len(table_rows)
    for index, size in enumerate(table_rows):
        by_variant = {m["variant"]: m for m in items if m["table_rows"] == size}
        xs = [v + index * width for v, name in enumerate(variants) if name in by_variant]
        ax.bar(
            xs,
            [by_variant[name]["median_ns"] / 1000 for name in variants if name in by_variant],
            width,
            color=SIZE_COLOURS[index % len(SIZE_COLOURS)],
            label=f"{size:,} rows",
        )
    ax.set_xticks([v + 0.4 - width / 2 for v in range(len(variants))], variants, rotation=20)
    ax.set_yscale("log")
    plain_numbers(ax.yaxis)
    ax.set_ylabel("time per call, µs (median)")
    ax.set_xlabel("call (rows chosen at random from the whole table)")
    ax.set_title(f"Cost against table size: {backend}")
    ax.set_ylim(top=ax.get_ylim()[1] * 2.5)  # room for the legend above the bars
    ax.legend(title="table size", loc="upper center", ncol=len(table_rows))


def _batch_sizes(ax: Any, items: list[dict[str, Any]], backend: str) -> None:
    series: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for m in items:
        series[m["variant"]].append((m["batch_rows"], m["median_ns"] / 1000 / m["batch_rows"]))
    for variant, points in series.items():
        points.sort()
        ax.plot(
            [n for n, _ in points],
            [cost for _, cost in points],
            marker="o",
            color=colour(variant),
            label=variant,
        )
    cache, db = (
        dict(series.get("cached_get_many()", [])),
        dict(series.get("filter(pk__in=...)", [])),
    )
    slower = [n for n in cache if n in db and cache[n] > db[n]]
    if slower:
        ax.scatter(
            slower,
            [cache[n] for n in slower],
            s=260,
            facecolors="none",
            edgecolors=MISSED["edgecolor"],
            linewidths=2,
            label="cached_get_many() not faster",
            zorder=3,
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    plain_numbers(ax.xaxis)
    plain_numbers(ax.yaxis)
    ax.set_xlabel("rows per batch")
    ax.set_ylabel("time per row, µs (median)")
    ax.set_title(f"Cost against batch size (hits): {backend}")
    ax.legend(loc="upper right")
