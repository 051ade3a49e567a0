"""Scenario 5: correctness under load, for cachefresh and for the peers.

The stale-set storm (rows left stale once writes stop) and the thundering herd (database
queries for one cold hot row under concurrent readers) are run by benchmarks.storm and
benchmarks.herd, each library in processes of its own.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import asdict, is_dataclass
from typing import Any

from benchmarks.backends import POSTGRES_REDIS, Pair
from benchmarks.context import Context

NAME = "load"
LIBRARIES = ("cachefresh", "cacheops", "cachalot")


def _runner(module: str, function: str) -> Any:
    try:
        return getattr(importlib.import_module(f"benchmarks.{module}"), function)
    except (ImportError, AttributeError):
        return None


def _plain(result: Any) -> dict[str, Any]:
    plain = asdict(result) if is_dataclass(result) and not isinstance(result, type) else {}
    if isinstance(plain.get("queries"), list):
        # The herd reports queries per round; its verdict is on the worst round.
        plain["max_queries"] = max(plain["queries"], default=0)
    return plain


def run(ctx: Context, pair: Pair) -> None:
    if pair != POSTGRES_REDIS:
        ctx.results.skip(
            NAME,
            f"storm and herd on {pair.name}",
            "run on PostgreSQL + Redis only (several processes share them)",
        )
        return
    jobs = (("storm", "run_storm"), ("herd", "run_herd"))
    for module, function in jobs:
        runner = _runner(module, function)
        if runner is None:
            ctx.results.skip(NAME, module, f"benchmarks.{module} is not available yet")
            continue
        libraries = LIBRARIES if ctx.peers and ctx.mode.load_peers else LIBRARIES[:1]
        if libraries != LIBRARIES:
            why = "not asked for" if not ctx.peers else f"not in {ctx.mode.name} mode"
            ctx.results.skip(NAME, f"{module} with the peers", why)
        for library in libraries:
            ctx.say(f"{NAME} {pair.name}: {module}, {library}")
            try:
                result = runner(library, **_arguments(ctx, runner))
            except Exception as exc:  # one library failing must not hide the others
                ctx.results.skip(
                    NAME, f"{module} with {library}", f"{type(exc).__name__}: {str(exc)[:200]}"
                )
                continue
            facts = _plain(result)
            if facts.get("skipped"):
                ctx.results.skip(NAME, f"{module} with {library}", str(facts["skipped"]))
                continue
            ctx.results.fact(NAME, pair.name, module, **facts)


def _arguments(ctx: Context, runner: Any) -> dict[str, Any]:
    """The run's servers and sizes, as far as ``runner`` takes them."""
    offered = {
        "database": dict(ctx.spec["pg"]),
        "redis_url": ctx.spec["redis_url"],
        "seed": ctx.seed,
        "episodes": ctx.mode.storm_episodes,
        "readers": ctx.mode.herd_readers,
        "processes": min(4, ctx.mode.herd_readers),
    }
    if runner.__name__ == "run_storm":
        # The storm's readers and writers are its own few hammering processes.
        del offered["readers"], offered["processes"]
    accepted = inspect.signature(runner).parameters
    return {name: value for name, value in offered.items() if name in accepted}
