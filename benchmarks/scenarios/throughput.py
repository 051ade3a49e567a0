"""Throughput against processes (part of scenario 6): calls per second, all processes together.

As everywhere in the suite, what is compared is measured in short interleaved rounds: every
round runs each (process count, variant) cell once, in an order shuffled by the seeded
generator, and the report gives the median over rounds. The workers are started and warmed
up once, before the first round, so no cell pays for spawning interpreters, opening
connections or warming caches. (Measured one process count after the other, each on freshly
spawned workers, the first cells ran up to a third slow and the series read as super-linear
scaling on 2 CPUs.) Which workers take part in a round is drawn at random too.
"""

from __future__ import annotations

import multiprocessing
import statistics
import time
from typing import Any

from benchmarks.benchapp.models import Narrow
from benchmarks.env.backends import Pair
from benchmarks.harness.context import Context
from benchmarks.workers.throughput import CPU_REFERENCE, WARMUP_S, work

NAME = "growth"
VARIANTS = ("cached_get() hit", "get()", CPU_REFERENCE)
#: Time for a worker to receive its command before the window opens.
LEAD_S = 0.05
#: Spawned interpreters set Django up before they report ready; slow on a loaded machine.
READY_TIMEOUT = 120


def run(ctx: Context, pair: Pair) -> None:
    pks = ctx.hot_pks(Narrow)
    cells = [
        {"db_alias": pair.db_alias, "cache_alias": pair.cache_alias, "variant": variant, "pks": pks}
        for variant in VARIANTS
    ]
    seconds, counts = ctx.mode.throughput_seconds, ctx.mode.processes
    spawn = multiprocessing.get_context("spawn")
    results = spawn.Queue()
    commands = [spawn.Queue() for _ in range(max(counts))]
    workers = [
        spawn.Process(target=work, args=(ctx.spec, cells, queue, results), daemon=True)
        for queue in commands
    ]
    ctx.say(f"{NAME} {pair.name}: throughput, starting {len(workers)} workers")
    for worker in workers:
        worker.start()
    rates: dict[tuple[int, int], list[float]] = {
        (count, number): [] for count in counts for number in range(len(cells))
    }
    calls = dict.fromkeys(rates, 0)
    try:
        for _ in workers:
            _reply(results, READY_TIMEOUT + WARMUP_S * len(cells))
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
            window_s=seconds,
            ops_per_s=statistics.median(samples),
            min_ops_per_s=min(samples),
            max_ops_per_s=max(samples),
            samples_ops_per_s=[round(value, 1) for value in samples],
        )


def _reply(results: Any, timeout: float) -> Any:
    kind, value = results.get(timeout=timeout)
    if kind == "error":
        raise RuntimeError(f"a throughput worker failed: {value}")
    return value
