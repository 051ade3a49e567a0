"""Scenario 6: cost against table size, batch size, and number of processes."""

from __future__ import annotations

from typing import Any

from benchmarks.benchapp.models import ONE_FIELD, Growth, Narrow
from benchmarks.env.backends import Pair
from benchmarks.env.data import grow
from benchmarks.harness.context import Context, cycle
from benchmarks.harness.stats import paired_ratio
from benchmarks.harness.timing import measure
from benchmarks.scenarios import throughput
from benchmarks.scenarios.common import raw_cursor_fetch, refresh_variants, warm

NAME = "growth"


def run(ctx: Context, pair: Pair) -> None:
    _table_size(ctx, pair)
    _batch_size(ctx, pair)
    throughput.run(ctx, pair)


def _table_size(ctx: Context, pair: Pair) -> None:
    for size in ctx.mode.growth_sizes:
        ctx.say(f"{NAME} {pair.name}: {size:,} rows")
        grow(pair.db_alias, size)
        _one_size(ctx, pair, size)


def _one_size(ctx: Context, pair: Pair, size: int) -> None:
    alias = pair.db_alias
    manager = Growth._default_manager.db_manager(alias)
    pks = ctx.rng(NAME, "size", size).sample(range(1, size + 1), ctx.mode.hot_rows)
    warm(Growth, alias, pks)
    get_pk, hit_pk = cycle(pks), cycle(pks)
    variants: dict[str, Any] = {
        "get()": lambda: manager.get(pk=get_pk()),
        "cached_get() hit": lambda: manager.cached_get(pk=hit_pk()),
        "raw cursor": raw_cursor_fetch(Growth, alias, pks, ONE_FIELD[0]),
        **refresh_variants(ctx, Growth, alias, pks, ONE_FIELD, ("refresh_from_db", "columns")),
    }
    group = f"table of {size:,} rows"
    summaries = measure(variants, ctx.mode.plan, ctx.rng(NAME, pair.name, group))
    ctx.results.measured(NAME, pair.name, group, summaries, table_rows=size)


def _batch_size(ctx: Context, pair: Pair) -> None:
    manager = Narrow._default_manager.db_manager(pair.db_alias)
    for size in ctx.mode.batch_sizes:
        pks = ctx.hot_pks(Narrow, size, "batch")
        warm(Narrow, pair.db_alias, pks)
        group = f"batch of {len(pks)}"
        ctx.say(f"{NAME} {pair.name}: {group}")
        summaries = measure(
            {
                "cached_get_many()": lambda pks=pks: manager.cached_get_many(pks),
                "filter(pk__in=...)": lambda pks=pks: list(manager.filter(pk__in=pks)),
            },
            ctx.mode.plan,
            ctx.rng(NAME, pair.name, group),
        )
        ctx.results.measured(NAME, pair.name, group, summaries, batch_rows=len(pks))
        ctx.results.ratio(
            NAME,
            pair.name,
            group,
            "filter(pk__in=...)",
            "cached_get_many()",
            paired_ratio(summaries["filter(pk__in=...)"], summaries["cached_get_many()"]),
        )
