"""Scenario 3: cachefresh beside its floors and its peers, and the size of what it stores.

Floors: a raw redis-py GET of the very bytes cachefresh stored for the row, decoded and built
with ``Model.from_db``; a dict lookup of the decoded values through ``Model.from_db``; a raw
cursor single-column fetch. Peers (django-cacheops, django-cachalot) patch the ORM, so each
runs in its own subprocess (benchmarks.peer) on the same tables and Redis.
"""

from __future__ import annotations

import pickle
from typing import Any

from benchmarks import peers
from benchmarks.backends import Pair
from benchmarks.benchapp.models import ONE_FIELD
from benchmarks.context import Context, cycle
from benchmarks.scenarios.common import MODELS, raw_cursor_fetch, refresh_variants, warm
from benchmarks.timing import measure, median_ratio, paired_ratio

NAME = "floors"
HIT = "cached_get() hit"
REDIS_FLOOR = "redis-py GET + decode + from_db"
DICT_FLOOR = "dict + from_db"
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


def _floors(model: Any, pair: Pair, pks: list[int]) -> dict[str, Any]:
    from django.core.cache import caches

    from cachefresh import codec
    from cachefresh.keys import RowKeys
    from cachefresh.registry import registry

    plan = registry.plan(model)
    alias, names, width = pair.db_alias, plan.attnames, len(plan.attnames)
    entries = _entries(model, alias, pks)
    decoded = {pk: codec.decode(data, width, None) for pk, data in entries.items()}
    table = {pk: values for pk, values in decoded.items() if values is not None}
    if len(table) != len(pks):
        raise RuntimeError(f"{model.__name__}: {len(pks) - len(table)} hot rows not cached")
    from_db, dict_pk = model.from_db, cycle(pks)
    floors: dict[str, Any] = {DICT_FLOOR: lambda: from_db(alias, names, table[dict_pk()])}
    if pair.cache_alias == "redis":
        from django_redis import get_redis_connection

        # The very redis-py client (pool, socket options) cachefresh reads through, so the
        # floor differs from a hit only by what cachefresh itself does.
        cache = caches[pair.cache_alias]
        client = get_redis_connection(pair.cache_alias)
        tag = plan.table_tag(alias)
        full_keys = cycle([cache.make_key(RowKeys(tag, pk).entry) for pk in pks])
        decode, get = codec.decode, client.get

        floors[REDIS_FLOOR] = lambda: from_db(alias, names, decode(get(full_keys()), width, None))
    return floors


def run(ctx: Context, pair: Pair) -> None:
    hits: dict[str, dict[str, Any]] = {}
    for model_name, model in MODELS.items():
        pks = ctx.hot_pks(model)
        warm(model, pair.db_alias, pks)
        hits[model_name] = _hit_vs_floors(ctx, pair, model_name, model, pks)
        _one_column(ctx, pair, model_name, model, pks)
        _sizes(ctx, pair, model_name, model, pks)
    _peers(ctx, pair, hits)


def _hit_vs_floors(
    ctx: Context, pair: Pair, model_name: str, model: Any, pks: list[int]
) -> dict[str, Any]:
    manager = model._default_manager.db_manager(pair.db_alias)
    group = f"{model_name}, hit vs floors"
    ctx.say(f"{NAME} {pair.name}: {group}")
    hit_pk = cycle(pks)
    variants = {HIT: lambda: manager.cached_get(pk=hit_pk()), **_floors(model, pair, pks)}
    summaries = measure(variants, ctx.mode.plan, ctx.rng(NAME, pair.name, group))
    ctx.results.measured(NAME, pair.name, group, summaries, model=model_name)
    for floor in (REDIS_FLOOR, DICT_FLOOR):
        if floor in summaries:
            ctx.results.ratio(
                NAME, pair.name, group, HIT, floor, paired_ratio(summaries[HIT], summaries[floor])
            )
    return summaries[HIT]


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


def _peers(ctx: Context, pair: Pair, hits: dict[str, dict[str, Any]]) -> None:
    if not ctx.peers:
        ctx.results.skip(NAME, "peers", "not asked for (--peers to include them)")
        return
    for peer in peers.PEERS:
        why = peers.unavailable(peer, pair)
        if why:
            ctx.results.skip(NAME, f"{peer} on {pair.name}", why)
            continue
        ctx.say(f"{NAME} {pair.name}: {peer} (subprocess)")
        outcome = peers.run(ctx, peer, pair)
        if "error" in outcome:
            ctx.results.skip(NAME, f"{peer} on {pair.name}", outcome["error"])
            continue
        for model_name, summary in outcome["summaries"].items():
            group = f"{model_name}, peers"
            label = f"{peer} hit"
            ctx.results.measured(
                NAME,
                pair.name,
                group,
                {label: summary},
                model=model_name,
                peer=peer,
                peer_version=outcome.get("version"),
                queries_per_hit=outcome["queries_per_hit"].get(model_name),
            )
            ctx.results.ratio(
                NAME,
                pair.name,
                group,
                label,
                HIT,
                median_ratio(summary, hits[model_name]),
                paired=False,
            )
