"""Throughput workers: processes that each run one call as often as they can in a window.

Started once per run with the "spawn" context (fresh interpreters, their own connections) and
warmed up for a while before any window is timed, then driven by the parent
(:mod:`benchmarks.scenarios.growth`): each command names a cell and a start time, and the
worker counts the calls it completes between that start and the window's end. Windows are
aligned on ``time.monotonic()``, which on Linux is one system-wide clock, so every process of a
round measures the same wall-clock window.
"""

from __future__ import annotations

import functools
import time
from typing import Any

#: A bound on every window's loop, whatever the clock says.
MAX_OPS = 5_000_000
#: Untimed calls per cell before the first window: connections opened, caches filled, the
#: interpreter's specialised bytecode in place. Windows measured straight after a spawn ran
#: up to a third slower than the same windows a second later.
WARMUP_S = 0.3
#: Pure-Python work that touches neither database nor cache: how far the machine itself lets
#: processes scale at the time (other programs share the CPUs), beside which the others read.
CPU_REFERENCE = "CPU reference (pure Python)"


def call_for(variant: str, model: Any, alias: str, pks: list[int]) -> Any:
    from benchmarks.harness.context import cycle

    manager = model._default_manager.db_manager(alias)
    nxt = cycle(pks)
    if variant == CPU_REFERENCE:
        return functools.partial(sum, range(300))
    if variant == "cached_get() hit":
        return lambda: manager.cached_get(pk=nxt())
    if variant == "get()":
        return lambda: manager.get(pk=nxt())
    raise ValueError(f"unknown variant {variant!r}")


def work(spec: dict[str, Any], cells: list[dict[str, Any]], commands: Any, results: Any) -> None:
    """Put ``("ready", None)``, then ``("ops", (calls, seconds))`` per command, or
    ``("error", why)``. A command is ``(cell number, start, seconds)``; ``None`` ends it."""
    try:
        calls = _setup(spec, cells)
        results.put(("ready", None))
        while (command := commands.get()) is not None:
            number, start, seconds = command
            results.put(("ops", _window(calls[number], start, seconds)))
    except BaseException as exc:
        results.put(("error", f"{type(exc).__name__}: {exc}"))
        raise


def _setup(spec: dict[str, Any], cells: list[dict[str, Any]]) -> list[Any]:
    from benchmarks.env.djangoenv import configure

    configure(spec)
    from django.conf import settings
    from django.test.utils import override_settings

    from benchmarks.benchapp.models import Narrow

    (cache_alias,) = {cell["cache_alias"] for cell in cells}
    # For the worker's whole life: it serves one backend pair.
    override_settings(CACHEFRESH=dict(settings.CACHEFRESH, CACHE=cache_alias)).enable()
    calls = [call_for(c["variant"], Narrow, c["db_alias"], c["pks"]) for c in cells]
    for call in calls:
        deadline = time.monotonic() + WARMUP_S
        while time.monotonic() < deadline:
            call()
    return calls


def _window(call: Any, start: float, seconds: float) -> tuple[int, float]:
    while (wait := start - time.monotonic()) > 0:
        time.sleep(wait)
    ops, deadline = 0, start + seconds
    while ops < MAX_OPS and time.monotonic() < deadline:
        for _ in range(10):
            call()
        ops += 10
    return ops, time.monotonic() - start
