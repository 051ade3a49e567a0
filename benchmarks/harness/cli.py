"""``python -m benchmarks``: run the scenarios; print the tables, write JSON, Markdown, charts."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from benchmarks.env import backends
from benchmarks.harness.modes import MODES, with_rounds


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Measure what each way of getting fresh data costs: cache hits, "
        "refresh_from_db(), column fetches and smart_refresh(strategy='auto'), beside their "
        "floors and the peers (django-cacheops, django-cachalot); the near cache, the lookups "
        "and the invalidation log. SQLite + LocMemCache always run; PostgreSQL + Redis join "
        "when reachable.",
    )
    _what(p)
    _where(p)
    _django_suite(p)
    return p


def _what(p: argparse.ArgumentParser) -> None:
    mode = p.add_mutually_exclusive_group()
    for name, text in (
        ("quick", "the default: a matrix that takes a few minutes on 2 cores"),
        ("full", "more rounds, tables up to 1M rows, more latencies and processes"),
        ("tiny", "a few rounds on tiny tables: checks the harness, not the speed"),
    ):
        mode.add_argument(f"--{name}", dest="mode", action="store_const", const=name, help=text)
    p.set_defaults(mode="quick")
    p.add_argument(
        "-s",
        "--scenarios",
        default="default",
        metavar="LIST",
        help="comma-separated numbers or names: 1/refresh, 2/read, 3/floors, 4/latency, "
        "5/load, 6/growth, 7/net, near, lookups, dblog, async, django_suite, failover, "
        "near_cluster; 'default' (the default: all but django_suite, failover and near_cluster) "
        "or 'all'",
    )
    p.add_argument(
        "--rounds",
        type=int,
        metavar="N",
        help="rounds of every interleaved measurement (default: per mode)",
    )
    p.add_argument(
        "--latency-ms",
        metavar="LIST",
        help="one-way delays the proxy adds in scenario 4, e.g. 0,0.5,2 (default: per mode)",
    )
    p.add_argument("--seed", type=int, default=1, help="seed of every generator (default: 1)")


def _where(p: argparse.ArgumentParser) -> None:
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
        "creates and drops databases of its own there",
    )
    p.add_argument(
        "--redis-url",
        metavar="URL",
        help=f"Redis to use (default: {backends.DEFAULT_REDIS_URL}); only keys under "
        "the run's own prefixes are written and deleted, never a flush",
    )
    p.add_argument(
        "--peers",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="include django-cacheops and django-cachalot (default: yes, when installed)",
    )
    p.add_argument(
        "-o",
        "--output",
        default="bench-results",
        type=Path,
        metavar="DIR",
        help="where the JSON, the Markdown report and the charts go (default: bench-results/)",
    )


def _django_suite(p: argparse.ArgumentParser) -> None:
    group = p.add_argument_group("django_suite (Django's own refresh_from_db() tests)")
    group.add_argument(
        "--django-tests",
        type=Path,
        metavar="DIR",
        help="the tests/ folder of Django's source distribution, as installed here",
    )
    group.add_argument(
        "--django-labels",
        default="",
        metavar="LIST",
        help="test labels to run (default: every module that calls refresh_from_db)",
    )
    group.add_argument(
        "--django-args",
        default="--parallel=1",
        metavar="ARGS",
        help="options for Django's runtests.py (default: --parallel=1); give them as "
        "--django-args='--parallel=2 -v 2'",
    )


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
    if args.rounds:
        mode = with_rounds(mode, args.rounds)
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
