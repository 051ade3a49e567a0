"""The online cost model behind ``strategy="auto"``.

Two questions, answered from wall times observed in this process:

* Which database strategy is cheapest for this model, alias and shape of request (whole row or
  some fields), among those the caller offers (:data:`cachefresh.refresh.DATABASE`:
  ``full``, that is ``refresh_from_db()``, and ``columns``, one raw SELECT)? An exponentially
  weighted average of each one's times answers it.
* Does looking in the cache first pay? It does when the lookup costs less than the database
  time it saves on hits: ``lookup < (1 - miss_rate) * database``.

Every candidate is tried a few times first, and only its fastest warm-up time is kept.
Afterwards the model keeps exploring the branches it did not take, so its estimates follow
changes in latency (a cache moved further away, a database under load), on a budget: each
decision earns ``EXPLORE_SHARE`` of its expected cost, and an alternative is tried when the
savings cover its expected cost. Exploring costs at most about that share of the time, and a
cheap alternative is re-checked often while a dear one (``full`` against a warm cache) rarely.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

ALPHA = 0.2
MISS_ALPHA = 0.1
WARMUP = 3
EXPLORE_SHARE = 0.01
OUTLIER_CAP = 4.0


@dataclass(slots=True)
class Average:
    value: float = 0.0
    samples: int = 0

    def observe(self, sample: float) -> None:
        # Warm-up keeps the fastest sample: first calls pay cold costs (connections, a cold
        # entry, SQL compilation), and an optimistic estimate gets corrected by use while a
        # pessimistic one, never chosen, would only be corrected by rare exploration.
        if self.samples == 0:
            self.value = sample
        elif self.samples < WARMUP:
            self.value = min(self.value, sample)
        else:
            # A sample counts as at most OUTLIER_CAP times the estimate: one pause (a GC pass,
            # the scheduler) must not flip a choice for the hundreds of calls until exploration
            # checks the other branch again, while a real change still moves it up to 1.6x a
            # sample (and down at once).
            self.value += ALPHA * (min(sample, OUTLIER_CAP * self.value) - self.value)
        self.samples += 1


@dataclass(slots=True)
class Estimates:
    """What is known of one (model, database alias, whole row or not).

    Updated without a lock: under the GIL a race can only lose a sample, which an average
    shrugs off, and ``auto`` must cost little more than the strategy it picks.
    """

    #: Each database strategy's time, by its name: whichever strategies the caller offers.
    database: dict[str, Average] = field(default_factory=dict)
    lookup: Average = field(default_factory=Average)
    # Optimistic at first and blind to warm-up: the first lookups of a process find its rows
    # cold, which says nothing about how often later ones will hit.
    miss_rate: float = 0.0
    # Exploration budgets, in seconds: one for the database strategy, one for cache-first.
    database_budget: float = 0.0
    cache_budget: float = 0.0

    def of(self, strategy: str) -> Average:
        found = self.database.get(strategy)
        if found is None:
            found = self.database.setdefault(strategy, Average())
        return found

    def observe_lookup(self, hit: bool, seconds: float) -> None:
        if self.lookup.samples >= WARMUP:
            self.miss_rate += MISS_ALPHA * ((0.0 if hit else 1.0) - self.miss_rate)
        self.lookup.observe(seconds)


class Decision(NamedTuple):
    database: str  # one of the candidates offered
    cache_first: bool
    reason: str  # "warmup", "cost" or "explore"


@dataclass
class CostModel:
    estimates: dict[tuple[str, str, bool], Estimates] = field(default_factory=dict)

    def of(self, label: str, alias: str, whole_row: bool) -> Estimates:
        key = (label, alias, whole_row)
        found = self.estimates.get(key)
        if found is None:
            found = self.estimates.setdefault(key, Estimates())
        return found

    @staticmethod
    def decide(known: Estimates, candidates: Sequence[str], cache_allowed: bool) -> Decision:
        """Which of the database strategies ``candidates`` to run, and whether to look in the
        cache first. Each candidate is warmed up in turn; the dearest alternative is explored
        on the budget, the least sampled first when there are several."""
        for name in candidates:
            if known.of(name).samples < WARMUP:
                return Decision(name, False, "warmup")
        ranked = sorted(candidates, key=lambda name: known.of(name).value)
        database, cheaper = ranked[0], known.of(ranked[0]).value
        cache_first = False
        if cache_allowed:
            if known.lookup.samples < WARMUP:
                return Decision(database, True, "warmup")
            # Looking first costs the lookup always and the database on a miss.
            cache_cost = known.lookup.value + known.miss_rate * cheaper
            cache_first = cache_cost < cheaper
            flipped = cheaper if cache_first else cache_cost
            expected = cache_cost if cache_first else cheaper
        else:
            expected = cheaper
        known.database_budget += expected * EXPLORE_SHARE
        if len(ranked) > 1:
            other = min(ranked[1:], key=lambda name: known.of(name).samples)
            dearer = known.of(other).value
            if known.database_budget >= dearer:
                known.database_budget -= dearer
                return Decision(other, False, "explore")
        if cache_allowed:
            known.cache_budget += expected * EXPLORE_SHARE
            if known.cache_budget >= flipped:
                known.cache_budget -= flipped
                return Decision(database, not cache_first, "explore")
        return Decision(database, cache_first, "cost")

    def observe_database(
        self, label: str, alias: str, strategy: str, whole_row: bool, seconds: float
    ) -> None:
        self.of(label, alias, whole_row).of(strategy).observe(seconds)

    def reset(self) -> None:
        self.estimates.clear()


cost_model = CostModel()
