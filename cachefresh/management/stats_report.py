"""What ``manage.py cachefresh stats`` shows: the shared counters per model, and the near
cache's state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.apps import apps

from cachefresh import near, stats
from cachefresh.conf import Strategy, get_settings
from cachefresh.registry import registry
from cachefresh.store import get_store
from cachefresh.store.errors import cache_errors

COLUMNS = (
    ("hit", "hits"),
    ("miss", "misses"),
    ("fill", "fills"),
    ("miss_absent", "absent"),
    ("miss_in_transaction", "in txn"),
    ("miss_written_in_transaction", "written"),
    ("miss_cache_unavailable", "cache down"),
    ("miss_retirement_pending", "pending"),
    ("hit_after_wait", "waited"),
    ("herd_fallback", "herd db"),
    ("invalidated_rows", "inv rows"),
    ("invalidated_tables", "inv tables"),
    *((f"refresh_{s}", f"rf {s}") for s in Strategy if s is not Strategy.AUTO),
)


@dataclass
class StatsReport:
    per_model: dict[str, dict[str, int]]
    near: dict[str, Any] | None
    #: The names of every shared counter shown (what ``--reset`` zeroes).
    names: list[str]

    def as_json(self) -> dict[str, Any]:
        return self.per_model if self.near is None else {**self.per_model, "near": self.near}

    def lines(self) -> list[str]:
        return self._table() + ([] if self.near is None else [self._near_line(self.near)])

    def _table(self) -> list[str]:
        header = ["model", *(title for _, title in COLUMNS), "hit %"]
        rows = [header]
        for label in sorted(self.per_model):
            counts = self.per_model[label]
            reads = counts.get("hit", 0) + counts.get("miss", 0)
            ratio = f"{100 * counts.get('hit', 0) / reads:.1f}" if reads else "-"
            rows.append([label, *(str(counts.get(event, 0)) for event, _ in COLUMNS), ratio])
        if len(rows) == 1:
            return ["No cachefresh activity recorded yet."]
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        lines = []
        for row in rows:
            cells = [row[0].ljust(widths[0])]
            cells += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
            lines.append("  ".join(cells).rstrip())
        return lines

    def _near_line(self, counts: dict[str, Any]) -> str:
        hits = sum(c.get("near_hit", 0) for c in self.per_model.values())
        misses = sum(c.get("near_miss", 0) for c in self.per_model.values())
        tracking = counts["tracking_processes"]
        return (
            f"near cache: on (MAX_ENTRIES {counts['max_entries']}, MAX_LAG {counts['max_lag']} s); "
            f"near hits {hits}, near misses {misses}, flushes {counts.get('near_flush', 0)}, "
            f"tracking connected {counts.get('near_tracking_up', 0)} times, "
            f"lost {counts.get('near_tracking_lost', 0)} times; processes tracking now: "
            f"{'unknown (cache unreachable)' if tracking is None else tracking}"
        )


def gather() -> StatsReport:
    stats.flush()
    cached = registry.cached_models()
    tables = {model._meta.db_table: model._meta.label for model in cached}
    # Proxies too: smart_refresh() counts under the class of the instance it refreshed.
    labels = [m._meta.label for m in apps.get_models() if m._meta.concrete_model in cached]
    names = [*labels, *tables]
    per_model = _merge(stats.shared_snapshot(names), tables)
    return StatsReport(per_model, _near_stats(), [*names, near.STATS_NAME])


def _near_stats() -> dict[str, Any] | None:
    """The near cache's setting, process-wide counters, and how many processes track now."""
    settings_now = get_settings()
    if settings_now.near_cache is None:
        return None
    counts: dict[str, Any] = dict(stats.shared_snapshot([near.STATS_NAME]).get(near.STATS_NAME, {}))
    counts["max_entries"] = settings_now.near_cache.max_entries
    counts["max_lag"] = settings_now.near_cache.max_lag
    try:
        tracking = get_store().store.connections_named(near.CLIENT_NAME + settings_now.key_prefix)
    except cache_errors():
        tracking = None
    counts["tracking_processes"] = tracking
    return counts


def _merge(
    snapshot: dict[str, dict[str, int]], tables: dict[str, str]
) -> dict[str, dict[str, int]]:
    """Counts per model label; invalidations, counted per table, go to the table's model."""
    merged: dict[str, dict[str, int]] = {}
    for name, counts in snapshot.items():
        into = merged.setdefault(tables.get(name, name), {})
        for event, count in counts.items():
            into[event] = into.get(event, 0) + count
    return merged
