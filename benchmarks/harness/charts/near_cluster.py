"""The near cache on Redis Cluster (:mod:`benchmarks.scenarios.near_cluster`), from the run's
document.

* ``near-cluster-latency.png``: time per hit, near and Redis-tier, on the cluster and on one
  Redis (log scale), with the cluster's ratio to one Redis over its bars;
* ``near-cluster-throughput.png``: hits per second by process count, near cache on and off,
  on each;
* ``near-cluster-delay.png``: the delays from a commit to another process seeing it, on the
  cluster.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.harness.charts.near import delay
from benchmarks.harness.charts.style import plain_numbers, plt, save
from benchmarks.harness.stats import quartiles
from benchmarks.harness.units import ratio, sig3

SCENARIO = "near_cluster"
#: Okabe and Ito: one Redis in blue, the cluster in vermillion; Redis-tier bars lighter.
COLOURS = {"single": "#0072B2", "cluster": "#D55E00"}


def draw_latency(doc: dict[str, Any], path: Path) -> bool:
    from benchmarks.scenarios.near_cluster import GROUP, LABELS

    lat = {
        m["variant"]: [ns * 1e-9 for ns in m["samples_ns"]]
        for m in doc["measurements"]
        if m["scenario"] == SCENARIO and m["group"] == GROUP
    }
    if not lat:
        return False
    ratios = {
        r["numerator"]: r["median"]
        for r in doc["ratios"]
        if r["scenario"] == SCENARIO and r["numerator"].endswith("cluster")
        and r["denominator"].endswith("one Redis")
    }  # fmt: skip
    fig, ax = plt.subplots(figsize=(9, 5))
    top, low = 0.0, float("inf")
    for x, ((side, variant), label) in enumerate(LABELS.items()):
        q1, median, q3 = (q * 1e6 for q in quartiles(lat[label]))
        ax.bar(x, median, 0.6, yerr=[[median - q1], [q3 - median]], color=COLOURS[side],
               alpha=1.0 if variant == "near" else 0.55)  # fmt: skip
        text = f"{sig3(median)} µs"
        if label in ratios:
            text += f"\n{ratio(ratios[label])} one Redis"
        ax.text(x, q3 * 1.12, text, ha="center", va="bottom")
        top, low = max(top, q3), min(low, q1)
    ax.set_xticks(range(len(LABELS)), [label.replace(", ", "\n") for label in LABELS.values()])
    ax.set_yscale("log")
    plain_numbers(ax.yaxis)
    ax.set_ylim(low / 2, top * 8)
    ax.set_ylabel("time per hit, µs (median of rounds, IQR; log scale)")
    rounds = len(next(iter(lat.values())))
    ax.set_title(f"cached_get hits: 3-primary Redis Cluster against one Redis ({rounds} rounds)")
    fig.tight_layout()
    return save(fig, path)


def draw_throughput(doc: dict[str, Any], path: Path) -> bool:
    facts = [
        f for f in doc["facts"] if f["scenario"] == SCENARIO and f["name"] == "near throughput"
    ]
    if not facts:
        return False
    counts = sorted({f["processes"] for f in facts})
    backends = list(dict.fromkeys(f["on"] for f in facts))
    fig, ax = plt.subplots(figsize=(8, 4.5))
    width = 0.8 / (2 * len(backends))
    bars = [(backend, near) for backend in backends for near in ("near_off", "near_on")]
    top = 0.0
    for index, (backend, near) in enumerate(bars):
        heights = [
            next(f[near] for f in facts if f["on"] == backend and f["processes"] == c) / 1e3
            for c in counts
        ]
        side = "cluster" if "cluster" in backend else "single"
        offset = (index - (len(bars) - 1) / 2) * width
        label = f"{backend}, near cache {'on' if near == 'near_on' else 'off'}"
        xs = [c + offset for c in range(len(counts))]
        ax.bar(xs, heights, width, label=label, color=COLOURS[side],
               alpha=1.0 if near == "near_on" else 0.45)  # fmt: skip
        for x, height in zip(xs, heights, strict=True):
            ax.text(x, height, f"{height:.0f}k", ha="center", va="bottom", fontsize=8)
        top = max(top, *heights)
    ax.set_xticks(range(len(counts)), [str(c) for c in counts])
    ax.set_xlabel("processes (2-core machine)")
    ax.set_ylabel("cached_get hits per second (thousands)")
    ax.set_title("Hit throughput: 3-primary cluster against one Redis")
    ax.set_ylim(0, top * 1.45)  # room for the legend above the bars
    ax.legend(fontsize=9, loc="upper center", ncol=2)
    fig.tight_layout()
    return save(fig, path)


def draw_delay(doc: dict[str, Any], path: Path) -> bool:
    facts = [f for f in doc["facts"] if f["scenario"] == SCENARIO and f["name"] == "near delay"]
    return bool(facts) and delay(path, facts[0]["delays_s"], "on a 3-primary cluster")
