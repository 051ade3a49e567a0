"""The online cost model behind ``strategy="auto"``.

Two questions, answered from wall times observed in this process:

* Which database strategy is cheaper for this model, alias and shape of request (whole row or
  some fields): ``full`` (``refresh_from_db()``) or ``columns`` (one raw SELECT)? An
  exponentially weighted average of each one's times answers it.
* Does looking in the cache first pay? It does when the lookup costs less than the database
  time it saves on hits: ``lookup < (1 - miss_rate) * database``.

Every candidate is tried a few times first, and only its last warm-up time is kept.
Afterwards the model keeps exploring the branches it did not take, so its estimates follow
changes in latency (a cache moved further away, a database under load), on a budget: each
decision earns ``EXPLORE_SHARE`` of its expected cost, and an alternative is tried when the
savings cover its expected cost. Exploring costs at most about that share of the time, and a
cheap alternative is re-checked often while a dear one (``full`` against a warm cache) rarely.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

ALPHA = 0.2
MISS_ALPHA = 0.05
WARMUP = 3
EXPLORE_SHARE = 0.02


@dataclass
class Average:
    value: float = 0.0
    samples: int = 0

    def observe(self, sample: float, alpha: float = ALPHA) -> None:
        # Warm-up samples replace each other: first calls pay cold costs (connections, a cold
        # entry, SQL compilation) that would otherwise linger in the average.
        if self.samples < WARMUP:
            self.value = sample
        else:
            self.value += alpha * (sample - self.value)
        self.samples += 1


@dataclass
class Decision:
    database: str  # "full" or "columns"
    cache_first: bool
    reason: str  # "warmup", "cost" or "explore"


@dataclass
class CostModel:
    database: dict[tuple[str, str, str, bool], Average] = field(default_factory=dict)
    lookup: dict[tuple[str, str], Average] = field(default_factory=dict)
    misses: dict[tuple[str, str], Average] = field(default_factory=dict)
    #: Exploration budgets (seconds) per (label, alias, whole row): [database, cache-first].
    budgets: dict[tuple[str, str, bool], list[float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def choose(self, label: str, alias: str, whole_row: bool, cache_allowed: bool) -> Decision:
        full = self.database.get((label, alias, "full", whole_row))
        columns = self.database.get((label, alias, "columns", whole_row))
        if full is None or full.samples < WARMUP:
            return Decision("full", False, "warmup")
        if columns is None or columns.samples < WARMUP:
            return Decision("columns", False, "warmup")
        cheaper, dearer = (columns, full) if columns.value <= full.value else (full, columns)
        database = "columns" if cheaper is columns else "full"
        other_database = "full" if cheaper is columns else "columns"
        lookup = self.lookup.get((label, alias))
        if cache_allowed and (lookup is None or lookup.samples < WARMUP):
            return Decision(database, True, "warmup")
        cache_first, cache_cost, flipped_cost = False, 0.0, 0.0
        if cache_allowed:
            assert lookup is not None
            # Looking first costs the lookup always and the database on a miss.
            cache_cost = lookup.value + self.misses[label, alias].value * cheaper.value
            cache_first = cache_cost < cheaper.value
            flipped_cost = cheaper.value if cache_first else cache_cost
        expected = cache_cost if cache_first else cheaper.value
        with self.lock:
            budget = self.budgets.setdefault((label, alias, whole_row), [0.0, 0.0])
            budget[0] += expected * EXPLORE_SHARE
            if budget[0] >= dearer.value:
                budget[0] -= dearer.value
                return Decision(other_database, False, "explore")
            if cache_allowed:
                budget[1] += expected * EXPLORE_SHARE
                if budget[1] >= flipped_cost:
                    budget[1] -= flipped_cost
                    return Decision(database, not cache_first, "explore")
        return Decision(database, cache_first, "cost")

    def observe_database(
        self, label: str, alias: str, strategy: str, whole_row: bool, seconds: float
    ) -> None:
        with self.lock:
            self.database.setdefault((label, alias, strategy, whole_row), Average()).observe(
                seconds
            )

    def observe_lookup(self, label: str, alias: str, hit: bool, seconds: float) -> None:
        with self.lock:
            self.lookup.setdefault((label, alias), Average()).observe(seconds)
            self.misses.setdefault((label, alias), Average()).observe(
                0.0 if hit else 1.0, MISS_ALPHA
            )

    def snapshot(self) -> dict[str, float]:
        """Current estimates (microseconds; miss rates as fractions) for stats and benchmarks."""
        with self.lock:
            result = {
                f"{label}/{alias}/{name}/{'row' if whole else 'fields'}_us": avg.value * 1e6
                for (label, alias, name, whole), avg in self.database.items()
            }
            for (label, alias), avg in self.lookup.items():
                result[f"{label}/{alias}/cache_lookup_us"] = avg.value * 1e6
                result[f"{label}/{alias}/cache_miss_rate"] = self.misses[label, alias].value
            return result

    def reset(self) -> None:
        with self.lock:
            self.database.clear()
            self.lookup.clear()
            self.misses.clear()
            self.budgets.clear()


cost_model = CostModel()
