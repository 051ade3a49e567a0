"""Worker processes for the storm and the herd, each with Django set up for one library.

Workers are started with the ``spawn`` context and configure Django from
``benchmarks.env.labsettings``, so no peer library ever patches the ORM of the calling process.
A worker that fails breaks every barrier, so the parent and the other workers stop waiting and
the parent raises the worker's traceback; every wait is bounded by :data:`PHASE_TIMEOUT`.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import threading
import traceback
from collections.abc import Callable
from multiprocessing.synchronize import Barrier
from typing import Any

from benchmarks.env.lab import CONFIG_ENV

SETTINGS_MODULE = "benchmarks.env.labsettings"
#: How long any phase may take before the run is declared stuck.
PHASE_TIMEOUT = 120.0


def setup_worker(config: dict[str, Any]) -> None:
    """Configure Django in a worker process for the lab ``config`` describes."""
    os.environ[CONFIG_ENV] = json.dumps(config)
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS_MODULE
    import django

    django.setup()


class Crew:
    """Worker processes (``spawn``), with barriers that any failing worker breaks for all."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.context = multiprocessing.get_context("spawn")
        self.errors = self.context.Queue()
        self.results = self.context.Queue()
        self.barriers: list[Barrier] = []
        self.processes: list[multiprocessing.process.BaseProcess] = []

    def barrier(self, parties: int) -> Barrier:
        barrier = self.context.Barrier(parties)
        self.barriers.append(barrier)
        return barrier

    def start(
        self, target: Callable[..., Any], *args: Any, config: dict[str, Any] | None = None
    ) -> None:
        process = self.context.Process(
            target=_work,
            args=(target, config or self.config, self.errors, self.results, self.barriers, *args),
            daemon=True,
        )
        process.start()
        self.processes.append(process)

    def wait(self, barrier: Barrier) -> None:
        """Wait at ``barrier`` as the parent; a broken or stuck phase raises the workers' errors."""
        try:
            barrier.wait(timeout=PHASE_TIMEOUT)
        except threading.BrokenBarrierError:
            self.abort()
            raise RuntimeError(self.failure()) from None

    def receive(self, queue: Any) -> Any:
        """The next item on ``queue``; a failed or stuck worker raises instead."""
        try:
            return queue.get(timeout=PHASE_TIMEOUT)
        except Exception:
            self.abort()
            raise RuntimeError(self.failure()) from None

    def collect(self, count: int) -> list[Any]:
        """What each of ``count`` workers returned."""
        return [self.receive(self.results) for _ in range(count)]

    def failure(self) -> str:
        messages = []
        with contextlib.suppress(Exception):
            while not self.errors.empty():
                messages.append(self.errors.get(timeout=1))
        dead = [p.exitcode for p in self.processes if p.exitcode not in (None, 0)]
        return (
            "a worker failed or got stuck"
            + (f" (exit codes {dead})" if dead else "")
            + "".join(f"\n{m}" for m in messages)
        )

    def abort(self) -> None:
        for barrier in self.barriers:
            barrier.abort()

    def close(self) -> None:
        """Join the workers; stop any that does not end (only processes this crew started)."""
        for process in self.processes:
            process.join(timeout=PHASE_TIMEOUT / 4)
        for process in self.processes:
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)
        self.errors.close()
        self.results.close()

    def __enter__(self) -> Crew:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if exc_info[0] is not None:
            self.abort()
        self.close()


def _work(
    target: Callable[..., Any],
    config: dict[str, Any],
    errors: Any,
    results: Any,
    barriers: list[Barrier],
    *args: Any,
) -> None:
    try:
        setup_worker(config)
        results.put(target(*args))
    except BaseException:
        errors.put(f"{target.__name__}: {traceback.format_exc()}")
        for barrier in barriers:
            barrier.abort()
        raise
