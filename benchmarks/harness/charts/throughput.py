"""Calls per second against processes, and the speed-up over one process beside the ideal."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from benchmarks.harness.charts.style import colour, plain_numbers, plt, save

#: One line style and marker per backend pair; the colour is the variant's.
BACKEND_STYLES = (("-", "o"), ("--", "s"), (":", "^"))


def draw(doc: dict[str, Any], path: Path) -> bool:
    facts = [f for f in doc["facts"] if f["scenario"] == "growth" and f["name"] == "throughput"]
    if not facts:
        return False
    cpus = doc["machine"]["cpus"]
    series: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for f in facts:
        series[f["backend"], f["variant"]].append(f)
    backends = list(dict.fromkeys(f["backend"] for f in facts))
    variants = list(dict.fromkeys(f["variant"] for f in facts))
    counts = sorted({f["processes"] for f in facts})
    fig, (absolute, speedup) = plt.subplots(1, 2, figsize=(13, 5.2))
    for (backend, variant), points in series.items():
        line, marker = BACKEND_STYLES[backends.index(backend) % len(BACKEND_STYLES)]
        style = {
            "color": colour(variant, variants.index(variant)),
            "linestyle": line,
            "marker": marker,
            "label": f"{backend}: {variant}",
        }
        _series(absolute, speedup, points, style)
    ideal = [min(n, cpus) for n in counts]
    speedup.plot(
        counts, ideal, color="black", linewidth=2, linestyle="-.", label=f"ideal on {cpus} CPUs"
    )
    absolute.set_yscale("log")
    plain_numbers(absolute.yaxis)
    absolute.set_ylabel("calls/s, all processes (median, min to max)")
    absolute.set_title("Throughput")
    speedup.set_ylabel("speed-up over 1 process (medians)")
    speedup.set_ylim(bottom=0)
    speedup.set_title("Scaling")
    for ax in (absolute, speedup):
        ax.set_xlabel("worker processes")
        ax.set_xticks(counts)
        ax.grid(alpha=0.3)
    handles, labels = speedup.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, frameon=False)
    fig.suptitle(
        f"Throughput against processes ({cpus} CPUs shared with other work; "
        "the CPU reference shows what the machine allowed)"
    )
    fig.tight_layout(rect=(0, 0.16, 1, 1))
    return save(fig, path)


def _series(absolute: Any, speedup: Any, points: list[dict[str, Any]], style: dict) -> None:
    """One (backend, variant): its calls per second, and its speed-up over one process."""
    points.sort(key=lambda f: f["processes"])
    xs = [f["processes"] for f in points]
    medians = [f["ops_per_s"] for f in points]
    spread = [
        [f["ops_per_s"] - f.get("min_ops_per_s", f["ops_per_s"]) for f in points],
        [f.get("max_ops_per_s", f["ops_per_s"]) - f["ops_per_s"] for f in points],
    ]
    absolute.errorbar(xs, medians, yerr=spread, capsize=3, **style)
    one = medians[0] if xs[0] == 1 else None
    if one:
        speedup.plot(xs, [m / one for m in medians], **style)
