"""Turn claimed log rows into retirements: the only place the log calls cachefresh's internals
(an import-linter contract holds every other module of the log to that).

A log row names a table and its primary key as text. The table maps to its family (the tables
sharing rows by multi-table inheritance); the text goes back through the pk field and the read
path's own normalisation, so the retired token is the one readers check.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.db.models import Model

from cachefresh import retire
from cachefresh.conf import get_settings
from cachefresh.plans import ModelPlan
from cachefresh.registry import registry
from cachefresh.store import get_store

log = logging.getLogger("cachefresh.dblog")


class Undelivered(Exception):
    """The cache did not take the retirements: the rows must stay in the log."""


def delivered() -> bool:
    # This worker retires nothing else, so a held retirement in the outbox is one of ours; it
    # lives only in memory, so the log rows are the durable copy until the cache has it.
    return not get_store().outbox


def cached_models() -> frozenset[type[Model]]:
    """The models the log must cover."""
    return registry.cached_models()


def notify() -> bool:
    """``CACHEFRESH["LOG_NOTIFY"]``: whether triggers wake listeners where they can."""
    return get_settings().log_notify


def replicas() -> frozenset[str]:
    """The aliases that are replicas (``CACHEFRESH["REPLICAS"]``): their log is the primary's."""
    return frozenset(get_settings().replicas)


def family_plans() -> dict[str, ModelPlan]:
    """The plan of a cached model for every table that shares rows with one."""
    plans: dict[str, ModelPlan] = {}
    for model in registry.cached_models():
        plan = registry.plan(model)
        for table in plan.family:
            plans.setdefault(table, plan)
    return plans


def _pk(plan: ModelPlan, text: str, alias: str) -> Any:
    return plan.normalize_pk(plan.pk_field.to_python(text), alias)


def retire_rows(alias: str, rows: Iterable[tuple[str, str | None]]) -> int:
    """Retire every ``(table, pk text or None)``; how many rows or tables were retired.

    Raises :class:`Undelivered` when the cache did not take them all.
    """
    plans = family_plans()
    pending: dict[tuple[str, ...], set[Any] | None] = {}
    for table, text in rows:
        plan = plans.get(table)
        if plan is None:
            log.warning("log row for %s, which is not cached: dropped", table)
            continue
        pks = pending.setdefault(plan.family, set())
        if pks is None:
            continue  # the whole family goes anyway
        if text is None:
            pending[plan.family] = None
            continue
        try:
            pks.add(_pk(plan, text, alias))
        except Exception as exc:
            # Safe either way: a key we cannot name is retired with its whole table.
            log.warning(
                "cannot read primary key %r of %s (%s): retiring the table", text, table, exc
            )
            pending[plan.family] = None
    retirement = retire.Retirement(alias)
    for family, family_pks in pending.items():
        retirement.add(retire.rows(alias, family, family_pks))
    # A log row names a row, not the values written to it: any unique value may have moved.
    written = {table for family in pending for table in family}
    for model in registry.cached_models():
        cached = registry.plan(model)
        if cached.table in written:
            retirement.add(retire.every_index(cached, alias))
    # The log's rows are committed writes: deliver now, whatever this connection is doing.
    retire.deliver(retirement)
    if not delivered():
        raise Undelivered("the cache did not take the retirements")
    return sum(1 if pks is None else len(pks) for pks in pending.values())
