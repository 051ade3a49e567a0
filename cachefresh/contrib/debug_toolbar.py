"""A django-debug-toolbar panel listing the cache hits, misses, invalidations and refresh
strategies of one request.

Add ``"cachefresh.contrib.debug_toolbar.CacheFreshPanel"`` to ``DEBUG_TOOLBAR_PANELS``.
Events are collected from cachefresh's signals into a context variable that the panel sets for
the request, so concurrent requests (threads or async tasks) never see each other's events.
The receivers are connected only while some request is instrumented: elsewhere, and between
toolbar requests, the read path keeps its no-receiver fast path, and async hits their event
loop.
"""

from __future__ import annotations

import contextvars
import threading
from collections import Counter
from typing import Any

from debug_toolbar.panels import Panel
from django.http import HttpRequest, HttpResponse
from django.utils.html import format_html, format_html_join

from cachefresh import signals

Event = dict[str, str]

_events: contextvars.ContextVar[list[Event] | None] = contextvars.ContextVar(
    "cachefresh_toolbar_events", default=None
)


def _collect(kind: str, sender: Any, using: str, detail: str, pk: Any = "") -> None:
    events = _events.get()
    if events is not None:
        label = sender._meta.label if hasattr(sender, "_meta") else str(sender)
        events.append(
            {"kind": kind, "model": label, "pk": repr(pk), "using": using, "detail": detail}
        )


def _on_hit(sender: Any, using: str, pk: Any, **kwargs: Any) -> None:
    _collect("hit", sender, using, "", pk)


def _on_miss(sender: Any, using: str, pk: Any, reason: str, **kwargs: Any) -> None:
    _collect("miss", sender, using, reason, pk)


def _on_invalidated(sender: Any, using: str, table: str, pks: Any, **kwargs: Any) -> None:
    detail = f"{table}: every row" if pks is None else f"{table}: {len(pks)} row(s)"
    _collect("invalidated", sender, using, detail)


def _on_refreshed(sender: Any, instance: Any, strategy: Any, **kwargs: Any) -> None:
    using = getattr(getattr(instance, "_state", None), "db", None) or ""
    _collect("refresh", sender, using, str(strategy), getattr(instance, "pk", ""))


class _Receivers:
    """The panel's receivers, connected while at least one request is instrumented."""

    CONNECTED = (
        (signals.cache_hit, _on_hit),
        (signals.cache_miss, _on_miss),
        (signals.invalidated, _on_invalidated),
        (signals.refreshed, _on_refreshed),
    )

    def __init__(self) -> None:
        self._requests = 0
        self._lock = threading.Lock()

    def enter(self) -> None:
        with self._lock:
            self._requests += 1
            if self._requests == 1:
                for signal, receiver in self.CONNECTED:
                    signal.connect(receiver)

    def leave(self) -> None:
        with self._lock:
            self._requests -= 1
            if self._requests == 0:
                for signal, receiver in self.CONNECTED:
                    signal.disconnect(receiver)


_receivers = _Receivers()


class CacheFreshPanel(Panel):
    """Hits, misses (with reasons), invalidations and refresh strategies of the request."""

    title = "cachefresh"
    nav_title = "cachefresh"
    _token: contextvars.Token[list[Event] | None] | None = None
    _collected: list[Event] | None = None

    def enable_instrumentation(self) -> None:
        # The toolbar calls generate_stats() after disable_instrumentation(): keep the list.
        self._collected = []
        self._token = _events.set(self._collected)
        _receivers.enter()

    def disable_instrumentation(self) -> None:
        if self._token is not None:
            _receivers.leave()
            _events.reset(self._token)
            self._token = None

    def generate_stats(self, request: HttpRequest, response: HttpResponse) -> None:
        events = list(self._collected or [])
        counts = Counter(event["kind"] for event in events)
        # debug_toolbar leaves these two methods unannotated.
        self.record_stats({"events": events, "counts": dict(counts)})  # type: ignore[no-untyped-call]

    def _stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self.get_stats()  # type: ignore[no-untyped-call]
        return stats

    @property
    def nav_subtitle(self) -> str:
        counts = self._stats().get("counts", {})
        return f"{counts.get('hit', 0)} hits, {counts.get('miss', 0)} misses"

    @property
    def content(self) -> str:
        stats = self._stats()
        events: list[Event] = stats.get("events", [])
        counts: dict[str, int] = stats.get("counts", {})
        summary = format_html_join(", ", "{} {}", ((counts.get(kind, 0), kind) for kind in _KINDS))
        if not events:
            return str(format_html("<p>{}</p><p>No cachefresh activity.</p>", summary))
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((e["kind"], e["model"], e["pk"], e["using"], e["detail"]) for e in events),
        )
        return str(
            format_html(
                "<p>{}</p><table><thead><tr><th>Event</th><th>Model</th><th>pk</th>"
                "<th>Database</th><th>Detail</th></tr></thead><tbody>{}</tbody></table>",
                summary,
                rows,
            )
        )


_KINDS = ("hit", "miss", "invalidated", "refresh")
