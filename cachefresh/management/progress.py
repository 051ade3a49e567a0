"""A progress bar for long commands: tqdm or rich when installed, plain lines otherwise."""

from __future__ import annotations

import importlib
from typing import Any, Protocol


class Stream(Protocol):
    def write(self, text: str, /) -> Any: ...

    def flush(self) -> Any: ...


class Progress(Protocol):
    def update(self, count: int) -> None: ...

    def close(self) -> None: ...


class PlainProgress:
    """One line per tenth of the work, so logs of non-interactive runs stay short."""

    def __init__(self, total: int, description: str, stream: Stream) -> None:
        self.total, self.description, self.stream = total, description, stream
        self.done = 0
        self.shown = -1

    def update(self, count: int) -> None:
        self.done += count
        tenth = self.done * 10 // self.total if self.total else 10
        if tenth > self.shown:
            self.shown = tenth
            self.stream.write(f"{self.description}: {self.done}/{self.total}\n")

    def close(self) -> None:
        if self.shown < 10:
            self.stream.write(f"{self.description}: {self.done}/{self.total}\n")


class _Tqdm:
    def __init__(self, total: int, description: str, stream: Any) -> None:
        tqdm = importlib.import_module("tqdm").tqdm
        self.bar = tqdm(total=total, desc=description, unit="row", file=stream)

    def update(self, count: int) -> None:
        self.bar.update(count)

    def close(self) -> None:
        self.bar.close()


class _Rich:
    def __init__(self, total: int, description: str, stream: Any) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
        from rich.progress import Progress as RichProgress

        self.progress = RichProgress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(file=stream),
        )
        self.task = self.progress.add_task(description, total=total)
        self.progress.start()

    def update(self, count: int) -> None:
        self.progress.advance(self.task, count)

    def close(self) -> None:
        self.progress.stop()


def _installed(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def progress_bar(total: int, description: str, stream: Stream, kind: str = "auto") -> Progress:
    """``kind``: ``auto`` (tqdm, then rich, then plain), ``tqdm``, ``rich`` or ``plain``."""
    if kind == "auto":
        kind = next((name for name in ("tqdm", "rich") if _installed(name)), "plain")
    bars: dict[str, Any] = {"tqdm": _Tqdm, "rich": _Rich, "plain": PlainProgress}
    bar: Progress = bars[kind](total, description, stream)
    return bar
