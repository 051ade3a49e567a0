"""``python -m benchmarks.workers.peer <cacheops|cachalot>``: one peer's hits, as JSON on stdout.

Reads a job (spec, hot primary keys, measuring plan) as JSON on stdin. Runs in a process of
its own because each peer patches the ORM for its whole process.
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Callable
from typing import Any

from benchmarks.env.djangoenv import configure
from benchmarks.harness.stats import paired_ratio
from benchmarks.harness.timing import Plan, measure
from benchmarks.parts.floorcalls import floor_calls


def _hit_call(peer: str, manager: Any, pks: list[int]) -> Callable[[], Any]:
    from benchmarks.harness.context import cycle

    nxt = cycle(pks)
    if peer == "cacheops":
        return lambda: manager.cache().get(pk=nxt())
    return lambda: manager.get(pk=nxt())


def queries_per_hit(call: Callable[[], Any], alias: str, calls: int) -> float:
    """The SQL queries ``calls`` calls of ``call`` run on ``alias``, per call (0 for hits)."""
    from django.db import connections

    seen = [0]

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        seen[0] += 1
        return execute(sql, params, many, context)

    with connections[alias].execute_wrapper(count):
        for _ in range(calls):
            call()
    return seen[0] / calls


def _floor(model: Any, alias: str, floor: dict[str, Any]) -> dict[str, Callable[[], Any]]:
    client = None
    if floor["full_keys"]:
        from django_redis import get_redis_connection

        # Same client options as cachefresh's (the "redis" cache of the spec).
        client = get_redis_connection("redis")
    entries = {int(pk): bytes.fromhex(data) for pk, data in floor["entries"].items()}
    return floor_calls(model, alias, floor["names"], entries, client, floor["full_keys"])


def main(argv: list[str]) -> int:
    peer = argv[0]
    job = json.load(sys.stdin)
    spec = job["spec"]
    configure(spec, peer=peer)
    from benchmarks.benchapp.models import Narrow, Wide

    plan = Plan(**job["plan"])
    alias = spec["peer_db"]
    summaries, queries, floors, bridges = {}, {}, {}, {}
    for name, model in (("narrow", Narrow), ("wide", Wide)):
        pks = job["pks"][name]
        call = _hit_call(peer, model._default_manager.db_manager(alias), pks)
        for _ in range(2 * len(pks)):
            call()  # fill the peer's cache; every later call is a hit
        queries[name] = queries_per_hit(call, alias, len(pks))
        floor = job["floors"][name]
        bridge = floor["bridge"]
        variants = {"hit": call, bridge: _floor(model, alias, floor)[bridge]}
        rng = random.Random(f"{job['seed']}:peer:{peer}:{name}")
        measured = measure(variants, plan, rng)
        summaries[name], floors[name] = measured["hit"], measured[bridge]
        bridges[name] = paired_ratio(measured["hit"], measured[bridge])
    from importlib import metadata

    package = {"cacheops": "django-cacheops", "cachalot": "django-cachalot"}[peer]
    json.dump(
        {
            "floors": floors,
            "bridges": bridges,
            "peer": peer,
            "version": metadata.version(package),
            "summaries": summaries,
            "queries_per_hit": queries,
        },
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
