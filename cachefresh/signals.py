"""Signals sent by cachefresh; each carries ``sender`` (the model class) and ``using``.

Senders check ``signal.receivers`` before building arguments, so an unobserved signal costs one
attribute read on the read path.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from typing import Any

from django.apps import apps
from django.db.models import Model
from django.dispatch import Signal

logger = logging.getLogger("cachefresh")

#: A read served from the cache. Extra argument: ``pk``.
cache_hit = Signal()
#: A read the cache could not serve. Extra arguments: ``pk`` and ``reason``, one of
#: :data:`MISS_REASONS`.
cache_miss = Signal()
#: A row read from the database was stored in the cache (after a miss, by ``smart_refresh``
#: or ``smart_refresh_many``): one per row. Extra argument: ``pk``.
cache_fill = Signal()
#: Cached rows were retired: sent once per table after the write committed. Extra arguments:
#: ``table`` and ``pks`` (a list, or ``None`` when every row of the table was retired).
#: ``sender`` is the concrete model that owns ``table``.
invalidated = Signal()
#: ``smart_refresh()`` chose a strategy. Extra arguments: ``instance``, ``strategy``, ``fields``.
refreshed = Signal()

#: Why a read missed: no valid entry (absent, evicted or retired); the cache did not answer;
#: the read ran inside a transaction (nothing read there is stored); the transaction itself
#: wrote the model (the database is read); a retirement of the row is still queued.
MISS_REASONS = (
    "absent",
    "cache_unavailable",
    "in_transaction",
    "written_in_transaction",
    "retirement_pending",
)


def report_miss(model: type[Model], using: str, pks: Sequence[Any], reason: str) -> None:
    """Log a miss (debug) and send :data:`cache_miss` for each pk, when anyone listens."""
    if logger.isEnabledFor(logging.DEBUG):
        shown = ", ".join(map(repr, pks[:5])) + (", …" if len(pks) > 5 else "")
        logger.debug("cachefresh: miss on %s pk %s (%s)", model._meta.label, shown, reason)
    if cache_miss.receivers:
        for pk in pks:
            cache_miss.send(model, using=using, pk=pk, reason=reason)


def report_fill(model: type[Model], using: str, pks: Sequence[Any]) -> None:
    """Send :data:`cache_fill` for each pk stored, when anyone listens."""
    if cache_fill.receivers:
        for pk in pks:
            cache_fill.send(model, using=using, pk=pk)


def report_invalidated(using: str, table: str, pks: list[Any] | None) -> None:
    """Send :data:`invalidated` for one table; the caller checks ``invalidated.receivers``."""
    model = _model_of_table().get(table)
    if model is not None:
        invalidated.send(model, using=using, table=table, pks=pks)


def forget_models() -> None:
    """The installed apps changed: rebuild the table -> model map on next use."""
    _model_of_table.cache_clear()


@functools.cache
def _model_of_table() -> dict[str, type[Model]]:
    # Concrete models only: a proxy shares its table but does not own it.
    return {
        model._meta.db_table: model
        for model in apps.get_models()
        if not model._meta.proxy and model._meta.managed
    }
