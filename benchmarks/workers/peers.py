"""Running a peer library (django-cacheops, django-cachalot) in its own subprocess.

Each peer patches Django's ORM for the whole process, so it gets a fresh interpreter
(``python -m benchmarks.workers.peer``) configured with the same databases, tables and Redis, and
prints its measurements as one JSON document.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from typing import Any

from benchmarks.env.backends import Pair
from benchmarks.harness.context import Context

PEERS = ("cacheops", "cachalot")
TIMEOUT_S = 180


def unavailable(peer: str, pair: Pair) -> str | None:
    """Why ``peer`` cannot run on ``pair``, or ``None``."""
    if importlib.util.find_spec(peer) is None:
        package = {"cacheops": "django-cacheops", "cachalot": "django-cachalot"}[peer]
        return f"{package} is not installed (pip install '.[bench]')"
    if peer == "cacheops" and pair.cache_alias != "redis":
        return "django-cacheops works only on Redis"
    return None


def run(ctx: Context, peer: str, pair: Pair, floors: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``floors``: per model, what the peer needs to time the same floor cachefresh was timed
    against (entry bytes, their Redis keys, the attnames, which floor bridges)."""
    spec = dict(ctx.spec, peer_db=pair.db_alias, peer_cache=pair.cache_alias)
    plan = ctx.mode.plan
    models = {name: ctx.hot_pks(_model(name.capitalize())) for name in floors}
    job = {
        "spec": spec,
        "pks": models,
        "seed": ctx.seed,
        "plan": {
            "rounds": plan.rounds,
            "warmup": plan.warmup,
            "batch_ns": plan.batch_ns,
            "max_batch": plan.max_batch,
        },
        "floors": {
            name: dict(
                floor, entries={str(pk): data.hex() for pk, data in floor["entries"].items()}
            )
            for name, floor in floors.items()
        },
    }
    try:
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.workers.peer", peer],
            input=json.dumps(job),
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish in {TIMEOUT_S} s"}
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        return {"error": f"exited with {done.returncode}: {tail[0][:200]}"}
    return json.loads(done.stdout)


def _model(name: str) -> Any:
    from benchmarks.benchapp import models

    return getattr(models, name)
