"""One run of the suite: the space it takes on the servers, the scenarios, and giving it back."""

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

from benchmarks.env import backends


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
            spec["database_url"] = self.found.database_url
            if any(s.name == "latency" for s in self.scenarios):
                self._start_proxies(spec)
        return spec

    def _start_proxies(self, spec: dict[str, Any]) -> None:
        pg = spec["pg"]
        redis_host, redis_port = backends.redis_hostport(spec["redis_url"])
        wanted = []
        for delay in self.mode.delays_ms:
            wanted.append([f"db:{delay}", pg["host"], pg["port"], delay])
            wanted.append([f"cache:{delay}", redis_host, redis_port, delay])
        self.proxyhost = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.env.proxyhost"],
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
        from benchmarks.env.djangoenv import configure
        from benchmarks.harness import charts, console, report, targets

        spec = self.spec()
        configure(spec)
        self.configured = True
        results = self._results()
        if any(not s.own_process for s in self.scenarios):
            self._fill()
        failures = self._scenarios(spec, results)
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

    def _results(self) -> Any:
        from benchmarks.harness.results import Results

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
        return results

    def _fill(self) -> None:
        """The benchmark tables on every pair, for the scenarios run in this process."""
        from benchmarks.env import data

        for pair in self.found.pairs:
            data.create_tables(pair.db_alias)
            data.fill(pair.db_alias, self.mode.narrow_rows, self.mode.wide_rows, self.args.seed)

    def _scenarios(self, spec: dict[str, Any], results: Any) -> int:
        """Every scenario on every pair; how many failed (each recorded as not measured)."""
        from benchmarks.harness import console
        from benchmarks.harness.context import Context, cache_in_use

        ctx = Context(
            mode=self.mode,
            pairs=self.found.pairs,
            spec=spec,
            results=results,
            seed=self.args.seed,
            out_dir=self.args.output,
            peers=self.args.peers,
            options={
                "django_tests": self.args.django_tests and str(self.args.django_tests),
                "django_labels": self.args.django_labels,
                "django_args": self.args.django_args,
            },
        )
        failures = 0
        tasks = [(s, p) for s in self.scenarios for p in self.found.pairs]
        with console.progress(self.console) as bar:
            task = bar.add_task("", total=len(tasks), step="")
            ctx.say = lambda text: bar.update(task, description=text)
            for scenario, pair in tasks:
                bar.update(task, step=scenario.label)
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
        return failures

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
            from benchmarks.env.data import tables

            self.pg_space.release(tables() if self.configured else [])
        url = self.found.redis_url
        if url:
            backends.delete_prefixed(url, f"cfbench-{self.run_id}:*")
            backends.delete_prefixed(url, f"cachalot-{self.run_id}:*")
            backends.delete_prefixed(url, f"cfbench-{self.run_id}:*", db=backends.CACHEOPS_REDIS_DB)
        shutil.rmtree(self.tmp, ignore_errors=True)
