"""The lookups chart (:mod:`benchmarks.scenarios.lookups`), drawn from the run's document.

``lookups.png``: the warm single-row lookups and prefetches (median per call, whiskers from the
fastest to the slowest round), and the targets (each ratio with the middle half of its rounds
and its bound), a missed target marked as every chart marks one (red outline and hatching,
named in the legend).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.harness.charts.style import MISSED, missed_patch, plt, save
from benchmarks.harness.units import bound, sig3

SCENARIO = "lookups"


def _colour(variant: str) -> str:
    """cachefresh blue (the main suite's "cache"), Django orange ("get()"), inputs grey."""
    if variant.startswith("building"):
        return "#999999"
    if variant.startswith(("cached_get", "cachefresh", "prefetch_cached")):
        return "#0072B2" if "near on" not in variant else "#009E73"
    return "#D55E00"


def draw(doc: dict[str, Any], path: Path) -> bool:
    items = [m for m in doc["measurements"] if m["scenario"] == SCENARIO]
    if not items:
        return False
    figure, (times_ax, prefetch_ax, target_ax) = plt.subplots(
        1, 3, figsize=(17, 5.6), gridspec_kw={"width_ratios": [1, 1.1, 1.2]}
    )
    single = [m for m in items if not m["group"].startswith("prefetch")]
    _times(times_ax, single, [m["variant"] for m in single], "Warm single-row lookups")
    prefetch = [m for m in items if m["group"].startswith("prefetch")]
    names = [f"{m['variant']}\n({_near(m['group'])})" for m in prefetch]
    _times(prefetch_ax, prefetch, names, "Warm prefetch of 100 posts' writers")
    missed_any = _targets(target_ax, doc)
    handles = [
        plt.Rectangle((0, 0), 1, 1, color=_colour("cachefresh"), label="cachefresh"),
        plt.Rectangle((0, 0), 1, 1, color=_colour("cachefresh near on"), label="near cache on"),
        plt.Rectangle((0, 0), 1, 1, color=_colour("Django"), label="Django"),
        plt.Rectangle((0, 0), 1, 1, color=_colour("building"), label="building inputs"),
        plt.Line2D([], [], color="#000000", ls="--", label="target"),
        plt.Rectangle((0, 0), 1, 1, color="#0072B2", label="target met"),
    ]
    if missed_any:
        handles.append(missed_patch("target missed (judged unrounded)"))
    queries = ", ".join(
        f"{f['group']}: {f['queries']}"
        for f in doc["facts"]
        if f["scenario"] == SCENARIO and f["name"] == "prefetch"
    )
    figure.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False)
    figure.suptitle(
        "cachefresh lookups on PostgreSQL + Redis (times: lower is faster); queries in a warm "
        f"prefetch_cached: {queries} (target 0)"
    )
    figure.tight_layout(rect=(0, 0.06, 1, 1))
    return save(figure, path)


def _near(group: str) -> str:
    """ "prefetch 100 posts, near off" -> "near off"."""
    return group.rsplit(", ", 1)[-1]


def _times(ax: Any, items: list[dict[str, Any]], names: list[str], title: str) -> None:
    medians = [m["median_ns"] / 1e3 for m in items]
    lows = [m["median_ns"] / 1e3 - m["min_ns"] / 1e3 for m in items]
    highs = [m["max_ns"] / 1e3 - m["median_ns"] / 1e3 for m in items]
    colours = [_colour(n) for n in names]
    bars = ax.barh(names, medians, xerr=[lows, highs], color=colours, capsize=3)
    ax.bar_label(bars, labels=[sig3(m) for m in medians], padding=4)
    ax.set_title(title)
    ax.set_xlabel("µs per call (bar: median; whiskers: fastest to slowest round)")
    ax.invert_yaxis()
    ax.set_xlim(0, max(m + h for m, h in zip(medians, highs, strict=True)) * 1.3)


def _targets(ax: Any, doc: dict[str, Any]) -> bool:
    """The ratio targets, each with the middle half of its rounds; whether any was missed."""
    judged = [
        t
        for t in doc["targets"]
        if t.get("scenario") == SCENARIO and t["unit"] == "x" and t["measured"] is not None
    ]
    spreads = [_ratio(doc, t) for t in judged]
    missed_any = False
    for row, (target, spread) in enumerate(zip(judged, spreads, strict=True)):
        figure, low, high, met = target["measured"], spread["q1"], spread["q3"], target["met"]
        missed_any |= not met
        ax.barh(
            row,
            figure,
            xerr=[[figure - low], [high - figure]],
            color="#0072B2" if met else "white",
            capsize=3,
            **({} if met else MISSED),
        )
        wanted = target["limit"]
        ax.plot([wanted, wanted], [row - 0.45, row + 0.45], color="#000000", ls="--")
        ax.annotate(
            f"{sig3(figure)}x, wanted {bound(target['bound'])}: {'met' if met else 'MISSED'}",
            (max(high, wanted), row),
            xytext=(6, 0),
            textcoords="offset points",
            va="center",
            fontweight="normal" if met else "bold",
            color="#000000" if met else "#C00000",
        )
    labels = [_label(t) for t in judged]
    ax.set_yticks(range(len(judged)), labels)
    ax.invert_yaxis()
    ax.set_xlim(0, max([t["limit"] for t in judged] + [s["max"] for s in spreads], default=1))
    ax.set_xlim(0, ax.get_xlim()[1] * 1.05 + 4)
    ax.set_xlabel("ratio of times (bar: median of per-round ratios; whiskers: middle half)")
    ax.set_title("Targets")
    return missed_any


def _ratio(doc: dict[str, Any], target: dict[str, Any]) -> dict[str, Any]:
    keys = ("scenario", "group", "numerator", "denominator")
    return next(r for r in doc["ratios"] if all(r[k] == target[k] for k in keys))


def _label(target: dict[str, Any]) -> str:
    label = target["target"].replace(" time / ", " /\n")
    if target["group"].startswith("prefetch"):
        label += f"\n{_near(target['group'])}"
    return label
