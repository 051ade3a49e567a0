"""How much each mode measures: --tiny (the harness's own test), --quick (default), --full."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from benchmarks.harness.timing import Plan


@dataclass(frozen=True)
class Mode:
    name: str
    plan: Plan
    #: Fewer rounds where one call costs milliseconds (injected latency).
    slow_plan: Plan
    narrow_rows: int
    wide_rows: int
    #: How many distinct rows a measurement cycles through.
    hot_rows: int
    growth_sizes: tuple[int, ...]
    batch_sizes: tuple[int, ...]
    processes: tuple[int, ...]
    #: One timed window of the throughput workers, and how many shuffled rounds of them.
    throughput_seconds: float
    throughput_rounds: int
    delays_ms: tuple[float, ...]
    herd_readers: int
    #: Whether the storm and the herd also run for the peers (each run spawns a crew).
    load_peers: bool
    storm_episodes: int
    #: ``--rounds``: the rounds of every interleaved measurement, when given.
    rounds: int | None = None


MODES = {
    "tiny": Mode(
        name="tiny",
        plan=Plan(rounds=3, warmup=3, batch_ns=200_000, max_batch=50),
        slow_plan=Plan(rounds=2, warmup=10, batch_ns=200_000),
        narrow_rows=120,
        wide_rows=110,
        hot_rows=4,
        growth_sizes=(200,),
        batch_sizes=(1, 10),
        processes=(1, 2),
        throughput_seconds=0.1,
        throughput_rounds=2,
        delays_ms=(0.0, 1.0),
        herd_readers=4,
        load_peers=False,
        storm_episodes=3,
    ),
    "quick": Mode(
        name="quick",
        # Many short rounds rather than a few long ones: on a shared machine the other work
        # comes in bursts, and a burst then spoils a few rounds, whose ratios the median drops.
        plan=Plan(rounds=61, warmup=20, batch_ns=1_500_000),
        slow_plan=Plan(rounds=21, warmup=15, batch_ns=1_000_000),
        narrow_rows=2000,
        wide_rows=200,
        hot_rows=16,
        growth_sizes=(1_000, 10_000),
        batch_sizes=(1, 10, 100),
        processes=(1, 2, 4),
        throughput_seconds=0.2,
        throughput_rounds=4,
        delays_ms=(0.0, 0.5, 2.0),
        herd_readers=32,
        load_peers=True,
        storm_episodes=20,
    ),
    "full": Mode(
        name="full",
        plan=Plan(rounds=40, warmup=50, batch_ns=5_000_000),
        slow_plan=Plan(rounds=15, warmup=20, batch_ns=5_000_000),
        narrow_rows=10_000,
        wide_rows=1000,
        hot_rows=64,
        growth_sizes=(1_000, 10_000, 100_000, 1_000_000),
        batch_sizes=(1, 10, 100, 1000),
        processes=(1, 2, 3, 4),
        throughput_seconds=0.5,
        throughput_rounds=15,
        delays_ms=(0.0, 0.5, 1.0, 2.0, 5.0),
        herd_readers=32,
        load_peers=True,
        storm_episodes=60,
    ),
}


def with_rounds(mode: Mode, rounds: int) -> Mode:
    """``mode`` with ``rounds`` rounds in every interleaved measurement (``--rounds``): the
    plans, the throughput rounds, and the scenarios that run in a process of their own."""
    return dataclasses.replace(
        mode,
        plan=dataclasses.replace(mode.plan, rounds=rounds),
        slow_plan=dataclasses.replace(mode.slow_plan, rounds=rounds),
        throughput_rounds=rounds,
        rounds=rounds,
    )
