"""The benchmark harness runs end to end in its --tiny mode and writes what it promises.

It runs as a subprocess: the harness configures its own Django (settings.configure()), which
cannot happen inside this already configured test process. No test here asserts a time. A run
needs rich and matplotlib (and, with the servers, the peers): the bench extra.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from tests.support.servers import require_bench, require_servers

ROOT = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TOP_KEYS = {
    "schema",
    "started",
    "duration_s",
    "machine",
    "versions",
    "settings",
    "backends",
    "measurements",
    "ratios",
    "facts",
    "targets",
    "skipped",
}
MEASUREMENT_KEYS = {
    "scenario",
    "backend",
    "group",
    "variant",
    "median_ns",
    "q1_ns",
    "q3_ns",
    "min_ns",
    "max_ns",
    "rounds",
    "batch",
    "samples_ns",
}


def bench(out: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--tiny", "--output", str(out), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done, json.loads((out / "results.json").read_text())


def check_document(doc: dict, pairs: set[str]) -> None:
    assert set(doc) >= TOP_KEYS
    assert {"python", "cpus", "platform"} <= set(doc["machine"])
    assert doc["versions"]["Django"]
    assert doc["settings"]["mode"] == "tiny" and doc["settings"]["seed"] == 1
    assert set(doc["backends"]["ran"]) == pairs
    for record in doc["measurements"]:
        assert set(record) >= MEASUREMENT_KEYS
        assert record["backend"] and record["rounds"] == len(record["samples_ns"]) > 0
        assert record["min_ns"] <= record["q1_ns"] <= record["median_ns"] <= record["q3_ns"]
        assert record["q3_ns"] <= record["max_ns"]
    measured = {(m["scenario"], m["backend"]) for m in doc["measurements"]}
    for pair in pairs:
        for scenario in ("refresh", "read", "floors", "growth"):
            assert (scenario, pair) in measured, (scenario, pair)
    for ratio in doc["ratios"]:
        assert ratio["q1"] <= ratio["median"] <= ratio["q3"]
    variants = {m["variant"] for m in doc["measurements"] if m["scenario"] == "refresh"}
    assert {"refresh_from_db", "cache", "full", "columns", "auto"} <= variants
    assert {t["target"] for t in doc["targets"]} >= {
        "cached_get hit / redis-py floor",
        "columns / raw cursor",
        "auto / best fixed strategy",
        "herd: queries for one cold row",
        "storm: stale rows after writes stop",
    }
    throughput = [f for f in doc["facts"] if f["name"] == "throughput"]
    assert {f["processes"] for f in throughput} == {1, 2}
    assert all(f["operations"] > 0 for f in throughput)
    sizes = [f for f in doc["facts"] if f["name"] == "bytes per cached row"]
    assert {f["model"] for f in sizes} == {"narrow", "wide"}


def check_files(out: Path, charts: set[str]) -> None:
    report = (out / "report.md").read_text()
    assert report.startswith("# cachefresh benchmark report")
    for heading in ("## Backends", "## Targets", "## 1. Refresh", "## 3. Floors", "## 6. Growth"):
        assert heading in report
    for name in charts:
        assert (out / name).read_bytes().startswith(PNG_MAGIC), name
        assert f"]({name})" in report


def test_help_lists_the_options():
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    for option in (
        "--scenarios",
        "--quick",
        "--full",
        "--backends",
        "--peers",
        "--latency-ms",
        "--output",
        "--seed",
        "--database-url",
        "--redis-url",
    ):
        assert option in done.stdout


def test_unknown_scenario_is_refused(tmp_path):
    require_bench("rich")
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "-s", "9", "-o", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and "unknown scenario" in done.stdout


def test_embedded_backends_only(tmp_path):
    require_bench("rich", "matplotlib")
    done, doc = bench(tmp_path, "--backends", "sqlite", "--no-peers")
    check_document(doc, {"sqlite+locmem"})
    assert "not selected" in doc["backends"]["skipped"]["postgres+redis"]
    assert "skipping postgres+redis" in done.stdout
    check_files(tmp_path, {"refresh_by_strategy.png", "throughput.png", "growth.png"})


@pytest.mark.servers
def test_with_servers_and_peers(tmp_path):
    require_servers()
    require_bench("rich", "matplotlib", "cacheops", "cachalot")
    # The embedded pair is covered above; here the server pair alone, to keep the file fast.
    _, doc = bench(tmp_path, "--backends", "postgres")
    check_document(doc, {"postgres+redis"})
    check_files(
        tmp_path,
        {
            "refresh_by_strategy.png",
            "latency_winners.png",
            "throughput.png",
            "growth.png",
            "near-latency.png",
            "near-throughput.png",
            "near-delay.png",
            "lookups.png",
            "async-hits.png",
            "async-http.png",
        },
    )
    # The scenarios that run in a process of their own joined the run's results and report.
    measured = {m["scenario"] for m in doc["measurements"]}
    assert {"near", "lookups", "dblog", "async"} <= measured
    report = (tmp_path / "report.md").read_text()
    headings = ("## Near cache", "## Unique lookups", "## The invalidation log", "## Native async")
    for heading in headings:
        assert heading in report
    floors = {m["variant"] for m in doc["measurements"] if m["backend"] == "postgres+redis"}
    assert {"redis-py GET + decode + from_db", "raw cursor", "dict + from_db"} <= floors
    peers = [m for m in doc["measurements"] if m.get("peer")]
    assert {m["peer"] for m in peers} == {"cacheops", "cachalot"}
    assert all(m["queries_per_hit"] == 0 for m in peers)  # they were measured on real hits
    latency = {
        (m["db_delay_ms"], m["cache_delay_ms"])
        for m in doc["measurements"]
        if m["scenario"] == "latency"
    }
    assert {(0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (1.0, 1.0), (1.0, None)} <= latency
    load = {(f["name"], f["library"]) for f in doc["facts"] if f["scenario"] == "load"}
    assert {("storm", "cachefresh"), ("herd", "cachefresh")} <= load
    # The run gave back what it took: no key under its prefix, its own database dropped.
    run_id = doc["settings"]["run_id"]
    client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    assert not list(client.scan_iter(match=f"*{run_id}*", count=1000))
    assert not list(
        redis.Redis.from_url("redis://127.0.0.1:6379/14").scan_iter(match=f"*{run_id}*", count=1000)
    )
    note = doc["backends"]["ran"]["postgres+redis"]
    if "own database" in note:
        import psycopg

        name = note.split("own database ", 1)[1].split(",", 1)[0]
        with psycopg.connect(host="127.0.0.1", user="postgres", dbname="test") as conn:
            found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchall()
        assert not found


def test_scenarios_are_selected_by_number_name_or_set():
    from benchmarks.scenarios import SCENARIOS, select

    default = [s.name for s in select("")]
    assert default == [s.name for s in select("default")]
    assert default[:7] == ["refresh", "read", "floors", "latency", "load", "growth", "net"]
    assert {"near", "lookups", "dblog", "async"} <= set(default)
    assert "django_suite" not in default
    assert [s.name for s in select("all")] == [s.name for s in SCENARIOS]
    assert [s.name for s in select("near,1,refresh")] == ["refresh", "near"]


def test_ratios_are_paired_round_by_round():
    from benchmarks.harness.stats import paired_ratio, summarize

    # Round 2 is slow for both variants (machine noise): paired, the ratio stays exactly 2.
    fast = summarize([10.0, 100.0, 10.0, 10.0, 10.0], batch=1)
    slow = summarize([20.0, 200.0, 20.0, 20.0, 20.0], batch=1)
    ratio = paired_ratio(slow, fast)
    assert ratio["median"] == ratio["min"] == ratio["max"] == 2.0


def test_target_verdicts_follow_their_bounds():
    from benchmarks.harness.results import Results
    from benchmarks.harness.targets import evaluate

    results = Results(settings={})
    floor = "redis-py GET + decode + from_db"
    for group, value in (("narrow", 1.2), ("wide", 1.3)):
        results.ratio(
            "floors",
            "postgres+redis",
            group,
            "cached_get() hit",
            floor,
            {"median": value, "q1": value, "q3": value, "min": value, "max": value},
        )
    results.ratio(
        "floors",
        "postgres+redis",
        "narrow",
        "cacheops hit",
        "cached_get() hit",
        {"median": 5.0, "q1": 5.0, "q3": 5.0, "min": 5.0, "max": 5.0},
        paired=False,
        how="bridged",
    )
    results.fact("load", "postgres+redis", "herd", library="cachefresh", max_queries=3)
    results.fact("load", "postgres+redis", "herd", library="cacheops", max_queries=30)
    results.fact("load", "postgres+redis", "storm", library="cachefresh", stale=0)
    results.skip("floors", "cachalot on postgres+redis", "django-cachalot is not installed")
    verdicts = {(t["target"], t["where"]): t["met"] for t in evaluate(results)}
    assert verdicts["cached_get hit / redis-py floor", "postgres+redis: narrow"] is True
    assert verdicts["cached_get hit / redis-py floor", "postgres+redis: wide"] is False
    assert verdicts["cacheops hit / cached_get hit", "postgres+redis: narrow"] is True
    assert verdicts["herd: queries for one cold row", "postgres+redis: cachefresh"] is False
    assert verdicts["herd: queries for one cold row", "postgres+redis: cacheops"] is None
    assert verdicts["storm: stale rows after writes stop", "postgres+redis: cachefresh"] is True
    # The prefetch bound depends on the tier: 3x with the near cache off, 5x with it on.
    for near in ("near off", "near on"):
        results.ratio(
            "lookups",
            "postgres+redis",
            f"prefetch 100 posts, {near}",
            "prefetch_related_objects",
            "prefetch_cached",
            {"median": 4.0, "q1": 4.0, "q3": 4.0, "min": 4.0, "max": 4.0},
        )
    prefetch = {
        t["target"]: t["met"] for t in evaluate(results) if "prefetch_cached's" in t["target"]
    }
    assert prefetch == {
        "prefetch_related_objects time / prefetch_cached's, near off": True,
        "prefetch_related_objects time / prefetch_cached's, near on": False,
    }
    unmeasured = [t for t in evaluate(results) if t["target"] == "cachalot hit / cached_get hit"]
    assert unmeasured[0]["met"] is None and "not installed" in unmeasured[0]["note"]


def test_near_bench_targets_pair_rounds_and_follow_their_bounds():
    from benchmarks.scenarios.near import verdicts

    # Round 2 is slow for every variant (machine noise): per-round ratios are not moved by it.
    lat = {
        "floor": [1.0, 10.0, 1.0],
        "near": [2.0, 20.0, 2.0],  # 2x the floor: on the bound (issue 22's), met
        "redis": [20.0, 200.0, 20.0],
        "cacheops": [40.0, 400.0, 40.0],  # 20x a near hit: on the bound, met
        "cachalot": [38.0, 380.0, 38.0],  # 19x: missed
    }
    got = {(t["numerator"], t["denominator"]): (t["ratio"], t["met"]) for t in verdicts(lat)}
    assert got == {
        ("near", "floor"): (2.0, True),
        ("cacheops", "near"): (20.0, True),
        ("cachalot", "near"): (19.0, False),
    }
    lat["near"] = [2.5, 20.0, 2.5]  # now over 2x the floor, and under 20x for cacheops
    assert [t["met"] for t in verdicts(lat)] == [False, False, False]


def test_near_latency_chart_draws_every_variant(tmp_path):
    require_bench("matplotlib")
    from benchmarks.harness.charts import near
    from benchmarks.scenarios.near import LABELS, verdicts

    lat = {name: [1e-6 * (index + 1)] * 3 for index, name in enumerate(LABELS)}
    path = tmp_path / "near-latency.png"
    assert near.latency(path, lat, LABELS, verdicts(lat))
    assert path.read_bytes().startswith(PNG_MAGIC)


def test_speed_targets_chart_judges_every_run_by_issue_22s_bounds(tmp_path):
    require_bench("matplotlib")
    from benchmarks.harness.charts import speed

    def run(near: float) -> dict:
        # A run from before the bounds moved: its own verdict said met (3x), the chart's not.
        row = {"target": "near hit / in-process floor", "where": "postgres+redis: hit latency"}
        return {"targets": [{**row, "measured": near, "met": True, "bound": "<= 3x"}]}

    found = speed.rows_of([run(1.8), run(2.4)])
    assert [len(rows) for rows in found.values()] == [2]
    path = tmp_path / "speed-targets.png"
    assert speed.draw_runs([run(1.8), run(2.4)], path)
    assert path.read_bytes().startswith(PNG_MAGIC)
    assert not speed.draw_runs([{"targets": []}], tmp_path / "none.png")


def test_near_cluster_charts_and_tables_draw_from_a_run(tmp_path):
    """The near_cluster scenario's charts and report tables, from a document shaped as its
    records are (the scenario itself needs a private cluster: run it with -s near_cluster)."""
    require_bench("matplotlib")
    from benchmarks.harness import stats, tables
    from benchmarks.harness.charts import near_cluster
    from benchmarks.scenarios.near_cluster import BACKENDS, GROUP, LABELS, NAME

    doc = {
        "measurements": [
            {"scenario": NAME, "group": GROUP, "variant": label, "samples_ns": [1e4 * (i + 1)] * 3}
            for i, label in enumerate(LABELS.values())
        ],
        "ratios": [
            {
                "scenario": NAME,
                "numerator": LABELS["cluster", v],
                "median": 1.5,
                "denominator": LABELS["single", v],
            }
            for v in ("near", "redis")
        ],
        "facts": [
            {
                "scenario": NAME,
                "name": "near throughput",
                "processes": p,
                "on": backend,
                "near_off": 4e3,
                "near_on": 5e4,
                "window_s": 2.0,
            }
            for p in (1, 2, 4)
            for backend in BACKENDS.values()
        ]
        + [
            {
                "scenario": NAME,
                "name": "near throughput, cluster / one Redis",
                "processes": 1,
                "near": "on",
                "median": 1.1,
                "min": 0.9,
                "max": 1.3,
            },
            {
                "scenario": NAME,
                "name": "near delay",
                "backend": "postgres+redis",
                "group": "g",
                "variant": "near cache",
                **stats.delays([0.01, 0.012, 0.02]),
            },
        ],
    }
    for name, draw in (
        ("near-cluster-latency.png", near_cluster.draw_latency),
        ("near-cluster-throughput.png", near_cluster.draw_throughput),
        ("near-cluster-delay.png", near_cluster.draw_delay),
    ):
        assert draw(doc, tmp_path / name), name
        assert (tmp_path / name).read_bytes().startswith(PNG_MAGIC)
    text = "\n".join(tables.facts(doc, NAME))
    assert "| 4, 3-primary cluster | 4,000 hits/s | 50,000 hits/s |" in text
    assert "cluster / one Redis (median)" in text
