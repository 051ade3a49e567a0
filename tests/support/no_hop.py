"""Proof that an async read stayed on the event loop: no thread hop, no executor, and the
store's reads made on the loop's own thread."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest

from cachefresh.store import aio

T = TypeVar("T")

#: The modules whose async forms hand the rest of a call to ``sync_to_async``.
HOPPING_MODULES = ("api", "manager", "shortcuts", "arefresh")


class Hopped(AssertionError):
    """An async read left the event loop."""


@contextlib.contextmanager
def reads_recorded(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The thread ids the event-loop reader read on, in order."""
    threads: list[int] = []
    real = aio.AsyncReader.get_many

    async def recording(self: aio.AsyncReader, keys: Any) -> Any:
        threads.append(threading.get_ident())
        return await real(self, keys)

    monkeypatch.setattr(aio.AsyncReader, "get_many", recording)
    yield threads


def forbid_hops(monkeypatch: pytest.MonkeyPatch) -> None:
    def hop(*args: Any, **kwargs: Any) -> Any:
        raise Hopped("an async read hopped to a thread (sync_to_async)")

    for module in HOPPING_MODULES:
        monkeypatch.setattr(f"cachefresh.{module}.sync_to_async", hop)


def on_the_loop(read: Callable[[], Awaitable[T]]) -> T:
    """Run ``read()`` on a fresh event loop whose executor refuses work: anything that would
    run in a thread (``sync_to_async``, ``run_in_executor``) raises :class:`Hopped`."""

    async def main() -> T:
        loop = asyncio.get_running_loop()

        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise Hopped("the event loop was asked to run something in a thread")

        loop.run_in_executor = refuse  # type: ignore[method-assign]
        return await read()

    return asyncio.run(main())
