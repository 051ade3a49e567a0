"""The storm's worker processes: writers, readers, and the checker that reads once writes stop.

Each runs in a process the :class:`~benchmarks.workers.crew.Crew` started, with Django set up
for one library (:mod:`benchmarks.env.labsettings`); the parent is
:func:`benchmarks.parts.storm.run_storm`.
"""

from __future__ import annotations

import contextlib
import random
from multiprocessing.synchronize import Barrier, Event
from typing import Any

from benchmarks.workers.crew import PHASE_TIMEOUT

#: A reader's cap on reads per episode, so a stuck writer cannot make a reader spin forever.
MAX_READS_PER_EPISODE = 50_000
#: Reads per atomic() block of an atomic reader: a short transaction, as a request makes.
ATOMIC_BURST = 4


def writer(
    library: str,
    index: int,
    pks: list[int],
    episodes: int,
    writes_per_episode: int,
    seed: int,
    go: Barrier,
    done: Barrier,
) -> dict[str, int]:
    from benchmarks.workers.libraries import WRITES, write

    rng = random.Random(f"{seed}-writer-{index}")
    count = 0
    for episode in range(episodes):
        # Every row is written every episode; the rest of the burst lands on random rows.
        targets = rng.sample(pks, len(pks))
        targets += [rng.choice(pks) for _ in range(writes_per_episode - len(pks))]
        go.wait(timeout=PHASE_TIMEOUT)
        for pk in targets:
            # Random, not in turn: the last write of a burst (the one most likely to race a
            # fill) must be of every kind; cachalot, for one, defers invalidation in atomic().
            kind = rng.choice(WRITES)
            others = [other for other in pks if other != pk]
            chosen = [pk, rng.choice(others)] if kind == "bulk_update" and others else [pk]
            count += 1
            # Unique per writer and write, so every write changes the row.
            value = (index + 1) * 10**9 + count
            write(library, kind, chosen, value, f"w{index}-e{episode}-{count}")
        done.wait(timeout=PHASE_TIMEOUT)
    return {"writes": count}


def reader(
    library: str,
    index: int,
    pks: list[int],
    episodes: int,
    seed: int,
    atomic: bool,
    async_reads: bool,
    go: Barrier,
    stop: Event,
    done: Barrier,
) -> dict[str, int]:
    """Read random hot rows until told to stop; with ``atomic``, ATOMIC_BURST reads per
    ``transaction.atomic()`` block (fills inside a transaction are the riskier path); with
    ``async_reads``, ATOMIC_BURST reads at once on the event loop."""
    from django.db import transaction

    from benchmarks.workers.libraries import async_reader, cached_reader

    read = cached_reader(library)
    read_at_once = async_reader() if async_reads else None
    rng = random.Random(f"{seed}-reader-{index}")
    burst = ATOMIC_BURST if atomic or async_reads else 1
    total = 0
    for _ in range(episodes):
        go.wait(timeout=PHASE_TIMEOUT)
        count = 0
        while not stop.is_set() and count < MAX_READS_PER_EPISODE:
            if read_at_once is not None:
                read_at_once([rng.choice(pks) for _ in range(burst)])
            else:
                with transaction.atomic() if atomic else contextlib.nullcontext():
                    for _ in range(burst):
                        read(rng.choice(pks))
            count += burst
        total += count
        done.wait(timeout=PHASE_TIMEOUT)
    return {"reads": total, "atomic_reads": total if atomic else 0}


def checker(
    library: str, pks: list[int], episodes: int, async_reads: bool, check: Barrier, replies: Any
) -> dict[str, int]:
    from benchmarks.workers.libraries import async_reader, cached_reader

    read = cached_reader(library)
    read_at_once = async_reader() if async_reads else None
    for _ in range(episodes):
        check.wait(timeout=PHASE_TIMEOUT)
        if read_at_once is not None:
            replies.put({pk: row.state() for pk, row in zip(pks, read_at_once(pks), strict=True)})
        else:
            replies.put({pk: read(pk).state() for pk in pks})
    return {}
