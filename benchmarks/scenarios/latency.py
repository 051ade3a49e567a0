"""Scenario 4: where each strategy wins as the database and the cache move away.

Loopback proxies (benchmarks.env.proxy, hosted in their own process) add a one-way delay to every
byte between Django and PostgreSQL or Redis. Each cell of the grid (database x cache) measures
the fixed strategies and "auto" on narrow rows; "auto" should track the cell's winner. The cost
model is reset per cell, as in a process that has only ever talked to that pair.
"""

from __future__ import annotations

from benchmarks.benchapp.models import ONE_FIELD, Narrow
from benchmarks.env.backends import POSTGRES_REDIS, SQLITE_LOCMEM, Pair
from benchmarks.env.djangoenv import latency_alias
from benchmarks.harness.context import Context, cache_in_use
from benchmarks.harness.timing import measure
from benchmarks.parts.calls import refresh_variants, warm
from benchmarks.scenarios.refresh import auto_picks, record_ratios

NAME = "latency"
STRATEGIES = ("cache", "full", "columns", "auto")
FIELDS = {"1 field": ONE_FIELD, "all fields": None}


def axes(
    ctx: Context,
) -> tuple[list[tuple[str, str, float | None]], list[tuple[str, str, float | None]]]:
    """(label, alias, added one-way delay) for the database axis and for the cache axis."""
    databases = [("sqlite (in-process)", "default", None)] if SQLITE_LOCMEM in ctx.pairs else []
    caches = [("locmem (in-process)", "default", None)]
    for delay in ctx.mode.delays_ms:
        databases.append((f"postgres +{delay:g} ms", latency_alias("pg", delay), delay))
        caches.append((f"redis +{delay:g} ms", latency_alias("redis", delay), delay))
    return databases, caches


def available(ctx: Context) -> str | None:
    if POSTGRES_REDIS not in ctx.pairs:
        return "needs PostgreSQL and Redis"
    if not ctx.spec.get("db_proxies"):
        return ctx.spec.get("proxy_error", "the latency proxies did not start")
    return None


def run(ctx: Context, pair: Pair) -> None:
    """Runs once, on the grid, whichever pair it is called for first."""
    if pair != ctx.pairs[0]:
        return
    why = available(ctx)
    if why:
        ctx.results.skip(NAME, "latency grid", why)
        return
    from cachefresh.cost import cost_model

    pks = ctx.hot_pks(Narrow)
    databases, caches = axes(ctx)
    for db_label, db_alias, db_delay in databases:
        for cache_label, cache_alias, cache_delay in caches:
            cell = Pair(f"{db_label} & {cache_label}", db_alias, cache_alias)
            with cache_in_use(ctx, cache_alias):
                warm(Narrow, db_alias, pks)
                for fields_name, fields in FIELDS.items():
                    ctx.say(f"{NAME}: {cell.name}, {fields_name}")
                    cost_model.reset()
                    variants = refresh_variants(ctx, Narrow, db_alias, pks, fields, STRATEGIES)
                    group = fields_name
                    summaries = measure(variants, ctx.mode.slow_plan, ctx.rng(NAME, group))
                    ctx.results.measured(
                        NAME,
                        cell.name,
                        group,
                        summaries,
                        fields=fields_name,
                        database=db_label,
                        cache=cache_label,
                        db_delay_ms=db_delay,
                        cache_delay_ms=cache_delay,
                        auto_picked=auto_picks(Narrow, db_alias, pks, fields, calls=20),
                    )
                    record_ratios(ctx, NAME, cell, group, summaries)
