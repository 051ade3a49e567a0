"""The report and chart of :mod:`benchmarks.lookups_bench`: every target with its figure, met
or missed, in ``lookups.md``; the times and the targets in ``lookups.png``, each missed target
marked as the main suite marks one (red outline and hatching, named in the legend)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The speed-up issue 13 asks of a warm prefetch_cached over prefetch_related_objects.
PREFETCH_SPEEDUP = 5.0
#: How much slower a slug hit may be than a pk hit.
SLUG_BOUND = 1.5
NEAR = ("near off", "near on")


def sig(value: float) -> str:
    """Three significant figures, without an exponent (1,400 rather than 1.4e+03)."""
    rounded = float(f"{value:.3g}")
    return f"{rounded:,.0f}" if rounded >= 100 else f"{rounded:.3g}"


def ratios(found: dict[str, list[float]], top: str, bottom: str) -> list[float]:
    return [a / b for a, b in zip(found[top], found[bottom], strict=True)]


def quartiles(values: list[float]) -> tuple[float, float]:
    low, _, high = statistics.quantiles(values, n=4, method="inclusive")
    return low, high


@dataclass
class Target:
    name: str
    #: Per-round ratios (None for a count).
    ratios: list[float] | None
    figure: float
    wanted: str
    met: bool
    #: Where the chart draws the target line.
    bound: float = 0.0
    unit: str = "x"

    @property
    def shown(self) -> str:
        if self.ratios is None:
            return f"{self.figure:g}{self.unit}"
        low, high = quartiles(self.ratios)
        return f"{sig(self.figure)}x (middle half of rounds {sig(low)} to {sig(high)}x)"


def targets(results: dict[str, Any]) -> list[Target]:
    slug = ratios(results["lookups"], "cached_get(slug=…)", "cached_get(pk=…)")
    g404 = ratios(results["shortcut"], "Django get_object_or_404", "cachefresh get_object_or_404")
    slug_median, g404_median = statistics.median(slug), statistics.median(g404)
    found = [
        Target(
            "slug hit time / pk hit time",
            slug,
            slug_median,
            f"≤ {SLUG_BOUND:g}x",
            slug_median <= SLUG_BOUND,
            SLUG_BOUND,
        ),
        Target(
            "Django's get_object_or_404 time / cachefresh's",
            g404,
            g404_median,
            "> 1x (faster)",
            g404_median > 1,
            1.0,
        ),
    ]
    for near in NEAR:
        run = results["prefetch"][near]
        pre = ratios(run["times"], "prefetch_related_objects", "prefetch_cached")
        median = statistics.median(pre)
        found.append(
            Target(
                f"prefetch_related_objects time / prefetch_cached's, {near}",
                pre,
                median,
                f"≥ {PREFETCH_SPEEDUP:g}x",
                median >= PREFETCH_SPEEDUP,
                PREFETCH_SPEEDUP,
            )
        )
        queries = run["queries"]["prefetch_cached"]
        found.append(
            Target(
                f"queries in a warm prefetch_cached, {near}",
                None,
                queries,
                "0",
                queries == 0,
                unit=f" (Django: {run['queries']['prefetch_related_objects']})",
            )
        )
    return found


def report(results: dict[str, Any], rounds: int) -> str:
    lines = [
        f"Medians over {rounds} rounds on PostgreSQL + Redis, variants shuffled per round; "
        "a comparison's figure is the median of its per-round ratios.",
        "",
        "| variant | median µs per call |",
        "| --- | ---: |",
    ]
    groups = [("", results["lookups"]), ("", results["shortcut"])]
    groups += [(f", {near}", results["prefetch"][near]["times"]) for near in NEAR]
    for suffix, found in groups:
        for name, seconds in found.items():
            lines.append(f"| {name}{suffix} | {sig(statistics.median(seconds) * 1e6)} |")
    lines += ["", "| target | figure | wanted | met |", "| --- | --- | --- | --- |"]
    for target in targets(results):
        lines.append(
            f"| {target.name} | {target.shown} | {target.wanted} | "
            f"{'met' if target.met else '**missed**'} |"
        )
    off, near = results["prefetch"]["near off"], results["prefetch"]["near on"]
    served = near["near"]
    lines += [
        "",
        "Prefetch timings exclude building the 100 input posts (built before each round's timed "
        "loop; their cost is the `building 100 posts` line).",
        f"Cache round trips in one warm call: near off {off['cache reads']}"
        f", near on {near['cache reads']}. During the near-on rounds the tier held "
        f"{served['held']} rows and served {served['near_hit']:,} of {served['hit']:,} hits "
        f"({served['near_miss']:,} near misses).",
        "",
    ]
    if served["near_miss"] or served["near_hit"] != served["hit"]:
        lines += [
            "**The tier did not serve every row of the near-on rounds: their figure mixes in "
            "Redis hits.**",
            "",
        ]
    return "\n".join(lines)


def _colour(variant: str) -> str:
    """cachefresh blue (the main suite's "cache"), Django orange ("get()"), inputs grey."""
    if variant.startswith("building"):
        return "#999999"
    if variant.startswith(("cached_get", "cachefresh", "prefetch_cached")):
        return "#0072B2" if "near on" not in variant else "#009E73"
    return "#D55E00"


def chart(results: dict[str, Any], path: Path) -> None:
    from benchmarks.harness.charts.style import MISSED, missed_patch, plt, save

    figure, (times_ax, prefetch_ax, target_ax) = plt.subplots(
        1, 3, figsize=(17, 5.6), gridspec_kw={"width_ratios": [1, 1.1, 1.2]}
    )
    single = {**results["lookups"], **results["shortcut"]}
    prefetch = {
        f"{name}\n({near})": seconds
        for near in NEAR
        for name, seconds in results["prefetch"][near]["times"].items()
    }
    for ax, found, title in (
        (times_ax, single, "Warm single-row lookups"),
        (prefetch_ax, prefetch, "Warm prefetch of 100 posts' writers"),
    ):
        names = list(found)
        medians = [statistics.median(found[n]) * 1e6 for n in names]
        lows = [m - min(found[n]) * 1e6 for m, n in zip(medians, names, strict=True)]
        highs = [max(found[n]) * 1e6 - m for m, n in zip(medians, names, strict=True)]
        colours = [_colour(n) for n in names]
        bars = ax.barh(names, medians, xerr=[lows, highs], color=colours, capsize=3)
        ax.bar_label(bars, labels=[sig(m) for m in medians], padding=4)
        ax.set_title(title)
        ax.set_xlabel("µs per call (bar: median; whiskers: fastest to slowest round)")
        ax.invert_yaxis()
        ax.set_xlim(0, max(m + h for m, h in zip(medians, highs, strict=True)) * 1.3)
    ratio_targets = [t for t in targets(results) if t.ratios is not None]
    labels = [t.name.replace(" time / ", " /\n").replace(", near", "\nnear") for t in ratio_targets]
    missed_any = False
    for row, target in enumerate(ratio_targets):
        assert target.ratios is not None
        low, high = quartiles(target.ratios)
        style = {} if target.met else MISSED
        missed_any |= not target.met
        target_ax.barh(
            row,
            target.figure,
            xerr=[[target.figure - low], [high - target.figure]],
            color="#0072B2" if target.met else "white",
            capsize=3,
            **style,
        )
        wanted = target.bound
        target_ax.plot([wanted, wanted], [row - 0.45, row + 0.45], color="#000000", ls="--")
        target_ax.annotate(
            f"{sig(target.figure)}x, wanted {target.wanted}: {'met' if target.met else 'MISSED'}",
            (max(high, wanted), row),
            xytext=(6, 0),
            textcoords="offset points",
            va="center",
            fontweight="normal" if target.met else "bold",
            color="#000000" if target.met else "#C00000",
        )
    target_ax.set_yticks(range(len(ratio_targets)), labels)
    target_ax.invert_yaxis()
    target_ax.set_xlim(0, max(PREFETCH_SPEEDUP, *(max(t.ratios or [0]) for t in ratio_targets)))
    target_ax.set_xlim(0, target_ax.get_xlim()[1] * 1.05 + 4)
    target_ax.set_xlabel("ratio of times (bar: median of per-round ratios; whiskers: middle half)")
    target_ax.set_title("Targets")
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
        f"{near}: {results['prefetch'][near]['queries']['prefetch_cached']}" for near in NEAR
    )
    figure.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False)
    figure.suptitle(
        "cachefresh lookups on PostgreSQL + Redis (times: lower is faster); queries in a warm "
        f"prefetch_cached: {queries} (target 0)"
    )
    figure.tight_layout(rect=(0, 0.06, 1, 1))
    save(figure, path)
