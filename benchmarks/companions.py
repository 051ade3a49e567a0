"""``python -m benchmarks.companions``: the measurements that need PostgreSQL and Redis.

Each companion is a self-contained script (its own scratch database or key prefix, removed at
the end) that prints a Markdown report; ``make bench`` runs them after the main suite, when
both servers are reachable, and keeps each report under ``bench-results/``. Without the
servers each is skipped with the reason, as the main suite skips its PostgreSQL pair.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from benchmarks.env.backends import (
    DEFAULT_DATABASE_URL,
    DEFAULT_REDIS_URL,
    pg_params,
    reachable,
    redis_hostport,
)

#: module -> what it measures
COMPANIONS = {
    "benchmarks.near_bench": "the near cache: hit cost, throughput, push delay, memory",
    "benchmarks.lookups_bench": "unique-field lookups, get_object_or_404, prefetch_cached",
    "benchmarks.dblog_bench": "the invalidation log: trigger cost, listener rate, commit delay",
}


def main(output: Path = Path("bench-results")) -> int:
    pg = pg_params(DEFAULT_DATABASE_URL)
    why = reachable(pg["host"], pg["port"]) or reachable(*redis_hostport(DEFAULT_REDIS_URL))
    failed = 0
    for module, what in COMPANIONS.items():
        if why is not None:
            print(f"skipped {module} ({what}): {why}")
            continue
        print(f"running {module}: {what}", flush=True)
        done = subprocess.run([sys.executable, "-m", module], capture_output=True, text=True)
        output.mkdir(parents=True, exist_ok=True)
        report = output / f"{module.rsplit('.', 1)[-1]}.md"
        report.write_text(done.stdout)
        print(done.stdout)
        if done.returncode != 0:
            failed += 1
            print(done.stderr, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
