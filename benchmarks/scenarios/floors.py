"""Scenario 3: cachefresh beside its floors and its peers, and the size of what it stores.

Floors: a raw redis-py GET of the very bytes cachefresh stored for the row, decoded and built
with ``Model.from_db``; a dict lookup of the decoded values through ``Model.from_db``; a raw
cursor single-column fetch. Peers (django-cacheops, django-cachalot) patch the ORM, so each
runs in its own subprocess (benchmarks.workers.peer) on the same tables and Redis.
"""

from __future__ import annotations

import pickle
from typing import Any

from benchmarks.benchapp.models import ONE_FIELD
from benchmarks.env.backends import Pair
from benchmarks.harness.context import Context, cycle
from benchmarks.harness.stats import bridged, median_ratio, paired_ratio
from benchmarks.harness.timing import measure
from benchmarks.parts.calls import MODELS, raw_cursor_fetch, refresh_variants, warm
from benchmarks.parts.floorcalls import DICT_FLOOR, REDIS_FLOOR, floor_calls
from benchmarks.workers import peers

NAME = "floors"
HIT = "cached_get() hit"
CURSOR_FLOOR = "raw cursor"


def _entries(model: Any, alias: str, pks: list[int]) -> dict[int, bytes]:
    """The entry bytes cachefresh holds for each row (read through its own store)."""
    from cachefresh.keys import RowKeys
    from cachefresh.registry import registry
    from cachefresh.store import get_store

    plan = registry.plan(model)
    tag = plan.table_tag(alias)
    keys = [RowKeys(tag, pk).entry for pk in pks]
    found = get_store().get_many(keys) or [None] * len(keys)
    return {pk: value for pk, value in zip(pks, found, strict=True) if type(value) is bytes}


def floor_job(model: Any, pair: Pair, pks: list[int]) -> dict[str, Any]:
    """What it takes to build the floors of ``pks``, in this process or in a peer's."""
    from django.core.cache import caches

    from cachefresh.keys import RowKeys
    from cachefresh.registry import registry

    plan = registry.plan(model)
    entries = _entries(model, pair.db_alias, pks)
    if len(entries) != len(pks):
        raise RuntimeError(f"{model.__name__}: {len(pks) - len(entries)} hot rows not cached")
    job: dict[str, Any] = {
        "names": list(plan.attnames),
        "entries": entries,
        "full_keys": None,
        "bridge": DICT_FLOOR,
    }
    if pair.cache_alias == "redis":
        cache, tag = caches[pair.cache_alias], plan.table_tag(pair.db_alias)
        job["full_keys"] = [cache.make_key(RowKeys(tag, pk).entry) for pk in pks]
        job["bridge"] = REDIS_FLOOR
    return job


def _floors(model: Any, pair: Pair, job: dict[str, Any]) -> dict[str, Any]:
    client = None
    if job["full_keys"]:
        from django_redis import get_redis_connection

        # The very redis-py client (pool, socket options) cachefresh reads through, so the
        # floor differs from a hit only by what cachefresh itself does.
        client = get_redis_connection(pair.cache_alias)
    return floor_calls(model, pair.db_alias, job["names"], job["entries"], client, job["full_keys"])


def run(ctx: Context, pair: Pair) -> None:
    hits: dict[str, dict[str, Any]] = {}
    jobs: dict[str, dict[str, Any]] = {}
    for model_name, model in MODELS.items():
        pks = ctx.hot_pks(model)
        warm(model, pair.db_alias, pks)
        job = floor_job(model, pair, pks)
        hits[model_name] = _hit_vs_floors(ctx, pair, model_name, model, pks, job)
        jobs[model_name] = job
        _one_column(ctx, pair, model_name, model, pks)
        _sizes(ctx, pair, model_name, model, pks)
    _peers(ctx, pair, hits, jobs)


def _hit_vs_floors(
    ctx: Context, pair: Pair, model_name: str, model: Any, pks: list[int], job: dict[str, Any]
) -> dict[str, Any]:
    manager = model._default_manager.db_manager(pair.db_alias)
    group = f"{model_name}, hit vs floors"
    ctx.say(f"{NAME} {pair.name}: {group}")
    hit_pk = cycle(pks)
    variants = {HIT: lambda: manager.cached_get(pk=hit_pk()), **_floors(model, pair, job)}
    summaries = measure(variants, ctx.mode.plan, ctx.rng(NAME, pair.name, group))
    ctx.results.measured(NAME, pair.name, group, summaries, model=model_name)
    for floor in (REDIS_FLOOR, DICT_FLOOR):
        if floor in summaries:
            ctx.results.ratio(
                NAME, pair.name, group, HIT, floor, paired_ratio(summaries[HIT], summaries[floor])
            )
    return {"hit": summaries[HIT], "bridge": paired_ratio(summaries[HIT], summaries[job["bridge"]])}


