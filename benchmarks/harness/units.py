"""Numbers as a reader sees them: three significant figures and a unit, never a repr.

The report, the console and the charts all format through here, so a value reads the same
wherever it appears.
"""

from __future__ import annotations

import math

#: Shown where there is no value; every table that can show it says why in a note.
MISSING = "—"


def sig3(value: float) -> str:
    """``value`` to three significant figures, with thousands separators: 0.0123, 4.48, 9,020."""
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else str(value)
    decimals = 2 - math.floor(math.log10(abs(value)))
    rounded = round(value, decimals)
    # Rounding may add a digit (9.996 -> 10.0): format with the decimals the new value needs.
    if rounded and math.floor(math.log10(abs(rounded))) != math.floor(math.log10(abs(value))):
        decimals -= 1
    return f"{rounded:,.{decimals}f}" if decimals > 0 else f"{round(rounded):,}"


def duration(ns: float) -> str:
    """Nanoseconds as µs, ms or s, whichever keeps the number between 1 and 1,000."""
    if ns < 1_000_000:
        return f"{sig3(ns / 1e3)} µs"
    if ns < 1_000_000_000:
        return f"{sig3(ns / 1e6)} ms"
    return f"{sig3(ns / 1e9)} s"


def seconds(value: float) -> str:
    return duration(value * 1e9)


def ratio(value: float) -> str:
    return f"{sig3(value)}x"


def rate(value: float, what: str = "calls") -> str:
    return f"{sig3(value)} {what}/s"


def size(value: float) -> str:
    return f"{sig3(value)} B"


def percent(fraction: float) -> str:
    return f"{sig3(fraction * 100)} %"


def span(low: str, high: str) -> str:
    """A range of two formatted values, the unit kept on both (units may differ)."""
    return f"{low} to {high}"


def bound(shown: str) -> str:
    """A target's bound as a chart writes it: "<= 3x" as "≤ 3x"."""
    return shown.replace("<=", "≤").replace(">=", "≥")
