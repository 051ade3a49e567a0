"""Measuring: warm-up, repeated rounds, variants interleaved, medians with their spread.

Variants compared with each other are measured in one call: every round runs each of them once
(a batch of calls), in an order shuffled by the seeded generator, so that whatever the machine
does meanwhile hits all of them alike. Ratios are then taken round by round.
"""

from __future__ import annotations

import gc
import random
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Op = Callable[[], Any]


@dataclass(frozen=True)
class Plan:
    """How hard to measure: rounds after warm-up, and the wall time one batch aims at."""

    rounds: int
    warmup: int
    batch_ns: int
    max_batch: int = 2000


@dataclass(frozen=True)
class Variant:
    op: Op
    #: Run before each call, untimed (for example: make the next call a miss).
    setup: Op | None = None


def _single(variant: Variant) -> int:
    if variant.setup is not None:
        variant.setup()
    start = time.perf_counter_ns()
    variant.op()
    return time.perf_counter_ns() - start


def _batch(variant: Variant, size: int) -> float:
    """Nanoseconds per call over ``size`` calls."""
    op, setup = variant.op, variant.setup
    if setup is None:
        start = time.perf_counter_ns()
        for _ in range(size):
            op()
        return (time.perf_counter_ns() - start) / size
    total = 0
    for _ in range(size):
        setup()
        start = time.perf_counter_ns()
        op()
        total += time.perf_counter_ns() - start
    return total / size


def measure(
    variants: Mapping[str, Variant | Op], plan: Plan, rng: random.Random
) -> dict[str, dict[str, Any]]:
    """``{name: summary}``, each with the per-round samples (ns per call) kept."""
    normal = {n: v if isinstance(v, Variant) else Variant(v) for n, v in variants.items()}
    sizes: dict[str, int] = {}
    for name, variant in normal.items():
        times = [_single(variant) for _ in range(max(plan.warmup, 1))]
        typical = max(statistics.median(times), 1.0)
        sizes[name] = int(max(1, min(plan.max_batch, plan.batch_ns // typical)))
    samples: dict[str, list[float]] = {name: [] for name in normal}
    order = list(normal)
    gc.collect()
    gc_was_enabled = gc.isenabled()
    gc.disable()  # as timeit does: a collection lands on whichever variant runs at the time
    try:
        for _ in range(plan.rounds):
            rng.shuffle(order)
            for name in order:
                samples[name].append(_batch(normal[name], sizes[name]))
    finally:
        if gc_was_enabled:
            gc.enable()
    return {name: summarize(samples[name], sizes[name]) for name in normal}


def quartiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) == 1:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def summarize(samples: list[float], batch: int) -> dict[str, Any]:
    q1, median, q3 = quartiles(samples)
    return {
        "median_ns": median,
        "q1_ns": q1,
        "q3_ns": q3,
        "min_ns": min(samples),
        "max_ns": max(samples),
        "rounds": len(samples),
        "batch": batch,
        "samples_ns": [round(value, 1) for value in samples],
    }


def paired_ratio(numerator: dict[str, Any], denominator: dict[str, Any]) -> dict[str, float]:
    """numerator / denominator, round by round (both measured in one interleaved call)."""
    pairs = zip(numerator["samples_ns"], denominator["samples_ns"], strict=True)
    ratios = [a / b for a, b in pairs if b > 0]
    q1, median, q3 = quartiles(ratios)
    return {"median": median, "q1": q1, "q3": q3, "min": min(ratios), "max": max(ratios)}


def median_ratio(numerator: dict[str, Any], denominator: dict[str, Any]) -> dict[str, float]:
    """For variants that could not share rounds (other processes): a ratio of medians."""
    value = numerator["median_ns"] / denominator["median_ns"]
    low = numerator["q1_ns"] / denominator["q3_ns"]
    high = numerator["q3_ns"] / denominator["q1_ns"]
    return {"median": value, "q1": low, "q3": high, "min": low, "max": high}
