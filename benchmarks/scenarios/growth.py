"""Scenario 6: cost against table size, batch size, and number of processes.

Throughput against processes: calls per second, all processes together. As everywhere in the
suite, what is compared is measured in short interleaved rounds: every round runs each (process
count, variant) cell once, in an order shuffled by the seeded generator, and the report gives
the median over rounds. The workers (:mod:`benchmarks.workers.throughput`) are started and
warmed up once, before the first round, so no cell pays for spawning interpreters, opening
connections or warming caches. (Measured one process count after the other, each on freshly
spawned workers, the first cells ran up to a third slow and the series read as super-linear
scaling on 2 CPUs.) Which workers take part in a round is drawn at random too.
"""

from __future__ import annotations

import multiprocessing
import statistics
import time
from typing import Any

from benchmarks.benchapp.models import ONE_FIELD, Growth, Narrow
from benchmarks.env.backends import Pair
from benchmarks.env.data import grow
from benchmarks.harness.context import Context, cycle
from benchmarks.harness.stats import paired_ratio
from benchmarks.harness.timing import measure
from benchmarks.parts.calls import raw_cursor_fetch, refresh_variants, warm
from benchmarks.workers.throughput import CPU_REFERENCE, WARMUP_S, work

NAME = "growth"
VARIANTS = ("cached_get() hit", "get()", CPU_REFERENCE)
#: Time for a worker to receive its command before the window opens.
LEAD_S = 0.05
#: Spawned interpreters set Django up before they report ready; slow on a loaded machine.
READY_TIMEOUT = 120


def run(ctx: Context, pair: Pair) -> None:
    _table_size(ctx, pair)
    _batch_size(ctx, pair)
    _throughput(ctx, pair)


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


def _throughput(ctx: Context, pair: Pair) -> None:
    pks = ctx.hot_pks(Narrow)
    cells = [
        {"db_alias": pair.db_alias, "cache_alias": pair.cache_alias, "variant": variant, "pks": pks}
        for variant in VARIANTS
    ]
    spawn = multiprocessing.get_context("spawn")
    results = spawn.Queue()
    commands = [spawn.Queue() for _ in range(max(ctx.mode.processes))]
    workers = [
        spawn.Process(target=work, args=(ctx.spec, cells, queue, results), daemon=True)
        for queue in commands
    ]
    ctx.say(f"{NAME} {pair.name}: throughput, starting {len(workers)} workers")
    for worker in workers:
        worker.start()
    try:
        for _ in workers:
            _reply(results, READY_TIMEOUT + WARMUP_S * len(cells))
        rates, calls = _throughput_rounds(ctx, pair, len(cells), commands, results)
    finally:
        for queue in commands:
            queue.put(None)
        for worker in workers:
            worker.join(timeout=30)
            if worker.is_alive():
                worker.terminate()
    for (count, number), samples in rates.items():
        ctx.results.fact(
            NAME,
            pair.name,
            "throughput",
            variant=cells[number]["variant"],
            processes=count,
            rounds=len(samples),
            operations=calls[count, number],
            window_s=ctx.mode.throughput_seconds,
            ops_per_s=statistics.median(samples),
            min_ops_per_s=min(samples),
            max_ops_per_s=max(samples),
            samples_ops_per_s=[round(value, 1) for value in samples],
        )


def _throughput_rounds(
    ctx: Context, pair: Pair, cells: int, commands: list[Any], results: Any
) -> tuple[dict[tuple[int, int], list[float]], dict[tuple[int, int], int]]:
    """Per (process count, cell): calls per second of each round, and calls made in all."""
    seconds = ctx.mode.throughput_seconds
    rates: dict[tuple[int, int], list[float]] = {
        (count, number): [] for count in ctx.mode.processes for number in range(cells)
    }
    calls = dict.fromkeys(rates, 0)
    rng = ctx.rng(NAME, pair.name, "throughput")
    order = list(rates)
    for round_number in range(ctx.mode.throughput_rounds):
        ctx.say(f"{NAME} {pair.name}: throughput, round {round_number + 1}")
        rng.shuffle(order)
        for count, number in order:
            chosen = rng.sample(commands, count)
            start = time.monotonic() + LEAD_S
            for queue in chosen:
                queue.put((number, start, seconds))
            replies = [_reply(results, 30 + 2 * seconds) for _ in chosen]
            rates[count, number].append(sum(ops / elapsed for ops, elapsed in replies))
            calls[count, number] += sum(ops for ops, _ in replies)
    return rates, calls


def _reply(results: Any, timeout: float) -> Any:
    kind, value = results.get(timeout=timeout)
    if kind == "error":
        raise RuntimeError(f"a throughput worker failed: {value}")
    return value
