"""What every scenario gets: the mode, the pairs that run, seeded generators, the results."""

from __future__ import annotations

import contextlib
import functools
import itertools
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.env.backends import Pair
from benchmarks.harness.modes import Mode
from benchmarks.harness.results import Results


@dataclass
class Context:
    mode: Mode
    pairs: list[Pair]
    spec: dict[str, Any]
    results: Results
    seed: int
    out_dir: Path
    peers: bool
    #: The command line's options for one scenario (``--django-tests`` and the like).
    options: dict[str, Any] = field(default_factory=dict)
    #: Callback showing what runs now (the progress bar's description).
    say: Callable[[str], None] = field(default=lambda text: None)

    def rng(self, *parts: object) -> random.Random:
        """A generator seeded by the run's seed and ``parts``: the same on every run."""
        return random.Random(":".join(str(part) for part in (self.seed, *parts)))

    def hot_pks(self, model: Any, count: int | None = None, *parts: object) -> list[int]:
        rows = self.mode.narrow_rows if model.__name__ == "Narrow" else self.mode.wide_rows
        count = min(count or self.mode.hot_rows, rows)
        return self.rng("pks", model.__name__, count, *parts).sample(range(1, rows + 1), count)


@contextlib.contextmanager
def cache_in_use(ctx: Context, cache_alias: str) -> Iterator[None]:
    """cachefresh pointed at ``cache_alias`` for the duration (its store and plans reset)."""
    from django.conf import settings
    from django.test.utils import override_settings

    config = dict(settings.CACHEFRESH, CACHE=cache_alias)
    with override_settings(CACHEFRESH=config):
        yield


def cycle(items: list[Any]) -> Callable[[], Any]:
    """A zero-argument callable returning the items in turn, forever; all C, so it adds the
    same few tens of nanoseconds to every variant."""
    return functools.partial(next, itertools.cycle(items))
