"""The near-cache bench's charts (:mod:`benchmarks.near_bench`), drawn from its figures.

Not from the main suite's JSON document: the near bench is a companion script of its own, but
its charts share the suite's look (:mod:`benchmarks.harness.charts.style`).

* ``near-latency.png``: median time per hit of each variant (log scale);
* ``near-throughput.png``: hits per second by process count, near cache on against off;
* ``near-delay.png``: the delays from a commit to another process seeing it.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from benchmarks.harness.charts.style import plt, save


def latency(path: Path, lat: dict[str, list[float]]) -> bool:
    fig, ax = plt.subplots(figsize=(6, 4))
    names = ["floor", "near", "redis"]
    labels = ["in-process floor", "near hit", "Redis-tier hit"]
    for name, label, color in zip(names, labels, ("grey", "C2", "C0"), strict=True):
        ax.bar(label, statistics.median(lat[name]) * 1e6, color=color, label=label)
    ax.legend()
    ax.set_yscale("log")
    ax.set_ylabel("median time per hit (µs, log scale)")
    ax.set_title("cachefresh cached_get hit latency")
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


def delay(path: Path, seen: list[float]) -> bool:
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.hist([s * 1e3 for s in seen], bins=30, color="C1", label=f"{len(seen)} writes")
    ax.set_xlabel("delay from commit to seen by another process (ms)")
    ax.set_ylabel("writes")
    ax.set_title("Cross-process invalidation delay (loopback)")
    ax.legend()
    fig.tight_layout()
    return save(fig, path)


def draw(
    folder: Path,
    lat: dict[str, list[float]],
    labels: dict[str, str],
    targets: list[dict[str, Any]],
    tput: dict[tuple[int, bool], float],
    seen: list[float],
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    latency(folder / "near-latency.png", lat)
    throughput(folder / "near-throughput.png", tput)
    delay(folder / "near-delay.png", seen)
