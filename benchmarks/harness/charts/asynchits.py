"""The native async hits' charts (:mod:`benchmarks.scenarios.async`), drawn from the run's
document.

* ``async-hits.png``: time per hit of 1,000 hits gathered at once, on the event loop against
  through ``sync_to_async`` and against the sync hit, by pk and, beside it, by a unique field;
  each ratio to the sync hit over its bar, the target's verdict on ``acached_get``'s by pk, and
  the thread hops per hit under each name;
* ``async-http.png``: the ASGI app under uvicorn: requests per second (median and range of
  the rounds) and latency median and p99, per view.
"""

from __future__ import annotations

import importlib
import statistics
from pathlib import Path
from typing import Any

from benchmarks.harness.charts.style import MISSED, missed_patch, plt, save
from benchmarks.harness.stats import paired, quartiles
from benchmarks.harness.targets import RATIO_TARGETS
from benchmarks.harness.units import bound, ratio, sig3

#: Colour-blind-safe (Okabe and Ito), as the suite's other charts.
COLOURS = {
    "sync": "#999999",
    "native": "#009E73",
    "thread": "#D55E00",
    "bare_native": "#56B4E9",
    "bare_thread": "#E69F00",
    "one_by_one": "#56B4E9",
}


#: The HTTP variants, named under their bars.
SHORT = {
    "native": "Django view,\nacached_get",
    "thread": "Django view,\nsync_to_async\n(before)",
    "bare_native": "bare ASGI,\nacached_get",
    "bare_thread": "bare ASGI,\nsync_to_async\n(before)",
}


def _scenario() -> Any:
    # "async" is a keyword: the module is reached by name only.
    return importlib.import_module("benchmarks.scenarios.async")


def draw_hits(doc: dict[str, Any], path: Path) -> bool:
    scenario = _scenario()
    panels = [
        (group, labels, title, _latencies(doc, scenario.NAME, group, labels))
        for group, labels, title in (
            (scenario.GROUP, scenario.LABELS, "by pk"),
            (scenario.BY_CODE, scenario.CODE_LABELS, "by a unique field (code=…)"),
        )
    ]
    panels = [panel for panel in panels if "sync" in panel[3]]
    if not panels:
        return False
    target = next(t for t in RATIO_TARGETS if t.scenario == scenario.NAME)
    fig, axes = plt.subplots(
        1, len(panels), figsize=(7 + 4 * len(panels), 5.6), squeeze=False,
        gridspec_kw={"width_ratios": [len(panel[3]) for panel in panels]},
    )  # fmt: skip
    missed = False
    for ax, (group, labels, title, lat) in zip(axes[0], panels, strict=True):
        hops = next(
            (
                f
                for f in doc["facts"]
                if f["scenario"] == scenario.NAME
                and f["name"] == "thread hops per hit"
                and f.get("group") == group
            ),
            {},
        )
        judged = target if group == scenario.GROUP else None
        missed = _panel(ax, lat, labels, hops, judged) or missed
        ax.set_title(title)
    axes[0][0].set_ylabel("time per hit, µs (median of rounds, IQR)")
    rounds = len(panels[0][3]["sync"])
    fig.suptitle(
        f"Redis-tier hits, 1,000 at once with asyncio.gather, and one at a time ({rounds} rounds)"
    )
    if missed:
        axes[0][0].legend(handles=[missed_patch("target missed")], loc="upper left")
    fig.tight_layout()
    return save(fig, path)


def _latencies(
    doc: dict[str, Any], scenario: str, group: str, labels: dict[str, str]
) -> dict[str, list[float]]:
    """Seconds per hit of each round, per variant key, in the order of ``labels``."""
    keys = {label: key for key, label in labels.items()}
    found = {
        keys[m["variant"]]: [ns * 1e-9 for ns in m["samples_ns"]]
        for m in doc["measurements"]
        if m["scenario"] == scenario and m["group"] == group and m["variant"] in keys
    }
    return {key: found[key] for key in labels if key in found}


def _panel(
    ax: Any,
    lat: dict[str, list[float]],
    labels: dict[str, str],
    hops: dict[str, Any],
    target: Any,
) -> bool:
    """One group's bars, each with its ratio to the sync hit; whether ``target`` was missed."""
    top = 0.0
    missed = False
    for x, name in enumerate(lat):
        q1, median, q3 = (q * 1e6 for q in quartiles(lat[name]))
        text = f"{sig3(median)} µs"
        missed_here = False
        if name != "sync":
            value = paired(lat[name], lat["sync"])["median"]
            text += f"\n{ratio(value)} the sync hit"
            if name == "native" and target is not None:
                missed_here = not target.met_when(value, target.bound)
                text += f"\ntarget {bound(target.shown)}: {'missed' if missed_here else 'met'}"
        text += f"\nthread hops per hit: {hops.get(labels[name], 0):g}"
        ax.bar(x, median, 0.6, yerr=[[median - q1], [q3 - median]], color=COLOURS[name],
               **(MISSED if missed_here else {}))  # fmt: skip
        ax.text(x, q3 * 1.04, text, ha="center", va="bottom", fontsize=9)
        top = max(top, q3)
        missed = missed or missed_here
    names = [_wrapped(labels[name]) for name in lat]
    ax.set_xticks(range(len(lat)), names, fontsize=9)
    ax.set_ylim(0, top * 1.6)
    return missed


def _wrapped(label: str) -> str:
    return label.replace(" (", "\n(").replace(", ", ",\n").replace(")(", ")\n(")


def draw_http(doc: dict[str, Any], path: Path) -> bool:
    scenario = _scenario()
    facts = [
        f for f in doc["facts"] if f["scenario"] == scenario.NAME and f["name"] == scenario.HTTP
    ]
    if not facts:
        return False
    keys = {label: key for key, label in scenario.HTTP_LABELS.items()}
    fig, (rates, times) = plt.subplots(1, 2, figsize=(13, 5.2))
    names = [f["variant"] for f in facts]
    for x, fact in enumerate(facts):
        colour = COLOURS[keys[fact["variant"]]]
        low, high = min(fact["rates"]), max(fact["rates"])
        median = statistics.median(fact["rates"])
        rates.bar(x, median, 0.6, yerr=[[median - low], [high - median]], color=colour)
        rates.text(x, high * 1.02, f"{sig3(median)}/s", ha="center", va="bottom")
        for offset, key, hatch in ((-0.18, "median_s", ""), (0.18, "p99_s", "//")):
            value = fact[key] * 1e3
            times.bar(x + offset, value, 0.34, color=colour, hatch=hatch, edgecolor="black")
            times.text(x + offset, value * 1.02, f"{sig3(value)}", ha="center", va="bottom")
    short = [SHORT[keys[name]] for name in names]
    rates.set_xticks(range(len(names)), short)
    rates.set_ylabel("requests per second (median, range of rounds)")
    rates.set_ylim(0, max(max(f["rates"]) for f in facts) * 1.2)
    times.set_xticks(range(len(names)), short)
    times.set_ylabel("latency, ms (plain: median; hatched: p99)")
    times.set_ylim(0, max(f["p99_s"] for f in facts) * 1e3 * 1.2)
    fact = facts[0]
    rounds = len(fact["rates"])
    fig.suptitle(
        f"Hits over HTTP: uvicorn, 1 worker, loopback; {fact['in_flight']} keep-alive "
        f"connections; {fact['requests'] // rounds} requests a variant in each of {rounds} rounds"
    )
    fig.tight_layout()
    return save(fig, path)
