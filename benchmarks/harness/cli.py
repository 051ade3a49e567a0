"""``python -m benchmarks``: run the suite, print the tables, write JSON, Markdown and charts."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from benchmarks.env import backends
from benchmarks.harness.modes import MODES


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Measure what each way of getting fresh data costs: cache hits, "
        "refresh_from_db(), column fetches and smart_refresh(strategy='auto'), beside their "
        "floors and the peers (django-cacheops, django-cachalot). SQLite + LocMemCache always "
        "run; PostgreSQL + Redis join when reachable.",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--quick",
        dest="mode",
        action="store_const",
        const="quick",
        help="the default: a matrix that takes under 3 minutes on 2 cores",
    )
    mode.add_argument(
        "--full",
        dest="mode",
        action="store_const",
        const="full",
        help="more rounds, tables up to 1M rows, more latencies and processes",
    )
    mode.add_argument(
        "--tiny",
        dest="mode",
        action="store_const",
        const="tiny",
        help="a few rounds on tiny tables: checks the harness, not the speed",
    )
    p.set_defaults(mode="quick")
    p.add_argument(
        "-s",
        "--scenarios",
        default="all",
        metavar="LIST",
        help="comma-separated numbers or names: 1/refresh, 2/read, 3/floors, "
        "4/latency, 5/load, 6/growth, 7/net (default: all)",
    )
    p.add_argument(
        "--backends",
        default="sqlite,postgres",
        metavar="LIST",
        help="which pairs to try: sqlite (SQLite + LocMemCache), postgres "
        "(PostgreSQL + Redis, when reachable); default: both",
    )
    p.add_argument(
        "--database-url",
        metavar="URL",
        help=f"PostgreSQL to use (default: {backends.DEFAULT_DATABASE_URL}); the run "
        "creates and drops a database of its own there",
    )
    p.add_argument(
        "--redis-url",
        metavar="URL",
        help=f"Redis to use (default: {backends.DEFAULT_REDIS_URL}); only keys under "
        "the run's own prefix are written and deleted, never a flush",
    )
    p.add_argument(
        "--peers",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="include django-cacheops and django-cachalot (default: yes, when installed)",
    )
    p.add_argument(
        "--latency-ms",
        metavar="LIST",
        help="one-way delays the proxy adds in scenario 4, e.g. 0,0.5,2 (default: per mode)",
    )
    p.add_argument(
        "-o",
        "--output",
        default="bench-results",
        type=Path,
        metavar="DIR",
        help="where the JSON, the Markdown report and the charts go (default: bench-results/)",
    )
    p.add_argument("--seed", type=int, default=1, help="seed of every generator (default: 1)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from benchmarks.harness.console import make_console
    from benchmarks.harness.run import Run
    from benchmarks.scenarios import select

    console = make_console()
    try:
        scenarios = select(args.scenarios)
    except ValueError as exc:
        console.print(f"[red]{exc}[/]")
        return 2
    mode = MODES[args.mode]
    if args.latency_ms:
        delays = tuple(float(part) for part in args.latency_ms.split(",") if part.strip())
        mode = dataclasses.replace(mode, delays_ms=delays)
    wanted = {part.strip() for part in args.backends.split(",")}
    found = backends.detect(args.database_url, args.redis_url, wanted)
    for name, why in found.skipped.items():
        console.print(f"[yellow]skipping {name}[/]: {why}")
    if not found.pairs:
        console.print("[red]no backend pair to run[/]")
        return 2
    args.output.mkdir(parents=True, exist_ok=True)
    run = Run(args, mode, scenarios, found, console)
    try:
        return run.execute()
    finally:
        run.cleanup()
