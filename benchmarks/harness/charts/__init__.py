"""PNG charts of one run (matplotlib, Agg backend: no display needed).

Each chart is drawn from the run's JSON document alone by a module of its own; the shared
look (fonts a reader can read at 100 %, colours, how a missed target is marked) is in
:mod:`benchmarks.harness.charts.style`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.harness.charts import (
    asynchits,
    dblog,
    growth,
    latency,
    lookups,
    near,
    near_cluster,
    refresh,
    speed,
    throughput,
)

CHARTS = {
    "refresh_by_strategy.png": refresh.draw,
    "latency_winners.png": latency.draw,
    "throughput.png": throughput.draw,
    "growth.png": growth.draw,
    "near-latency.png": near.draw_latency,
    "near-throughput.png": near.draw_throughput,
    "near-delay.png": near.draw_delay,
    "lookups.png": lookups.draw,
    "near-cluster-latency.png": near_cluster.draw_latency,
    "near-cluster-throughput.png": near_cluster.draw_throughput,
    "near-cluster-delay.png": near_cluster.draw_delay,
    "dblog.png": dblog.draw,
    "speed-targets.png": speed.draw,
    "async-hits.png": asynchits.draw_hits,
    "async-http.png": asynchits.draw_http,
}


def draw(doc: dict[str, Any], out_dir: Path) -> list[str]:
    """Draw every chart the run has data for; the file names drawn."""
    return [name for name, chart in CHARTS.items() if chart(doc, out_dir / name)]
