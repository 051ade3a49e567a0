"""Scenario 5: correctness under load, for cachefresh and for the peers.

The stale-set storm (rows left stale once writes stop) and the thundering herd (database
queries for one cold row under concurrent readers) run each library in processes of its own
(:mod:`benchmarks.parts.storm`, :mod:`benchmarks.parts.herd`).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from benchmarks.env.backends import POSTGRES_REDIS, Pair
from benchmarks.harness.context import Context

NAME = "load"
LIBRARIES = ("cachefresh", "cacheops", "cachalot")


def run(ctx: Context, pair: Pair) -> None:
    if pair != POSTGRES_REDIS:
        ctx.results.skip(
            NAME,
            f"storm and herd on {pair.name}",
            "run on PostgreSQL + Redis only (several processes share them)",
        )
        return
    # Imported here: both need psycopg, which the embedded pair does not.
    from benchmarks.parts.herd import run_herd
    from benchmarks.parts.storm import run_storm

    servers = {"database": dict(ctx.spec["pg"]), "redis_url": ctx.spec["redis_url"]}
    jobs = {
        "storm": lambda library: run_storm(
            library, episodes=ctx.mode.storm_episodes, seed=ctx.seed, **servers
        ),
        "herd": lambda library: run_herd(
            library,
            readers=ctx.mode.herd_readers,
            processes=min(4, ctx.mode.herd_readers),
            **servers,
        ),
    }
    libraries = LIBRARIES if ctx.peers and ctx.mode.load_peers else LIBRARIES[:1]
    for name, job in jobs.items():
        if libraries != LIBRARIES:
            why = "not asked for" if not ctx.peers else f"not in {ctx.mode.name} mode"
            ctx.results.skip(NAME, f"{name} with the peers", why)
        for library in libraries:
            ctx.say(f"{NAME} {pair.name}: {name}, {library}")
            try:
                result = job(library)
            except Exception as exc:  # one library failing must not hide the others
                ctx.results.skip(
                    NAME, f"{name} with {library}", f"{type(exc).__name__}: {str(exc)[:200]}"
                )
                continue
            if result.skipped:
                ctx.results.skip(NAME, f"{name} with {library}", result.skipped)
                continue
            ctx.results.fact(NAME, pair.name, name, **_plain(result))


def _plain(result: Any) -> dict[str, Any]:
    plain = asdict(result)
    if "queries" in plain:
        # The herd reports queries per round; its verdict is on the worst round.
        plain["max_queries"] = result.max_queries
    return plain
