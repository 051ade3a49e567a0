"""Prometheus metrics for cachefresh, read from its statistics at scrape time.

``register()`` adds a collector to a ``prometheus_client`` registry (the default one unless
given). Nothing is counted twice: the collector turns this process's counters
(:func:`cachefresh.stats.snapshot`) into ``cachefresh_events_total{name, event}`` when Prometheus
scrapes, so the read path pays nothing for the exporter. Run it in each process that serves
requests (prometheus_client's multiprocess mode is not needed: these are plain collectors).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import REGISTRY, CollectorRegistry, CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from cachefresh import stats


class CacheFreshCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        events = CounterMetricFamily(
            "cachefresh_events",
            "What cachefresh did, by model label (or table, for invalidations) and event: hit, "
            "miss, fill, invalidated_rows, invalidated_tables, refresh_<strategy>, ...",
            labels=("name", "event"),
        )
        for name, counts in sorted(stats.snapshot().items()):
            for event, count in sorted(counts.items()):
                events.add_metric((name, event), count)
        yield events


def register(registry: CollectorRegistry = REGISTRY) -> CacheFreshCollector:
    collector = CacheFreshCollector()
    registry.register(collector)
    return collector
