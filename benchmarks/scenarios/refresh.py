"""Scenario 1: refresh by cache hit, refresh_from_db(), column fetch and "auto", for 1, 3 and
all fields, on narrow and wide rows."""

from __future__ import annotations

from collections import Counter

from benchmarks.env.backends import Pair
from benchmarks.harness.context import Context, cycle
from benchmarks.harness.stats import paired_ratio
from benchmarks.harness.timing import measure
from benchmarks.parts.calls import (
    FIELD_SETS,
    MODELS,
    best_fixed,
    instances,
    refresh_variants,
    warm,
)
from cachefresh import smart_refresh

NAME = "refresh"
STRATEGIES = ("refresh_from_db", "cache", "full", "columns", "auto")


def run(ctx: Context, pair: Pair) -> None:
    for model_name, model in MODELS.items():
        pks = ctx.hot_pks(model)
        warm(model, pair.db_alias, pks)
        for fields_name, fields in FIELD_SETS.items():
            group = f"{model_name}, {fields_name}"
            ctx.say(f"{NAME} {pair.name}: {group}")
            variants = refresh_variants(ctx, model, pair.db_alias, pks, fields, STRATEGIES)
            summaries = measure(variants, ctx.mode.plan, ctx.rng(NAME, pair.name, group))
            picks = auto_picks(model, pair.db_alias, pks, fields)
            ctx.results.measured(
                NAME,
                pair.name,
                group,
                summaries,
                model=model_name,
                fields=fields_name,
                auto_picked=picks,
            )
            record_ratios(ctx, NAME, pair, group, summaries)


def record_ratios(ctx: Context, scenario: str, pair: Pair, group: str, summaries: dict) -> None:
    if "auto" in summaries:
        best = best_fixed(summaries)
        ctx.results.ratio(
            scenario,
            pair.name,
            group,
            "auto",
            best,
            paired_ratio(summaries["auto"], summaries[best]),
        )
    if "columns" in summaries and "refresh_from_db" in summaries:
        ctx.results.ratio(
            scenario,
            pair.name,
            group,
            "refresh_from_db",
            "columns",
            paired_ratio(summaries["refresh_from_db"], summaries["columns"]),
        )


def auto_picks(model, alias: str, pks: list[int], fields, calls: int = 50) -> dict[str, int]:
    """Which strategy "auto" ran, over a few calls after the measurement."""
    nxt = cycle(instances(model, alias, pks))
    picks = Counter(smart_refresh(nxt(), fields).value for _ in range(calls))
    return dict(picks)
