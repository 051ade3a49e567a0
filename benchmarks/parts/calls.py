"""Pieces several scenarios share: the refresh variants, floors, and the model/field matrix."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import connections

from benchmarks.benchapp.models import ONE_FIELD, THREE_FIELDS, Narrow, Wide
from benchmarks.harness.context import Context, cycle
from benchmarks.harness.targets import FIXED_STRATEGIES
from cachefresh import smart_refresh

FIELD_SETS: dict[str, list[str] | None] = {
    "1 field": ONE_FIELD,
    "3 fields": THREE_FIELDS,
    "all fields": None,
}
MODELS = {"narrow": Narrow, "wide": Wide}


def instances(model: Any, alias: str, pks: list[int]) -> list[Any]:
    """Fresh instances (each variant gets its own, so no variant warms another's objects)."""
    found = model._default_manager.using(alias).in_bulk(pks)
    return [found[pk] for pk in pks]


def warm(model: Any, alias: str, pks: list[int]) -> None:
    """Fill the cache for ``pks`` and check that they now hit."""
    manager = model._default_manager.db_manager(alias)
    manager.cached_get_many(pks)
    manager.cached_get_many(pks)


def refresh_variants(
    ctx: Context,
    model: Any,
    alias: str,
    pks: list[int],
    fields: list[str] | None,
    strategies: tuple[str, ...],
) -> dict[str, Callable[[], Any]]:
    """One zero-argument call per way of refreshing, each cycling over its own instances."""
    variants: dict[str, Callable[[], Any]] = {}
    if "refresh_from_db" in strategies:
        nxt = cycle(instances(model, alias, pks))
        variants["refresh_from_db"] = lambda: nxt().refresh_from_db(fields=fields)
    for strategy in strategies:
        if strategy != "refresh_from_db":
            variants[strategy] = _refresh_call(
                cycle(instances(model, alias, pks)), fields, strategy
            )
    return variants


def _refresh_call(
    nxt: Callable[[], Any], fields: list[str] | None, strategy: str
) -> Callable[[], Any]:
    # A function of its own: each variant's lambda must bind its own strategy and instances.
    return lambda: smart_refresh(nxt(), fields, strategy=strategy)


def raw_cursor_fetch(model: Any, alias: str, pks: list[int], field: str) -> Callable[[], Any]:
    """The hand-written floor of a one-column refresh: SELECT one column by pk, set it."""
    meta = model._meta
    column = meta.get_field(field).column
    connection = connections[alias]
    quote = connection.ops.quote_name
    sql = f"SELECT {quote(column)} FROM {quote(meta.db_table)} WHERE {quote(meta.pk.column)} = %s"
    nxt = cycle(instances(model, alias, pks))
    attname = meta.get_field(field).attname

    def fetch() -> None:
        instance = nxt()
        with connection.cursor() as cursor:
            cursor.execute(sql, (instance.pk,))
            setattr(instance, attname, cursor.fetchone()[0])

    return fetch


def best_fixed(summaries: dict[str, dict[str, Any]]) -> str:
    return min(FIXED_STRATEGIES, key=lambda name: summaries[name]["median_ns"])
