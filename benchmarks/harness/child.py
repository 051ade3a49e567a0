"""Scenarios that run in a process of their own: ``python -m benchmarks.harness.child NAME``.

The near cache, the lookups, the invalidation log and Django's own suite each need a Django
configured differently from the suite's (the test app, the near cache on, a model of their
own), and Django is configured once per process. So the run starts a child process per such
scenario, hands it a :class:`Job` on stdin, and the child calls the scenario module's
``measure(job, results)``. What it measured (measurements, ratios, facts, what it skipped)
comes back as JSON and joins the run's results: the targets, the report and the charts are
the run's, as for every other scenario.

The servers are the run's (``--database-url``, ``--redis-url``), handed down in the
environment variables the test settings and the labs read (``CACHEFRESH_PG_HOST`` and the
rest), so that the child's own worker processes inherit them too.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import random
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from benchmarks.env.backends import POSTGRES_REDIS, Pair, pg_params
from benchmarks.harness.context import Context
from benchmarks.harness.results import Results

#: Long enough for --full; a child stuck longer than this is stopped and its scenario failed.
TIMEOUT_S = 3600
S = TypeVar("S")


@dataclass(frozen=True)
class Job:
    """What a child is asked to measure, and how much."""

    scenario: str
    #: The mode's name: each scenario sizes itself per mode (its ``SIZES``).
    mode: str
    seed: int
    #: The backend pair's name, as the records name it.
    backend: str
    #: ``--rounds``, when given: the rounds of every interleaved measurement.
    rounds: int | None = None
    peers: bool = True
    output: str = "bench-results"
    #: The options of the command line a scenario reads (``--django-tests`` and the like).
    options: dict[str, Any] = field(default_factory=dict)

    def sizes(self, table: dict[str, S]) -> S:
        """This mode's sizes from ``table`` (a dataclass with ``rounds``), ``--rounds`` applied."""
        chosen = table[self.mode]
        return dataclasses.replace(chosen, rounds=self.rounds) if self.rounds else chosen  # type: ignore[type-var]

    def rng(self, *parts: object) -> random.Random:
        """A generator seeded by the run's seed and ``parts``, as the harness's own."""
        return random.Random(":".join(str(part) for part in (self.seed, *parts)))


def run(ctx: Context, pair: Pair, scenario: Any) -> None:
    """Run ``scenario`` in a child, once: on PostgreSQL + Redis when it needs servers."""
    target = POSTGRES_REDIS if scenario.servers else ctx.pairs[0]
    if target not in ctx.pairs:
        if pair == ctx.pairs[0]:
            ctx.results.skip(scenario.name, scenario.title, "needs PostgreSQL and Redis")
        return
    if pair != target:
        return
    ctx.say(f"{scenario.name}: in a process of its own")
    job = Job(
        scenario=scenario.name,
        mode=ctx.mode.name,
        seed=ctx.seed,
        backend=pair.name,
        rounds=ctx.mode.rounds,
        peers=ctx.peers,
        output=str(ctx.out_dir),
        options=ctx.options,
    )
    ctx.results.merge(_spawn(job, _environment(ctx.spec)))


def _environment(spec: dict[str, Any]) -> dict[str, str]:
    env = dict(os.environ)
    if spec.get("database_url"):
        pg = pg_params(spec["database_url"])
        env.update(
            CACHEFRESH_PG_HOST=str(pg["host"]),
            CACHEFRESH_PG_PORT=str(pg["port"]),
            CACHEFRESH_PG_USER=str(pg["user"]),
            CACHEFRESH_PG_PASSWORD=str(pg["password"]),
            CACHEFRESH_PG_DBNAME=str(pg["dbname"]),
        )
    if spec.get("redis_url"):
        env["CACHEFRESH_REDIS_URL"] = spec["redis_url"]
    return env


def _spawn(job: Job, env: dict[str, str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="cachefresh-bench-child-") as tmp:
        out = Path(tmp) / "part.json"
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.harness.child", str(out)],
            input=json.dumps(dataclasses.asdict(job)),
            capture_output=True,
            text=True,
            env=env,
            timeout=TIMEOUT_S,
            check=False,
        )
        if done.returncode != 0 or not out.exists():
            tail = "\n".join(done.stderr.strip().splitlines()[-6:]) or "no output"
            raise RuntimeError(f"{job.scenario} exited with {done.returncode}: {tail}")
        return dict(json.loads(out.read_text()))


def main(argv: list[str]) -> int:
    """The child: read the job, measure, write what was measured to ``argv[0]``."""
    job = Job(**json.load(sys.stdin))
    results = Results(settings={})
    importlib.import_module(f"benchmarks.scenarios.{job.scenario}").measure(job, results)
    Path(argv[0]).write_text(json.dumps(results.part(), default=str))
    return 0


# Guarded: the scenarios' worker processes started with "spawn" import this as __mp_main__.
if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
