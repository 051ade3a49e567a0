"""PNG charts of one run (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

STRATEGY_COLOURS = {
    "refresh_from_db": "#888888",
    "cache": "#1f77b4",
    "full": "#d62728",
    "columns": "#2ca02c",
    "auto": "#9467bd",
}
FIXED = ("cache", "full", "columns")
#: Small files: one of them is committed under docs/img.
DPI = 80


def _of(doc: dict[str, Any], scenario: str) -> list[dict[str, Any]]:
    return [m for m in doc["measurements"] if m["scenario"] == scenario]


def refresh_chart(doc: dict[str, Any], path: Path) -> bool:
    items = _of(doc, "refresh")
    if not items:
        return False
    backends = list(dict.fromkeys(m["backend"] for m in items))
    fig, axes = plt.subplots(len(backends), 1, figsize=(10, 3.6 * len(backends)), squeeze=False)
    for ax, backend in zip(axes[:, 0], backends, strict=True):
        mine = [m for m in items if m["backend"] == backend]
        groups = list(dict.fromkeys(m["group"] for m in mine))
        variants = list(dict.fromkeys(m["variant"] for m in mine))
        width = 0.8 / len(variants)
        for index, variant in enumerate(variants):
            by_group = {m["group"]: m for m in mine if m["variant"] == variant}
            xs = [g + index * width for g in range(len(groups)) if groups[g] in by_group]
            rows = [by_group[g] for g in groups if g in by_group]
            medians = [m["median_ns"] / 1000 for m in rows]
            spread = [
                [(m["median_ns"] - m["q1_ns"]) / 1000 for m in rows],
                [(m["q3_ns"] - m["median_ns"]) / 1000 for m in rows],
            ]
            ax.bar(
                xs, medians, width, yerr=spread, label=variant, color=STRATEGY_COLOURS.get(variant)
            )
        ax.set_xticks([g + 0.4 - width / 2 for g in range(len(groups))], groups, fontsize=8)
        ax.set_yscale("log")
        ax.set_ylabel("µs per refresh (median, IQR)")
        ax.set_title(f"Time per refresh by strategy: {backend}")
        ax.legend(fontsize=7, ncol=len(variants))
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return True


def latency_chart(doc: dict[str, Any], path: Path) -> bool:
    items = _of(doc, "latency")
    if not items:
        return False
    field_sets = list(dict.fromkeys(m["fields"] for m in items))
    databases = list(dict.fromkeys(m["database"] for m in items))
    caches = list(dict.fromkeys(m["cache"] for m in items))
    colours = {name: STRATEGY_COLOURS[name] for name in FIXED}
    # "auto" against the cell's best fixed strategy: the paired ratio the targets use.
    ratios = {
        (r["backend"], r["group"]): r["median"]
        for r in doc["ratios"]
        if r["scenario"] == "latency" and r["numerator"] == "auto"
    }
    fig, axes = plt.subplots(1, len(field_sets), figsize=(6.5 * len(field_sets), 5), squeeze=False)
    for ax, fields in zip(axes[0], field_sets, strict=True):
        cells: dict[tuple[str, str], dict[str, dict[str, Any]]] = defaultdict(dict)
        for m in items:
            if m["fields"] == fields:
                cells[m["database"], m["cache"]][m["variant"]] = m
        for row, database in enumerate(databases):
            for col, cache in enumerate(caches):
                found = cells.get((database, cache), {})
                fixed = {k: v for k, v in found.items() if k in FIXED}
                if not fixed:
                    continue
                winner = min(fixed, key=lambda k: fixed[k]["median_ns"])
                best = fixed[winner]["median_ns"]
                ax.add_patch(plt.Rectangle((col, row), 1, 1, color=colours[winner], alpha=0.55))
                text = f"{winner}\n{best / 1000:,.0f} µs"
                paired = ratios.get((f"{database} & {cache}", fields))
                if paired is not None:
                    text += f"\nauto {paired:.2f}x"
                ax.text(col + 0.5, row + 0.5, text, ha="center", va="center", fontsize=7)
        ax.set_xlim(0, len(caches))
        ax.set_ylim(0, len(databases))
        ax.set_xticks([c + 0.5 for c in range(len(caches))], caches, fontsize=7, rotation=20)
        ax.set_yticks([r + 0.5 for r in range(len(databases))], databases, fontsize=7)
        ax.set_xlabel("cache (added one-way delay)")
        ax.set_ylabel("database (added one-way delay)")
        ax.set_title(f"Fastest fixed strategy, {fields} (narrow rows)")
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return True


def throughput_chart(doc: dict[str, Any], path: Path) -> bool:
    facts = [f for f in doc["facts"] if f["scenario"] == "growth" and f["name"] == "throughput"]
    if not facts:
        return False
    fig, ax = plt.subplots(figsize=(7, 4.5))
    series: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for f in facts:
        series[f"{f['backend']}: {f['variant']}"].append((f["processes"], f["ops_per_s"]))
    for label, points in series.items():
        points.sort()
        ax.plot([p for p, _ in points], [v for _, v in points], marker="o", label=label)
    ax.set_xlabel("processes")
    ax.set_ylabel("calls per second (all processes)")
    ax.set_yscale("log")
    ax.set_xticks(sorted({f["processes"] for f in facts}))
    ax.set_title(f"Throughput against concurrency ({doc['machine']['cpus']} CPUs)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return True


def growth_chart(doc: dict[str, Any], path: Path) -> bool:
    items = [m for m in _of(doc, "growth") if "table_rows" in m]
    if not items:
        return False
    fig, ax = plt.subplots(figsize=(7, 4.5))
    series: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for m in items:
        series[f"{m['backend']}: {m['variant']}"].append((m["table_rows"], m["median_ns"] / 1000))
    for label, points in series.items():
        points.sort()
        ax.plot([p for p, _ in points], [v for _, v in points], marker="o", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("rows in the table")
    ax.set_ylabel("µs per call (median)")
    ax.set_title("Cost against table size")
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return True


CHARTS = {
    "refresh_by_strategy.png": refresh_chart,
    "latency_winners.png": latency_chart,
    "throughput.png": throughput_chart,
    "growth.png": growth_chart,
}


def draw(doc: dict[str, Any], out_dir: Path) -> list[str]:
    """Draw every chart the run has data for; the file names drawn."""
    return [name for name, chart in CHARTS.items() if chart(doc, out_dir / name)]
