"""A progress bar for long commands: rich on a terminal when installed, plain lines otherwise."""

from __future__ import annotations

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


def progress_bar(total: int, description: str, stream: Stream) -> Progress:
    """A rich bar on an interactive terminal (when rich is installed), plain lines elsewhere:
    logs and pipes get one line per tenth of the work, not a redrawn bar."""
    if getattr(stream, "isatty", lambda: False)():
        try:
            return _Rich(total, description, stream)
        except ImportError:
            pass
    return PlainProgress(total, description, stream)
