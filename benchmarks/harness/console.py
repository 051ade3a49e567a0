"""What the terminal shows: a progress bar while the run goes, tables when it is done."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from benchmarks.harness.report import measured, verdict
from benchmarks.harness.units import duration

#: Piped to a file, a console is 80 columns by default and every table wraps; a file is read
#: in an editor, where a wide line is fine.
PIPED_WIDTH = 200


def make_console() -> Console:
    console = Console()
    return console if console.is_terminal else Console(width=PIPED_WIDTH)


def progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.fields[step]}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=console,
        transient=False,
    )


def show(console: Console, doc: dict[str, Any]) -> None:
    for name, info in doc["backends"].get("ran", {}).items():
        console.print(f"[green]ran[/] {name}: {info}")
    for name, why in doc["backends"].get("skipped", {}).items():
        console.print(f"[yellow]skipped[/] {name}: {why}")
    _times(console, doc)
    targets = Table(title="Targets (measured ratios)")
    for column in ("target", "bound", "where", "measured", "verdict"):
        targets.add_column(column)
    for t in doc["targets"]:
        colour = {True: "green", False: "red", None: "yellow"}[t["met"]]
        # Escaped: "[one]" in a target's name is text, not markup.
        targets.add_row(
            escape(t["target"]),
            t["bound"],
            escape(t["where"]),
            measured(t),
            f"[{colour}]{verdict(t)}[/]",
        )
    console.print(targets)
    for skip in doc["skipped"]:
        console.print(f"[yellow]not measured[/] {skip['scenario']}: {skip['what']}: {skip['why']}")


def _times(console: Console, doc: dict[str, Any]) -> None:
    """Median time per call, one row per (scenario, backend, group), the variants in a cell."""
    rows: dict[tuple[str, str, str], dict[str, float]] = defaultdict(dict)
    for m in doc["measurements"]:
        if m["scenario"] in ("refresh", "read", "floors"):
            rows[m["scenario"], m["backend"], m["group"]][m["variant"]] = m["median_ns"]
    if not rows:
        return
    table = Table(title="Median time per call (fastest in bold)")
    for column in ("scenario", "backend", "group", "variants"):
        table.add_column(column)
    for (scenario, backend, group), variants in rows.items():
        best = min(variants.values())
        cells = "  ".join(
            (f"[bold]{name} {duration(ns)}[/]" if ns == best else f"{name} {duration(ns)}")
            for name, ns in variants.items()
        )
        table.add_row(scenario, backend, group, cells)
    console.print(table)