def _one_column(ctx: Context, pair: Pair, model_name: str, model: Any, pks: list[int]) -> None:
    group = f"{model_name}, one column"
    ctx.say(f"{NAME} {pair.name}: {group}")
    variants = refresh_variants(
        ctx, model, pair.db_alias, pks, ONE_FIELD, ("refresh_from_db", "columns")
    )
    variants[CURSOR_FLOOR] = raw_cursor_fetch(model, pair.db_alias, pks, ONE_FIELD[0])
    summaries = measure(variants, ctx.mode.plan, ctx.rng(NAME, pair.name, group))
    ctx.results.measured(NAME, pair.name, group, summaries, model=model_name)
    if "columns" in summaries:
        ctx.results.ratio(
            NAME,
            pair.name,
            group,
            "columns",
            CURSOR_FLOOR,
            paired_ratio(summaries["columns"], summaries[CURSOR_FLOOR]),
        )
        ctx.results.ratio(
            NAME,
            pair.name,
            group,
            "refresh_from_db",
            "columns",
            paired_ratio(summaries["refresh_from_db"], summaries["columns"]),
        )


def _sizes(ctx: Context, pair: Pair, model_name: str, model: Any, pks: list[int]) -> None:
    entries = _entries(model, pair.db_alias, pks)
    found = model._default_manager.using(pair.db_alias).in_bulk(pks)
    pickled = [len(pickle.dumps(found[pk], pickle.HIGHEST_PROTOCOL)) for pk in pks]
    entry_sizes = [len(data) for data in entries.values()]
    ctx.results.fact(
        NAME,
        pair.name,
        "bytes per cached row",
        model=model_name,
        cachefresh_entry=sum(entry_sizes) / len(entry_sizes),
        pickled_instance=sum(pickled) / len(pickled),
    )


def _peers(
    ctx: Context, pair: Pair, hits: dict[str, dict[str, Any]], jobs: dict[str, dict[str, Any]]
) -> None:
    if not ctx.peers:
        ctx.results.skip(NAME, "peers", "not asked for (--peers to include them)")
        return
    for peer in peers.PEERS:
        why = peers.unavailable(peer, pair)
        if why:
            ctx.results.skip(NAME, f"{peer} on {pair.name}", why)
            continue
        ctx.say(f"{NAME} {pair.name}: {peer} (subprocess)")
        outcome = peers.run(ctx, peer, pair, jobs)
        if "error" in outcome:
            ctx.results.skip(NAME, f"{peer} on {pair.name}", outcome["error"])
            continue
        for model_name in outcome["summaries"]:
            _peer_model(ctx, pair, peer, outcome, model_name, hits[model_name], jobs[model_name])


def _peer_model(
    ctx: Context,
    pair: Pair,
    peer: str,
    outcome: dict[str, Any],
    model_name: str,
    ours: dict[str, Any],
    job: dict[str, Any],
) -> None:
    """A peer's hits on one model, and their ratios to cachefresh's."""
    summary = outcome["summaries"][model_name]
    group, label = f"{model_name}, peers", f"{peer} hit"
    ctx.results.measured(
        NAME,
        pair.name,
        group,
        {label: summary},
        model=model_name,
        peer=peer,
        peer_version=outcome.get("version"),
        queries_per_hit=outcome["queries_per_hit"].get(model_name),
        floor=job["bridge"],
        floor_in_peer_process=outcome["floors"][model_name],
    )
    ctx.results.ratio(
        NAME,
        pair.name,
        group,
        label,
        HIT,
        bridged(outcome["bridges"][model_name], ours["bridge"]),
        paired=False,
        how=f"bridged: each process paired with {job['bridge']}",
    )
    ctx.results.ratio(
        NAME,
        pair.name,
        f"{model_name}, peers (raw medians)",
        label,
        HIT,
        median_ratio(summary, ours["hit"]),
        paired=False,
        how="ratio of medians",
    )
