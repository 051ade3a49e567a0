"""The Markdown report of one run, built from its JSON document alone.

Every number is formatted by :mod:`benchmarks.harness.units` (three significant figures and
a unit); a cell without a value shows "—", and its table says why.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from benchmarks.harness.tables import facts, table
from benchmarks.harness.units import MISSING, duration, percent, ratio, seconds, sig3, span
from benchmarks.scenarios import SCENARIOS


def verdict(target: dict[str, Any]) -> str:
    if target["bound"] == "(peer)":
        return "(peer)"
    return {True: "met", False: "NOT met", None: "not measured"}[target["met"]]


def measured(target: dict[str, Any]) -> str:
    value = target["measured"]
    if value is None:
        return MISSING
    if target["unit"] == "x":
        return ratio(value)
    return seconds(value) if target["unit"] == "s" else f"{value:,}"


def targets_table(targets: list[dict[str, Any]]) -> list[str]:
    rows = [
        [t["target"], t["bound"], t["where"], measured(t), verdict(t), t.get("note", "")]
        for t in targets
    ]
    lines = table(["target", "bound", "where", "measured", "verdict", "note"], rows)
    if any(t["measured"] is None for t in targets):
        lines += [f"{MISSING}: not measured in this run; the note says why.", ""]
    return lines


def picks(counts: dict[str, int]) -> str:
    """What "auto" chose, as shares of its calls: "columns 90 %, cache 10 %"."""
    total = sum(counts.values())
    ranked = sorted(counts.items(), key=lambda item: -item[1])
    return ", ".join(f"{name} {percent(count / total)}" for name, count in ranked)


def _measurement_tables(doc: dict[str, Any], scenario: str) -> list[str]:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for m in doc["measurements"]:
        if m["scenario"] == scenario:
            groups[m["backend"], m["group"]].append(m)
    if not groups:
        return []
    rows = []
    for (backend, group), items in groups.items():
        best = min(item["median_ns"] for item in items)
        for item in items:
            auto = item.get("auto_picked") if item["variant"] == "auto" else None
            rows.append(
                [
                    backend,
                    group,
                    item["variant"],
                    duration(item["median_ns"]),
                    span(duration(item["q1_ns"]), duration(item["q3_ns"])),
                    span(duration(item["min_ns"]), duration(item["max_ns"])),
                    ratio(item["median_ns"] / best),
                    picks(auto) if auto else "",
                ]
            )
    header = ["backend", "group", "variant", "median", "IQR", "min to max", "vs fastest"]
    return table([*header, "auto picked"], rows)


def _ratio_table(doc: dict[str, Any], scenario: str) -> list[str]:
    rows = [
        [
            r["backend"],
            r["group"],
            f"{r['numerator']} / {r['denominator']}",
            ratio(r["median"]),
            span(ratio(r["q1"]), ratio(r["q3"])),
            r.get("how", "paired by round"),
        ]
        for r in doc["ratios"]
        if r["scenario"] == scenario
    ]
    if not rows:
        return []
    return table(["backend", "group", "ratio", "median", "IQR", "how"], rows)


def _load(machine: dict[str, Any]) -> str:
    load = machine.get("load_average")
    if not load:
        return "unknown"
    return f"{', '.join(sig3(v) for v in load)} (1, 5, 15 min) on {machine['cpus']} CPUs"


def render(doc: dict[str, Any], charts: list[str]) -> str:
    machine, versions, settings = doc["machine"], doc["versions"], doc["settings"]
    lines = [
        "# cachefresh benchmark report",
        "",
        f"Run {doc['started']} ({seconds(doc['duration_s'])}), mode **{settings['mode']}**, "
        f"seed {settings['seed']}, commit {versions.get('git_commit') or 'unknown'}.",
        f"Machine: {machine.get('cpu_model', machine['processor'])}, {machine['cpus']} CPUs, "
        f"{machine['platform']}, Python {machine['python']}; load average at the start "
        f"{_load(machine)}.",
        "Versions: "
        + ", ".join(f"{k} {v}" for k, v in versions.items() if v and k != "git_commit")
        + ".",
        "",
        "## Backends",
        "",
    ]
    for name, info in doc["backends"].get("ran", {}).items():
        lines.append(f"- ran: **{name}** ({info})")
    for name, why in doc["backends"].get("skipped", {}).items():
        lines.append(f"- skipped: **{name}**: {why}")
    lines += [
        "",
        "## Targets",
        "",
        "Times are medians over rounds; every ratio of variants measured in one process "
        "is taken round by round (variants interleaved, in shuffled order), then its median "
        "reported.",
        "",
    ]
    lines += targets_table(doc["targets"])
    if doc["skipped"]:
        lines += ["## Not measured", ""]
        lines += [f"- {s['scenario']}: {s['what']}: {s['why']}" for s in doc["skipped"]]
        lines.append("")
    for scenario in SCENARIOS:
        body = (
            _measurement_tables(doc, scenario.name)
            + _ratio_table(doc, scenario.name)
            + facts(doc, scenario.name)
        )
        if body:
            lines += [f"## {scenario.heading}", "", *body]
    if charts:
        lines += ["## Charts", ""] + [f"![{name}]({name})" for name in charts] + [""]
    return "\n".join(lines)
