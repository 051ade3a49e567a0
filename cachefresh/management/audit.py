"""A live consistency check: compare cached rows with the database, field by field.

Only the cache is read: no entry is filled, no token is created, so auditing a production cache
changes nothing in it. An entry counts only when it is *valid* (it carries the row's current
token and the table's current generation), since only those are ever served; a retired entry is
harmless garbage. A mismatch is read again after :data:`RECHECK_DELAY` before it is reported,
so a write that committed between the two reads (its retirement follows its commit) is not
mistaken for a stale entry.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Model

from cachefresh import front
from cachefresh.entries import Lookup
from cachefresh.plans import ModelPlan
from cachefresh.store import get_store

BATCH = 500
RECHECK_DELAY = 0.2


class CacheUnavailable(Exception):
    """The cache did not answer; nothing can be said about its entries."""


@dataclass(frozen=True)
class Difference:
    pk: Any
    #: ``(attname, cached value, database value)`` per differing field; empty when the row is
    #: gone from the database but a valid entry still serves it.
    fields: tuple[tuple[str, Any, Any], ...]

    def describe(self) -> str:
        if not self.fields:
            return f"pk={self.pk!r}: deleted from the database, still served from the cache"
        shown = "; ".join(f"{name}: cache {old!r} != db {new!r}" for name, old, new in self.fields)
        return f"pk={self.pk!r}: {shown}"


@dataclass
class AuditReport:
    model: type[Model]
    using: str
    checked: int = 0
    cached: int = 0
    stale: list[Difference] = field(default_factory=list)


def audit(
    model: type[Model],
    using: str,
    sample: int,
    randomly: bool = False,
    pks: Sequence[Any] = (),
) -> AuditReport:
    """Check ``pks``, or up to ``sample`` rows of ``model`` (the highest pks, or random ones).

    Rows deleted out of Django's sight can only be found by naming their pks: a sample is
    drawn from the database, where they no longer are.
    """
    route = front.route(model, using)
    plan = route.plan
    if not pks:
        queryset = model._base_manager.db_manager(using).all()
        ordered = queryset.order_by("?") if randomly else queryset.order_by("-pk")
        pks = list(ordered.values_list("pk", flat=True)[:sample])
    report = AuditReport(model, using)
    for start in range(0, len(pks), BATCH):
        batch = [plan.normalize_pk(pk, using) for pk in pks[start : start + BATCH]]
        cached = _cached_rows(plan, route.primary, batch)
        report.checked += len(batch)
        report.cached += len(cached)
        suspects = _differences(plan, using, cached)
        if suspects:
            time.sleep(RECHECK_DELAY)
            again = _cached_rows(plan, route.primary, [d.pk for d in suspects])
            report.stale += _differences(plan, using, again)
    return report


def _cached_rows(plan: ModelPlan, primary: str, pks: list[Any]) -> dict[Any, list[Any]]:
    """The values of the valid entries among ``pks``, read without filling anything."""
    lookup = Lookup.rows(plan, primary, pks)
    if not lookup.read(get_store()):
        raise CacheUnavailable
    result = {}
    for position, pk in enumerate(pks):
        values = lookup.values(position)
        if values is not None:
            result[pk] = values
    return result


def _differences(plan: ModelPlan, using: str, cached: dict[Any, list[Any]]) -> list[Difference]:
    if not cached:
        return []
    queryset = plan.model._base_manager.db_manager(using).filter(pk__in=list(cached))
    in_db = {
        plan.normalize_pk(values[plan.pk_index], using): values
        for values in queryset.order_by().values_list(*plan.attnames)
    }
    found = []
    for pk, values in cached.items():
        current = in_db.get(pk)
        if current is None:
            found.append(Difference(pk, ()))
            continue
        fields = tuple(
            (name, old, new)
            for name, old, new in zip(plan.attnames, values, current, strict=True)
            if not _same(old, new)
        )
        if fields:
            found.append(Difference(pk, fields))
    return found


def _same(cached: Any, current: Any) -> bool:
    # Binary columns come back as bytes or memoryview depending on the driver.
    if isinstance(cached, memoryview):
        cached = cached.tobytes()
    if isinstance(current, memoryview):
        current = current.tobytes()
    return bool(cached == current)
