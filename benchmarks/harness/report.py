"""The Markdown report of one run, built from its JSON document alone."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from benchmarks.scenarios import SCENARIOS


def us(ns: float) -> str:
    value = ns / 1000
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def verdict(target: dict[str, Any]) -> str:
    if target["bound"] == "(peer)":
        return "(peer)"
    return {True: "met", False: "NOT met", None: "not measured"}[target["met"]]


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def targets_table(targets: list[dict[str, Any]]) -> list[str]:
    rows = []
    for t in targets:
        measured = t["measured"]
        shown = (
            "-"
            if measured is None
            else (f"{measured:.2f}x" if isinstance(measured, float) else str(measured))
        )
        rows.append([t["target"], t["bound"], t["where"], shown, verdict(t), t.get("note", "")])
    return _table(["target", "bound", "where", "measured", "verdict", "note"], rows)


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
            picked = item.get("auto_picked") if item["variant"] == "auto" else None
            note = ", ".join(f"{k} {v}" for k, v in picked.items()) if picked else ""
            rows.append(
                [
                    backend,
                    group,
                    item["variant"],
                    us(item["median_ns"]),
                    f"{us(item['q1_ns'])}-{us(item['q3_ns'])}",
                    f"{us(item['min_ns'])}-{us(item['max_ns'])}",
                    f"{item['median_ns'] / best:.2f}x",
                    note,
                ]
            )
    return _table(
        [
            "backend",
            "group",
            "variant",
            "median us",
            "IQR us",
            "min-max us",
            "vs fastest",
            "auto picked",
        ],
        rows,
    )


def _ratio_table(doc: dict[str, Any], scenario: str) -> list[str]:
    rows = [
        [
            r["backend"],
            r["group"],
            f"{r['numerator']} / {r['denominator']}",
            f"{r['median']:.2f}x",
            f"{r['q1']:.2f}-{r['q3']:.2f}",
            r.get("how", "paired by round"),
        ]
        for r in doc["ratios"]
        if r["scenario"] == scenario
    ]
    if not rows:
        return []
    return _table(["backend", "group", "ratio", "median", "IQR", "how"], rows)


def _facts(doc: dict[str, Any], scenario: str) -> list[str]:
    facts = [f for f in doc["facts"] if f["scenario"] == scenario]
    if not facts:
        return []
    lines = []
    sizes = [f for f in facts if f["name"] == "bytes per cached row"]
    if sizes:
        lines += ["Bytes per cached row:", ""]
        lines += _table(
            ["backend", "model", "cachefresh entry", "pickled instance", "ratio"],
            [
                [
                    f["backend"],
                    f["model"],
                    f"{f['cachefresh_entry']:,.0f}",
                    f"{f['pickled_instance']:,.0f}",
                    f"{f['cachefresh_entry'] / f['pickled_instance']:.2f}x",
                ]
                for f in sizes
            ],
        )
    throughput = [f for f in facts if f["name"] == "throughput"]
    if throughput:
        lines += ["Throughput (all processes together):", ""]
        lines += _table(
            ["backend", "variant", "processes", "calls/s"],
            [
                [f["backend"], f["variant"], str(f["processes"]), f"{f['ops_per_s']:,.0f}"]
                for f in throughput
            ],
        )
    for name in ("storm", "herd"):
        found = [f for f in facts if f["name"] == name]
        if found:
            keys = [k for k in found[0] if k not in ("scenario", "backend", "name")]
            lines += [f"{name.capitalize()}:", ""]
            lines += _table(keys, [[str(f.get(k, "")) for k in keys] for f in found])
    return lines


def render(doc: dict[str, Any], charts: list[str]) -> str:
    machine, versions, settings = doc["machine"], doc["versions"], doc["settings"]
    lines = [
        "# cachefresh benchmark report",
        "",
        f"Run {doc['started']} ({doc['duration_s']} s), mode **{settings['mode']}**, "
        f"seed {settings['seed']}, commit {versions.get('git_commit')}.",
        f"Machine: {machine.get('cpu_model', machine['processor'])}, {machine['cpus']} CPUs, "
        f"{machine['platform']}, Python {machine['python']}; load average at start "
        f"{machine.get('load_average')}.",
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
        "is taken round by round (variants interleaved), then its median reported.",
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
            + _facts(doc, scenario.name)
        )
        if body:
            lines += [f"## {scenario.number}. {scenario.title}", "", *body]
    if charts:
        lines += ["## Charts", ""] + [f"![{name}]({name})" for name in charts] + [""]
    return "\n".join(lines)
