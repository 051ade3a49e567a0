"""Scenario 7: what the statement net costs. Each workload runs with the net on the connection
and with it taken off, in the same shuffled rounds: a pk ``get()`` (a plain SELECT), a
``cached_get()`` miss (token round trip, SELECT, fill), an ORM single-row update (the compiler
hook accounts for it, so the net only lets it pass), and a raw single-row UPDATE on a cursor
(the net retires the table: that round trip is the price of seeing the write at all).

The net is taken off by emptying the connection's ``execute_wrappers``, Django's own list: the
benchmark touches nothing of cachefresh's but its public API.
"""

from __future__ import annotations

from typing import Any

from django.db import connections
from django.db.models import F

from benchmarks.env.backends import Pair
from benchmarks.harness.context import Context, cycle
from benchmarks.harness.timing import Variant, measure, paired_ratio
from benchmarks.scenarios.common import MODELS, warm

NAME = "net"
ON, OFF = "net on", "net off"


def run(ctx: Context, pair: Pair) -> None:
    model = MODELS["narrow"]
    alias = pair.db_alias
    connection = connections[alias]
    connection.ensure_connection()  # opening it installs the net
    wrappers = list(connection.execute_wrappers)
    if not wrappers:
        raise RuntimeError("no statement net on the connection: is cachefresh installed?")

    def net(on: bool) -> None:
        connection.execute_wrappers[:] = wrappers if on else []

    try:
        for group, make in _WORKLOADS.items():
            ctx.say(f"{NAME} {pair.name}: {group}")
            variants = {
                f"{group}, {state}": make(ctx, model, alias, lambda on=(state == ON): net(on))
                for state in (ON, OFF)
            }
            summaries = measure(variants, ctx.mode.plan, ctx.rng(NAME, pair.name, group))
            ctx.results.measured(NAME, pair.name, group, summaries, model="narrow")
            on, off = (summaries[f"{group}, {state}"] for state in (ON, OFF))
            ctx.results.ratio(
                NAME, pair.name, group, f"{group}, {ON}", f"{group}, {OFF}", paired_ratio(on, off)
            )
    finally:
        net(True)


def _get(ctx: Context, model: Any, alias: str, setup: Any) -> Variant:
    manager = model._default_manager.db_manager(alias)
    nxt = cycle(ctx.hot_pks(model, None, NAME, "get"))
    return Variant(lambda: manager.get(pk=nxt()), setup)


def _miss(ctx: Context, model: Any, alias: str, setup: Any) -> Variant:
    from cachefresh import invalidate

    manager = model._default_manager.db_manager(alias)
    pks = ctx.hot_pks(model, None, NAME, "miss")
    warm(model, alias, pks)
    nxt, pending = cycle(pks), [0]

    def retire_then_set_net() -> None:
        pending[0] = nxt()
        invalidate(model, pending[0], using=alias)  # untimed: the timed read must refill
        setup()

    return Variant(lambda: manager.cached_get(pk=pending[0]), retire_then_set_net)


def _orm_update(ctx: Context, model: Any, alias: str, setup: Any) -> Variant:
    manager = model._default_manager.db_manager(alias)
    nxt = cycle(ctx.hot_pks(model, None, NAME, "orm"))
    return Variant(lambda: manager.filter(pk=nxt()).update(counter=F("counter") + 1), setup)


def _raw_update(ctx: Context, model: Any, alias: str, setup: Any) -> Variant:
    connection = connections[alias]
    quote = connection.ops.quote_name
    table, column = quote(model._meta.db_table), quote("counter")
    sql = f"UPDATE {table} SET {column} = {column} + 1 WHERE id = %s"
    nxt = cycle(ctx.hot_pks(model, None, NAME, "raw"))

    def update() -> None:
        with connection.cursor() as cursor:
            cursor.execute(sql, [nxt()])

    return Variant(update, setup)


_WORKLOADS = {
    "get(pk)": _get,
    "cached_get() miss": _miss,
    "ORM update, one row": _orm_update,
    "raw UPDATE, one row": _raw_update,
}
