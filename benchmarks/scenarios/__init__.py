"""The seven scenarios of the suite, by number and name, in the order they run."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from benchmarks.env.backends import Pair
from benchmarks.harness.context import Context


@dataclass(frozen=True)
class Scenario:
    number: int
    name: str
    title: str

    def run(self, ctx: Context, pair: Pair) -> None:
        # Imported when run: scenario modules import the models, which need Django set up.
        importlib.import_module(f"benchmarks.scenarios.{self.name}").run(ctx, pair)


SCENARIOS = (
    Scenario(1, "refresh", "Refresh: cache vs refresh_from_db() vs columns vs auto"),
    Scenario(2, "read", "Read: get() vs cached_get(); batches"),
    Scenario(3, "floors", "Floors and peers; bytes per cached row"),
    Scenario(4, "latency", "Injected latency: where each strategy wins"),
    Scenario(5, "load", "Correctness under load: stale-set storm, thundering herd"),
    Scenario(6, "growth", "Growth: table size, batch size, processes"),
    Scenario(7, "net", "The statement net: its cost on reads and single-row writes"),
)


def select(spec: str) -> list[Scenario]:
    """Scenarios named in ``spec`` ("all", or numbers/names separated by commas)."""
    if spec.strip() in ("", "all"):
        return list(SCENARIOS)
    chosen = []
    for part in (item.strip() for item in spec.split(",") if item.strip()):
        matches = [s for s in SCENARIOS if part in (str(s.number), s.name)]
        if not matches:
            known = ", ".join(f"{s.number}/{s.name}" for s in SCENARIOS)
            raise ValueError(f"unknown scenario {part!r}; known: {known}")
        chosen.extend(match for match in matches if match not in chosen)
    return sorted(chosen, key=lambda s: s.number)
