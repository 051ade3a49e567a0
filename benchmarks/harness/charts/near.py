"""The near cache's charts (:mod:`benchmarks.scenarios.near`), drawn from the run's document.

* ``near-latency.png``: time per hit of each variant, the peers' included (log scale), each
  target's ratio over its numerator's bar, a missed one's bar hatched and outlined in red;
* ``near-throughput.png``: hits per second by process count, near cache on against off;
* ``near-delay.png``: the delays from a commit to another process seeing it.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from matplotlib.patches import Patch

from benchmarks.harness.charts.style import MISSED, missed_patch, plain_numbers, plt, save
from benchmarks.harness.stats import percentile, quartiles
from benchmarks.harness.targets import DELAY_BOUND_S
from benchmarks.harness.units import bound, ratio, sig3

#: Colour-blind-safe (Okabe and Ito), as the suite's other charts.
VARIANTS = {
    "floor": "#999999",
    "near": "#009E73",
    "redis": "#0072B2",
    "cacheops": "#E69F00",
    "cachalot": "#CC79A7",
}
#: How a ratio's denominator is named over the bars: "6.1x floor", "16x near hit".
SHORT = {"floor": "floor", "near": "near hit"}


def latency(
    path: Path,
    lat: dict[str, list[float]],
    labels: dict[str, str],
    targets: list[dict[str, Any]],
) -> bool:
    """Bars of median µs per hit with their IQR; each target's ratio over its numerator's bar."""
    names = [name for name in labels if name in lat]
    judged = {t["numerator"]: t for t in targets}
    fig, ax = plt.subplots(figsize=(10, 5.6))
    top, low = 0.0, float("inf")
    for x, name in enumerate(names):
        q1, median, q3 = (q * 1e6 for q in quartiles(lat[name]))
        target = judged.get(name)
        missed = target is not None and not target["met"]
        ax.bar(x, median, 0.62, yerr=[[median - q1], [q3 - median]], color=VARIANTS[name],
               **(MISSED if missed else {}))  # fmt: skip
        text = f"{sig3(median)} µs"
        if target is not None:
            short = SHORT[target["denominator"]]
            verdict = "missed" if missed else "met"
            text += (
                f"\n{ratio(target['ratio'])} {short}\ntarget {bound(target['bound'])}\n{verdict}"
            )
        ax.text(x, q3 * 1.12, text, ha="center", va="bottom",
                fontweight="bold" if missed else "normal")  # fmt: skip
        top, low = max(top, q3), min(low, q1)
    ax.set_xticks(range(len(names)), [labels[name] for name in names])
    ax.set_yscale("log")
    plain_numbers(ax.yaxis)
    ax.set_ylim(low / 2, top * 15)  # room for the ratios above the bars and for the legend
    ax.set_ylabel("time per hit, µs (median of rounds, IQR; log scale)")
    ax.set_title(f"cached_get hit latency against the peers' hits ({len(lat['floor'])} rounds)")
    handles = [Patch(color=VARIANTS[name], label=labels[name]) for name in names]
    if any(not t["met"] for t in targets):
        handles.append(missed_patch("target missed (ratio above its bar)"))
    ax.legend(handles=handles, loc="upper left", ncol=2, framealpha=0.9)
    fig.tight_layout()
    return save(fig, path)


def throughput(path: Path, tput: dict[tuple[int, bool], float]) -> bool:
    fig, ax = plt.subplots(figsize=(6, 4))
    counts = sorted({p for p, _ in tput})
    width = 0.38
    for offset, on in ((-width / 2, False), (width / 2, True)):
        heights = [tput[p, on] / 1e3 for p in counts]
        label = f"near cache {'on' if on else 'off'}"
        ax.bar([c + offset for c in range(len(counts))], heights, width, label=label)
    ax.set_xticks(range(len(counts)), [str(c) for c in counts])
    ax.set_xlabel("processes")
    ax.set_ylabel("cached_get hits per second (thousands)")
    ax.set_title("Hit throughput, near cache on against off")
    ax.legend()
    fig.tight_layout()
    return save(fig, path)


def delay(path: Path, seen: list[float], where: str = "loopback") -> bool:
    fig, ax = plt.subplots(figsize=(6, 4))
    millis = sorted(s * 1e3 for s in seen)
    ax.hist(millis, bins=30, color="C1", label=f"{len(seen)} writes")
    median, p99 = statistics.median(millis), percentile(millis, 0.99)
    ax.axvline(median, color="black", linestyle="-", label=f"median {sig3(median)} ms")
    ax.axvline(p99, color="black", linestyle=":", label=f"p99 {sig3(p99)} ms")
    target = DELAY_BOUND_S * 1e3
    met = "met" if median <= target else "missed"
    ax.axvline(target, color="red", linestyle="--", label=f"target {target:g} ms ({met})")
    ax.set_xlabel("delay from commit to seen by another process (ms)")
    ax.set_ylabel("writes")
    ax.set_title(f"Cross-process invalidation delay ({where})")
    ax.legend()
    fig.tight_layout()
    return save(fig, path)


def draw_latency(doc: dict[str, Any], path: Path) -> bool:
    from benchmarks.scenarios.near import GROUP, LABELS, verdicts

    keys = {label: key for key, label in LABELS.items()}
    lat = {
        keys[m["variant"]]: [ns * 1e-9 for ns in m["samples_ns"]]
        for m in doc["measurements"]
        if m["scenario"] == "near" and m["group"] == GROUP
    }
    return "floor" in lat and latency(path, lat, LABELS, verdicts(lat))


def draw_throughput(doc: dict[str, Any], path: Path) -> bool:
    facts = [f for f in doc["facts"] if f["scenario"] == "near" and f["name"] == "near throughput"]
    tput = {
        (f["processes"], on): f["near_on" if on else "near_off"]
        for f in facts
        for on in (False, True)
    }
    return bool(facts) and throughput(path, tput)


def draw_delay(doc: dict[str, Any], path: Path) -> bool:
    facts = [f for f in doc["facts"] if f["scenario"] == "near" and f["name"] == "near delay"]
    return bool(facts) and delay(path, facts[0]["delays_s"])
