"""Scenario 2: get() against cached_get() hits and misses; cached_get_many(100) against
filter(pk__in=...) and against 100 single cached_get() calls."""

from __future__ import annotations

from typing import Any

from benchmarks.env.backends import Pair
from benchmarks.harness.context import Context, cycle
from benchmarks.harness.stats import paired_ratio
from benchmarks.harness.timing import Variant, measure
from benchmarks.parts.calls import MODELS, warm

NAME = "read"
BATCH = 100


def run(ctx: Context, pair: Pair) -> None:
    for model_name, model in MODELS.items():
        _one_row(ctx, pair, model_name, model)
        _batch(ctx, pair, model_name, model)


def _one_row(ctx: Context, pair: Pair, model_name: str, model: Any) -> None:
    from cachefresh import invalidate

    alias = pair.db_alias
    manager = model._default_manager.db_manager(alias)
    pks = ctx.hot_pks(model)
    warm(model, alias, pks)
    group = f"{model_name}, one row"
    ctx.say(f"{NAME} {pair.name}: {group}")
    hit_pk, get_pk, miss_pk = cycle(pks), cycle(pks), cycle(pks)
    pending: list[int] = []

    def retire() -> None:
        # Untimed: retire the next row's token so the timed call must read and refill it.
        pk = miss_pk()
        invalidate(model, pk, using=alias)
        pending[:] = [pk]

    summaries = measure(
        {
            "get()": lambda: manager.get(pk=get_pk()),
            "cached_get() hit": lambda: manager.cached_get(pk=hit_pk()),
            "cached_get() miss": Variant(lambda: manager.cached_get(pk=pending[0]), retire),
        },
        ctx.mode.plan,
        ctx.rng(NAME, pair.name, group),
    )
    ctx.results.measured(NAME, pair.name, group, summaries, model=model_name)
    ctx.results.ratio(
        NAME,
        pair.name,
        group,
        "get()",
        "cached_get() hit",
        paired_ratio(summaries["get()"], summaries["cached_get() hit"]),
    )


def _batch(ctx: Context, pair: Pair, model_name: str, model: Any) -> None:
    alias = pair.db_alias
    manager = model._default_manager.db_manager(alias)
    many = ctx.hot_pks(model, BATCH, "batch")
    warm(model, alias, many)
    group = f"{model_name}, {len(many)} rows"
    ctx.say(f"{NAME} {pair.name}: {group}")
    batch, singles = f"cached_get_many({len(many)})", f"{len(many)} x cached_get()"
    summaries = measure(
        {
            batch: lambda: manager.cached_get_many(many),
            "filter(pk__in=...)": lambda: list(manager.filter(pk__in=many)),
            singles: lambda: [manager.cached_get(pk=pk) for pk in many],
        },
        ctx.mode.plan,
        ctx.rng(NAME, pair.name, group),
    )
    ctx.results.measured(NAME, pair.name, group, summaries, model=model_name, rows=len(many))
    for other in ("filter(pk__in=...)", singles):
        ctx.results.ratio(
            NAME, pair.name, group, other, batch, paired_ratio(summaries[other], summaries[batch])
        )
