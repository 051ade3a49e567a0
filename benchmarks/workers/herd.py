"""The herd's worker process: reader threads that each read one cold row at one instant.

Runs in a process the :class:`~benchmarks.workers.crew.Crew` started, with Django set up for
one library; the parent is :func:`benchmarks.parts.herd.run_herd`.
"""

from __future__ import annotations

import threading
import time
from multiprocessing.synchronize import Barrier
from typing import Any

from benchmarks.workers.crew import PHASE_TIMEOUT


class _Shared:
    """What the reader threads of one process add up, under one lock."""

    def __init__(self, rounds: int) -> None:
        self.queries = [0] * rounds
        self.waits: list[float] = []
        self.errors: list[BaseException] = []
        self.lock = threading.Lock()


def herd_process(
    library: str, threads: int, warm_pk: int, cold: list[int], start: Barrier
) -> dict[str, Any]:
    shared = _Shared(len(cold))
    pool = [
        threading.Thread(target=_reader, args=(shared, library, warm_pk, cold, start))
        for _ in range(threads)
    ]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    if shared.errors:
        raise shared.errors[0]
    return {"queries": shared.queries, "waits": shared.waits}


def _reader(shared: _Shared, library: str, warm_pk: int, cold: list[int], start: Barrier) -> None:
    from django.db import connection

    from benchmarks.workers.libraries import cached_reader

    read = cached_reader(library)
    mine = [0] * len(cold)
    current: list[int] = []  # the round being counted, if any

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if current and "stormapp_row" in sql:
            mine[current[0]] += 1
        return execute(sql, params, many, context)

    try:
        with connection.execute_wrapper(count):
            # Opens this thread's connection and warms the library up, outside any round.
            read(warm_pk)
            for index, pk in enumerate(cold):
                start.wait(timeout=PHASE_TIMEOUT)
                began = time.perf_counter()
                current[:] = [index]
                read(pk)
                current.clear()
                with shared.lock:
                    shared.waits.append(time.perf_counter() - began)
    except BaseException as exc:
        start.abort()
        shared.errors.append(exc)
    finally:
        connection.close()
    with shared.lock:
        for index, value in enumerate(mine):
            shared.queries[index] += value
