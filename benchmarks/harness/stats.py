"""The statistics every scenario reports with: quartiles, summaries of rounds, ratios.

Variants compared with each other run in the same rounds, so their ratio is taken round by
round and then summarised (:func:`paired`): whatever the machine did in one round hit both
alike. Variants that could not share rounds (other processes) get a ratio of medians
(:func:`median_ratio`), or one bridged through a floor both processes timed (:func:`bridged`).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

Spread = dict[str, float]


def quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    """First quartile, median and third quartile (inclusive method: a median of one value)."""
    if len(values) == 1:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def spread(values: Sequence[float]) -> Spread:
    """The median of ``values`` with its quartiles and its range."""
    q1, median, q3 = quartiles(values)
    return {"median": median, "q1": q1, "q3": q3, "min": min(values), "max": max(values)}


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile: the smallest value with ``fraction`` of the values at or
    below it (0.99: the p99; of 200 values the 198th, of 100 or fewer the largest)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def delays(seconds: Sequence[float]) -> dict[str, Any]:
    """Delays as a fact records them: how many, their median, p99 and longest, and each."""
    return {
        "writes": len(seconds),
        "median_s": statistics.median(seconds),
        "p99_s": percentile(seconds, 0.99),
        "max_s": max(seconds),
        "delays_s": list(seconds),
    }


def summarize(samples: list[float], batch: int) -> dict[str, Any]:
    """A variant's rounds (nanoseconds per call, ``batch`` calls a round), samples kept."""
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


def summarize_seconds(rounds: dict[str, list[float]], batch: int) -> dict[str, dict[str, Any]]:
    """:func:`summarize` of each variant's rounds given in seconds per call."""
    return {name: summarize([s * 1e9 for s in seconds], batch) for name, seconds in rounds.items()}


def paired(numerator: Sequence[float], denominator: Sequence[float]) -> Spread:
    """``numerator / denominator``, round by round (both ran in every round), summarised."""
    pairs = zip(numerator, denominator, strict=True)
    return spread([a / b for a, b in pairs if b > 0])


def paired_ratio(numerator: dict[str, Any], denominator: dict[str, Any]) -> Spread:
    """:func:`paired` of two summaries measured in one interleaved call."""
    return paired(numerator["samples_ns"], denominator["samples_ns"])


def median_ratio(numerator: dict[str, Any], denominator: dict[str, Any]) -> Spread:
    """For variants that could not share rounds (other processes): a ratio of medians."""
    value = numerator["median_ns"] / denominator["median_ns"]
    low = numerator["q1_ns"] / denominator["q3_ns"]
    high = numerator["q3_ns"] / denominator["q1_ns"]
    return {"median": value, "q1": low, "q3": high, "min": low, "max": high}


def bridged(theirs: Spread, ours: Spread) -> Spread:
    """(peer / floor) / (cachefresh / floor), each side paired round by round in its process."""
    return {
        "median": theirs["median"] / ours["median"],
        "q1": theirs["q1"] / ours["q3"],
        "q3": theirs["q3"] / ours["q1"],
        "min": theirs["min"] / ours["max"],
        "max": theirs["max"] / ours["min"],
    }
