"""``python -m benchmarks``: run the suite, print the tables, write JSON, Markdown and charts."""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import subprocess
import sys
import tempfile
import traceback
import uuid
from pathlib import Path
from typing import Any

from benchmarks import backends
from benchmarks.modes import MODES


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
        "4/latency, 5/load, 6/growth (default: all)",
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
    from rich.console import Console

    from benchmarks.scenarios import select

    console = Console()
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


class Run:
    """One run: the space it takes on the servers, and giving it back."""

    def __init__(
        self,
        args: argparse.Namespace,
        mode: Any,
        scenarios: list[Any],
        found: backends.Detection,
        console: Any,
    ) -> None:
        self.args, self.mode, self.scenarios, self.found = args, mode, scenarios, found
        self.console = console
        self.run_id = uuid.uuid4().hex[:8]
        self.tmp = Path(tempfile.mkdtemp(prefix="cachefresh-bench-"))
        self.pg_space: backends.PostgresSpace | None = None
        self.proxyhost: subprocess.Popen[str] | None = None
        self.configured = False

    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "run_id": self.run_id,
            "table_prefix": "cfbench",
            "sqlite_path": str(self.tmp / "bench.sqlite3"),
            "pg": None,
            "redis_url": None,
        }
        if backends.POSTGRES_REDIS in self.found.pairs:
            assert self.found.database_url and self.found.redis_url
            self.pg_space = backends.PostgresSpace(self.found.database_url)
            dbname = self.pg_space.acquire()
            spec["pg"] = dict(self.pg_space.params, dbname=dbname)
            spec["table_prefix"] = self.pg_space.table_prefix
            spec["redis_url"] = self.found.redis_url
            if any(s.name == "latency" for s in self.scenarios):
                self._start_proxies(spec)
        return spec

    def _start_proxies(self, spec: dict[str, Any]) -> None:
        if importlib_missing("benchmarks.proxy"):
            spec["proxy_error"] = "the latency proxy (benchmarks.proxy) is not available yet"
            return
        pg = spec["pg"]
        redis_host, redis_port = backends.redis_hostport(spec["redis_url"])
        wanted = []
        for delay in self.mode.delays_ms:
            wanted.append([f"db:{delay}", pg["host"], pg["port"], delay])
            wanted.append([f"cache:{delay}", redis_host, redis_port, delay])
        self.proxyhost = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.proxyhost"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proxyhost.stdin and self.proxyhost.stdout
        self.proxyhost.stdin.write(json.dumps(wanted) + "\n")
        self.proxyhost.stdin.flush()
        line = self.proxyhost.stdout.readline()
        if not line:
            spec["proxy_error"] = "the latency proxy process did not start"
            return
        ports = json.loads(line)
        spec["db_proxies"] = {str(d): ports[f"db:{d}"] for d in self.mode.delays_ms}
        spec["cache_proxies"] = {str(d): ports[f"cache:{d}"] for d in self.mode.delays_ms}

    def execute(self) -> int:
        from benchmarks import charts, console, report, targets
        from benchmarks.context import Context, cache_in_use
        from benchmarks.djangoenv import configure
        from benchmarks.results import Results

        spec = self.spec()
        configure(spec)
        self.configured = True
        from benchmarks import data

        results = Results(
            settings={
                "mode": self.mode.name,
                "seed": self.args.seed,
                "run_id": self.run_id,
                "scenarios": [s.name for s in self.scenarios],
                "peers": self.args.peers,
                "modeconfig": dataclasses.asdict(self.mode),
                "argv": sys.argv[1:],
            }
        )
        results.backends = {
            "ran": {pair.name: self._describe(pair) for pair in self.found.pairs},
            "skipped": dict(self.found.skipped),
        }
        for pair in self.found.pairs:
            data.create_tables(pair.db_alias)
            data.fill(pair.db_alias, self.mode.narrow_rows, self.mode.wide_rows, self.args.seed)
        ctx = Context(
            mode=self.mode,
            pairs=self.found.pairs,
            spec=spec,
            results=results,
            seed=self.args.seed,
            out_dir=self.args.output,
            peers=self.args.peers,
        )
        failures = 0
        tasks = [(s, p) for s in self.scenarios for p in self.found.pairs]
        with console.progress(self.console) as bar:
            task = bar.add_task("", total=len(tasks), step="")
            ctx.say = lambda text: bar.update(task, description=text)
            for scenario, pair in tasks:
                bar.update(task, step=f"{scenario.number}. {scenario.name}")
                try:
                    with cache_in_use(ctx, pair.cache_alias):
                        scenario.run(ctx, pair)
                except Exception as exc:
                    failures += 1
                    results.skip(
                        scenario.name, pair.name, f"failed: {type(exc).__name__}: {str(exc)[:300]}"
                    )
                    traceback.print_exc()
                bar.advance(task)
        results.targets = targets.evaluate(results)
        out = self.args.output
        doc = results.write(out / "results.json")
        drawn = charts.draw(doc, out)
        (out / "report.md").write_text(report.render(doc, drawn))
        console.show(self.console, doc)
        self.console.print(
            f"Wrote {out / 'results.json'}, {out / 'report.md'} and "
            f"{len(drawn)} charts ({', '.join(drawn)}) in {out}/"
        )
        return 1 if failures else 0

    def _describe(self, pair: backends.Pair) -> str:
        if pair == backends.SQLITE_LOCMEM:
            return "SQLite file in a temporary directory + LocMemCache"
        note = self.pg_space.note if self.pg_space else ""
        return (
            f"PostgreSQL {self.found.database_url} ({note}) + Redis {self.found.redis_url} "
            f"(keys under cfbench-{self.run_id}:*, cacheops in DB "
            f"{backends.CACHEOPS_REDIS_DB} under the same prefix)"
        )

    def cleanup(self) -> None:
        if self.configured:
            from django.db import connections

            connections.close_all()
        if self.proxyhost is not None:
            assert self.proxyhost.stdin
            self.proxyhost.stdin.close()
            try:
                self.proxyhost.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proxyhost.kill()
        if self.pg_space is not None:
            from benchmarks.data import tables

            self.pg_space.release(tables() if self.configured else [])
        url = self.found.redis_url
        if url:
            backends.delete_prefixed(url, f"cfbench-{self.run_id}:*")
            backends.delete_prefixed(url, f"cachalot-{self.run_id}:*")
            backends.delete_prefixed(url, f"cfbench-{self.run_id}:*", db=backends.CACHEOPS_REDIS_DB)
        shutil.rmtree(self.tmp, ignore_errors=True)


def importlib_missing(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is None
