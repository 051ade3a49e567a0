"""Throughput workers: processes that each run one call as often as they can for a while.

Started with the "spawn" context so that every worker is a fresh interpreter with its own
connections; a barrier starts all of them on each cell at once.
"""

from __future__ import annotations

import time
from typing import Any

#: A bound on every loop, whatever the clock says.
MAX_OPS = 5_000_000
#: Spawned interpreters set Django up before the first cell; slow on a loaded machine.
BARRIER_TIMEOUT = 60


def call_for(variant: str, model: Any, alias: str, pks: list[int]) -> Any:
    from benchmarks.harness.context import cycle

    manager = model._default_manager.db_manager(alias)
    nxt = cycle(pks)
    if variant == "cached_get() hit":
        return lambda: manager.cached_get(pk=nxt())
    if variant == "get()":
        return lambda: manager.get(pk=nxt())
    raise ValueError(f"unknown variant {variant!r}")


def work(
    spec: dict[str, Any],
    cells: list[dict[str, Any]],
    seconds: float,
    barrier: Any,
    results: Any,
    index: int,
) -> None:
    """Put ``(index, cell number, calls, seconds)`` per cell, or ``(index, -1, 0, error)``."""
    try:
        _work(spec, cells, seconds, barrier, results, index)
    except BaseException as exc:
        # Break the barrier so the other workers stop waiting, and tell the parent why.
        barrier.abort()
        results.put((index, -1, 0, f"{type(exc).__name__}: {exc}"))
        raise


def _work(
    spec: dict[str, Any],
    cells: list[dict[str, Any]],
    seconds: float,
    barrier: Any,
    results: Any,
    index: int,
) -> None:
    from benchmarks.env.djangoenv import configure

    configure(spec)
    from django.conf import settings
    from django.test.utils import override_settings

    from benchmarks.benchapp.models import Narrow

    for number, cell in enumerate(cells):
        config = dict(settings.CACHEFRESH, CACHE=cell["cache_alias"])
        with override_settings(CACHEFRESH=config):
            call = call_for(cell["variant"], Narrow, cell["db_alias"], cell["pks"])
            for _ in cell["pks"]:
                call()
            barrier.wait(timeout=BARRIER_TIMEOUT)
            ops, start = 0, time.perf_counter()
            deadline = start + seconds
            while ops < MAX_OPS and time.perf_counter() < deadline:
                for _ in range(10):
                    call()
                ops += 10
            results.put((index, number, ops, time.perf_counter() - start))
