"""The report's tables of facts: what scenarios measured that is not a time per call.

One function per kind of fact (by its name), each turning a scenario's facts into Markdown
lines; every number goes through :mod:`benchmarks.harness.units`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benchmarks.harness.units import rate, ratio, seconds, sig3, size, span

Facts = list[dict[str, Any]]


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def _sizes(facts: Facts) -> list[str]:
    rows = [
        [
            f["backend"],
            f["model"],
            size(f["cachefresh_entry"]),
            size(f["pickled_instance"]),
            ratio(f["cachefresh_entry"] / f["pickled_instance"]),
        ]
        for f in facts
    ]
    header = ["backend", "model", "cachefresh entry", "pickled instance", "entry / pickle"]
    return ["Bytes per cached row (mean over the hot rows):", "", *table(header, rows)]


def _throughput(facts: Facts) -> list[str]:
    rows = [
        [
            f["backend"],
            f["variant"],
            str(f["processes"]),
            rate(f["ops_per_s"]),
            span(rate(f["min_ops_per_s"]), rate(f["max_ops_per_s"])),
            rate(f["ops_per_s"] / f["processes"]),
        ]
        for f in facts
    ]
    header = ["backend", "variant", "processes", "median", "min to max", "per process"]
    return [
        "Throughput, all processes together (median over shuffled rounds):",
        "",
        *table(header, rows),
    ]


def _storm(facts: Facts) -> list[str]:
    rows = []
    for f in facts:
        s = f["settings"]
        rows.append(
            [
                f["library"],
                f"{s['writers']} writers, {s['readers']} readers "
                f"({s.get('atomic_readers', 0)} in atomic())",
                f"{sig3(s['db_latency_ms'])} ms, writers {sig3(s['writer_db_latency_ms'])} ms",
                f"{f['row_episodes']:,}",
                f"{f['writes']:,}",
                f"{f['reads']:,}",
                f"**{f['stale']:,}**",
                seconds(f["duration"]),
            ]
        )
    header = ["library", "processes", "database latency (one way)", "row-episodes", "writes"]
    lines = ["Stale-set storm (rows left stale once writes stop):", ""]
    lines += table([*header, "reads", "stale rows", "duration"], rows)
    for f in facts:
        for example in f["stale_examples"][:2]:
            lines.append(
                f"- {f['library']}, episode {example['episode']}, row {example['pk']}: cached "
                f"{tuple(example['cached'])}, committed {tuple(example['committed'])}"
            )
    return [*lines, ""] if any(f["stale_examples"] for f in facts) else lines


def _herd(facts: Facts) -> list[str]:
    rows = [
        [
            f["library"],
            f"{f['readers']} readers in {f['processes']} processes",
            ", ".join(str(q) for q in f["queries"]),
            f"**{f['max_queries']}**",
            seconds(f["median_wait"]),
            seconds(f["max_wait"]),
        ]
        for f in facts
    ]
    header = ["library", "readers", "queries per round", "worst round", "median wait"]
    return [
        "Thundering herd (database queries for one cold row read at one instant):",
        "",
        *table([*header, "longest wait"], rows),
    ]


def _near_throughput(facts: Facts) -> list[str]:
    rows = [
        [
            str(f["processes"]) + (f", {f['on']}" if "on" in f else ""),
            rate(f["near_off"], "hits"),
            rate(f["near_on"], "hits"),
            ratio(f["near_on"] / f["near_off"]),
        ]
        for f in facts
    ]
    header = ["processes", "near cache off", "near cache on", "on / off"]
    window = seconds(facts[0]["window_s"])
    return [
        f"`cached_get` hit throughput, all processes together ({window} per count and state):",
        "",
        *table(header, rows),
    ]


def _delays(facts: Facts) -> list[str]:
    rows = [
        [
            f["backend"],
            f.get("variant", f["group"]),
            f"{f['writes']:,}",
            seconds(f["median_s"]),
            seconds(f["p99_s"]),
            seconds(f["max_s"]),
        ]
        for f in facts
    ]
    title = facts[0]["group"]
    return [f"Delay, {title}:", "", *table(["backend", "", "writes", "median", "p99", "max"], rows)]


def _cluster_ratio(facts: Facts) -> list[str]:
    rows = [
        [str(f["processes"]), f["near"], ratio(f["median"]), span(ratio(f["min"]), ratio(f["max"]))]
        for f in facts
    ]
    header = ["processes", "near cache", "cluster / one Redis (median)", "range"]
    return ["Throughput, the cluster's over one Redis, window by window:", "", *table(header, rows)]


def _near_memory(facts: Facts) -> list[str]:
    return [
        f"Memory per row held in the near tier: {size(f['bytes_per_row'])} "
        f"({f['rows']} rows of {f['model']}, tracemalloc)."
        for f in facts
    ] + [""]


def _prefetch(facts: Facts) -> list[str]:
    rows, unserved = [], []
    for f in facts:
        tier = f.get("near_tier")
        served = ""
        if tier:
            served = (
                f"held {tier['held']} rows; served {tier['near_hit']:,} of {tier['hit']:,} hits "
                f"({tier['near_miss']:,} near misses)"
            )
            if tier["near_miss"] or tier["near_hit"] != tier["hit"]:
                unserved.append(f["group"])
        rows.append(
            [f["group"], str(f["queries"]), str(f["django_queries"]), str(f["cache_reads"]), served]
        )
    header = ["prefetch", "queries, warm prefetch_cached", "Django's", "cache round trips"]
    lines = [
        "One warm call of each, on 100 posts; prefetch times exclude building the posts "
        "(built before each round's timed loop; their cost is the `building 100 posts` line):",
        "",
        *table([*header, "near tier during the rounds"], rows),
    ]
    for group in unserved:
        lines += [
            f"**The tier did not serve every row of the {group} rounds: their figure "
            "mixes in Redis hits.**",
            "",
        ]
    return lines


def _commits(facts: Facts) -> list[str]:
    rows = [
        [
            f["backend"],
            f["variant"],
            rate(f["commits_per_s"], "commits"),
            span(rate(f["min_commits_per_s"], "commits"), rate(f["max_commits_per_s"], "commits")),
        ]
        for f in facts
    ]
    title = f"Commit throughput of {facts[0]['writers']} writer processes, single-row UPDATEs"
    return [
        f"{title} (median over shuffled rounds):",
        "",
        *table(["backend", "", "median", "range"], rows),
    ]


def _listener(facts: Facts) -> list[str]:
    rows = [
        [
            f["backend"],
            f"{f['backlog']:,} log rows, {len(f['samples'])} rounds",
            rate(f["rows_per_s"], "rows"),
            span(rate(f["min_rows_per_s"], "rows"), rate(f["max_rows_per_s"], "rows")),
        ]
        for f in facts
    ]
    return [
        "One listener retiring a backlog:",
        "",
        *table(["backend", "backlog", "median", "range"], rows),
    ]


def _runtests(facts: Facts) -> list[str]:
    rows = [
        [
            str(f["returncode"]),
            f"{len(f['labels'])} labels",
            f["summary"] or "-",
            ", ".join(f"{k} {v:,}" for k, v in f["strategies"].items()) or "-",
            f"`{f['log']}`",
        ]
        for f in facts
    ]
    header = ["exit status", "labels", "runtests.py says", "smart_refresh strategies", "log"]
    return table(header, rows)


def _asgi(facts: Facts) -> list[str]:
    rows = [
        [
            f["variant"],
            rate(f["requests_per_s"], "requests"),
            span(rate(min(f["rates"]), "requests"), rate(max(f["rates"]), "requests")),
            seconds(f["median_s"]),
            seconds(f["p99_s"]),
        ]
        for f in facts
    ]
    first = facts[0]
    title = (
        f"Hits over HTTP: uvicorn, {first['workers']} worker, {first['in_flight']} requests in "
        f"flight, {first['requests']:,} requests a variant over {len(first['rates'])} rounds"
    )
    header = ["", "median of rounds", "range of rounds", "latency median", "latency p99"]
    return [f"{title}:", "", *table(header, rows)]


#: What a fact records besides its figures.
_ABOUT = ("scenario", "backend", "name", "group")


def _hops(facts: Facts) -> list[str]:
    rows = [[k, f"{v:g}"] for fact in facts for k, v in fact.items() if k not in _ABOUT]
    title = "Thread hops per hit (the event loop's executor, counted):"
    return [title, "", *table(["", "hops"], rows)]


FACT_TABLES: dict[str, Callable[[Facts], list[str]]] = {
    "bytes per cached row": _sizes,
    "throughput": _throughput,
    "storm": _storm,
    "herd": _herd,
    "near throughput": _near_throughput,
    "near throughput, cluster / one Redis": _cluster_ratio,
    "near delay": _delays,
    "near memory": _near_memory,
    "prefetch": _prefetch,
    "commits": _commits,
    "listener": _listener,
    "commit to fresh": _delays,
    "runtests": _runtests,
    "thread hops per hit": _hops,
    "ASGI hits over loopback": _asgi,
}


def facts(doc: dict[str, Any], scenario: str) -> list[str]:
    lines: list[str] = []
    for name, render_facts in FACT_TABLES.items():
        found = [f for f in doc["facts"] if f["scenario"] == scenario and f["name"] == name]
        if found:
            lines += render_facts(found)
    return lines
