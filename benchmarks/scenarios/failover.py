"""What ``WAIT_FOR_REPLICAS`` costs a write: an ORM single-row update (its commit, then its
retirement) with the setting at 1 and at 0, in the same shuffled rounds, on a private Redis
primary with one replica (``redis-server`` processes on loopback ports, started here and
ended by their PIDs), the replica reached directly and through a proxy adding 1 ms each way
(a replica in another rack). At 1 each retirement waits until the replica acknowledged it.

What the default costs instead, rows served stale after a failover, is counted by the failover
test (tests/store/test_failover.py) and reported in docs/guarantees.md.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.db.models import F
from django.test.utils import override_settings

from benchmarks.env.backends import POSTGRES_REDIS, Pair
from benchmarks.harness.context import Context, cycle
from benchmarks.harness.stats import paired_ratio
from benchmarks.harness.timing import Variant, measure
from benchmarks.parts.calls import MODELS, warm

NAME = "failover"
#: One-way delays of the replication link measured.
LAGS_MS = (0.0, 1.0)
ALIAS = "failover-primary"


def run(ctx: Context, pair: Pair) -> None:
    if pair != POSTGRES_REDIS:
        ctx.results.skip(NAME, f"WAIT_FOR_REPLICAS on {pair.name}", "needs PostgreSQL + Redis")
        return
    for lag in LAGS_MS:
        group = f"ORM update, one row, replica {lag:g} ms away"
        ctx.say(f"{NAME} {pair.name}: {group}")
        with _primary_with_replica(lag) as entry:
            _measure(ctx, pair, group, entry)


def _measure(ctx: Context, pair: Pair, group: str, entry: dict[str, Any]) -> None:
    model = MODELS["narrow"]
    alias = pair.db_alias
    manager = model._default_manager.db_manager(alias)
    pks = ctx.hot_pks(model, None, NAME, group)
    caches = {**settings.CACHES, ALIAS: entry}
    waits = {
        count: override_settings(
            CACHES=caches,
            CACHEFRESH={**settings.CACHEFRESH, "CACHE": ALIAS, "WAIT_FOR_REPLICAS": count},
        )
        for count in (0, 1)
    }
    active: list[Any] = []

    def use(count: int) -> None:
        if active and active[0] is waits[count]:
            return
        if active:
            active.pop().disable()
        waits[count].enable()
        active.append(waits[count])
        warm(model, alias, pks[:1])  # builds the store, untimed

    nxt = cycle(pks)
    variants = {
        f"WAIT_FOR_REPLICAS={count}": Variant(
            lambda: manager.filter(pk=nxt()).update(counter=F("counter") + 1),
            lambda count=count: use(count),
        )
        for count in (1, 0)
    }
    try:
        summaries = measure(variants, ctx.mode.plan, ctx.rng(NAME, pair.name, group))
    finally:
        if active:
            active.pop().disable()
    ctx.results.measured(NAME, pair.name, group, summaries, model="narrow")
    one, zero = (summaries[f"WAIT_FOR_REPLICAS={count}"] for count in (1, 0))
    ctx.results.ratio(
        NAME,
        pair.name,
        group,
        "WAIT_FOR_REPLICAS=1",
        "WAIT_FOR_REPLICAS=0",
        paired_ratio(one, zero),
    )


@contextlib.contextmanager
def _primary_with_replica(lag_ms: float) -> Iterator[dict[str, Any]]:
    """A ``CACHES`` entry for a private primary whose one replica is ``lag_ms`` away."""
    # The tests' server helpers: benchmarks already borrow the test app's models.
    from tests.support.sentinel import sentinel_setup

    with sentinel_setup(lag_ms=lag_ms) as setup:
        entry = setup.cache_entry(timeout=1.0)
        yield entry
