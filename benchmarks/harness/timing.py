"""Measuring: warm-up, repeated rounds, variants interleaved, medians with their spread.

Variants compared with each other are measured in one call: every round runs each of them once
(a batch of calls), in an order shuffled by the seeded generator, so that whatever the machine
does meanwhile hits all of them alike (:func:`interleave`, which the scenarios timing their own
loops use too). Ratios are then taken round by round (:mod:`benchmarks.harness.stats`).
"""

from __future__ import annotations

import functools
import gc
import random
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from benchmarks.harness.stats import summarize

Op = Callable[[], Any]
T = TypeVar("T")


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


def interleave(
    variants: Mapping[str, Callable[[], T]],
    rounds: int,
    rng: random.Random,
    before: Op | None = None,
) -> dict[str, list[T]]:
    """Each variant once a round, in an order ``rng`` shuffles every round; what each returned,
    round by round. ``before`` runs at the start of each round (a sample the round shares)."""
    found: dict[str, list[T]] = {name: [] for name in variants}
    order = list(variants)
    for _ in range(rounds):
        if before is not None:
            before()
        rng.shuffle(order)
        for name in order:
            found[name].append(variants[name]())
    return found


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
    batches = {name: functools.partial(_batch, normal[name], sizes[name]) for name in normal}
    gc.collect()
    gc_was_enabled = gc.isenabled()
    gc.disable()  # as timeit does: a collection lands on whichever variant runs at the time
    try:
        samples = interleave(batches, plan.rounds, rng)
    finally:
        if gc_was_enabled:
            gc.enable()
    return {name: summarize(samples[name], sizes[name]) for name in normal}


def timed(call: Op, times: int) -> float:
    """Seconds per call, over ``times`` calls (for scenarios timing loops of their own)."""
    started = time.perf_counter()
    for _ in range(times):
        call()
    return (time.perf_counter() - started) / times


def compare(
    variants: Mapping[str, Op], times: int, rounds: int, rng: random.Random
) -> dict[str, list[float]]:
    """Per-round seconds per call of each variant (``times`` calls a round), warmed first by
    one call each (fill the cache, open connections), in an order shuffled every round."""
    for call in variants.values():
        call()
    loops = {name: functools.partial(timed, call, times) for name, call in variants.items()}
    return interleave(loops, rounds, rng)
