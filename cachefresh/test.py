"""Test helpers for projects that use cachefresh: what the cache did inside a block.

```python
from cachefresh.test import CaptureCacheEvents

with CaptureCacheEvents() as events:
    response = client.get(f"/posts/{post.slug}/")
assert (events.hits, events.misses, events.fills) == (1, 0, 0)
assert events.of(Post).miss_reasons == {}
```

Like Django's ``CaptureQueriesContext`` for queries, and beside it: "this view makes 0 queries
and 3 cache hits". ``assert_cache_events()`` and :class:`CacheAssertionsMixin`
(``assertCacheHits``, ``assertCacheEvents``) assert the counts, and the pytest plugin
(:mod:`cachefresh.pytest_plugin`) gives the same as fixtures.

Events come from cachefresh's signals, which every read path sends, near-cache hits included:
``cache_hit`` (a row served from the cache, or a unique lookup answered "no such row" from it,
with ``pk=None``), ``cache_miss`` (with its reason; ``pk=None`` for a unique lookup whose row
was not known yet) and ``cache_fill`` (a row stored). They are counted from every thread of the
process while the block runs, as the signals are sent; ``smart_refresh()`` is reported by the
``refreshed`` signal instead, and its fills as fills.
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from django.db.models import Model

from cachefresh.signals import cache_fill, cache_hit, cache_miss


@dataclass(frozen=True)
class CacheEvent:
    #: "hit", "miss" or "fill".
    kind: str
    #: The label of the model the read asked for (a proxy's own label).
    model: str
    using: str
    pk: Any
    #: Why a miss missed (:data:`cachefresh.signals.MISS_REASONS`); ``None`` for the others.
    reason: str | None = None

    def __str__(self) -> str:
        why = f" ({self.reason})" if self.reason else ""
        return f"{self.kind} {self.model} pk={self.pk!r} on {self.using!r}{why}"


@dataclass
class CacheCounts:
    """How many hits, misses and fills, and why the misses missed."""

    hits: int = 0
    misses: int = 0
    fills: int = 0
    miss_reasons: Counter[str] = field(default_factory=Counter)

    @classmethod
    def of(cls, events: list[CacheEvent]) -> CacheCounts:
        kinds = Counter(event.kind for event in events)
        reasons = Counter(event.reason for event in events if event.reason is not None)
        return cls(kinds["hit"], kinds["miss"], kinds["fill"], reasons)


class CaptureCacheEvents:
    """Record cachefresh's hits, misses and fills while the ``with`` block runs."""

    def __init__(self) -> None:
        self.events: list[CacheEvent] = []
        self._lock = threading.Lock()
        self._uid = f"cachefresh.test.{id(self)}"

    def __enter__(self) -> CaptureCacheEvents:
        self.events = []
        cache_hit.connect(self._on_hit, weak=False, dispatch_uid=self._uid)
        cache_miss.connect(self._on_miss, weak=False, dispatch_uid=self._uid)
        cache_fill.connect(self._on_fill, weak=False, dispatch_uid=self._uid)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for signal in (cache_hit, cache_miss, cache_fill):
            signal.disconnect(dispatch_uid=self._uid)

    @property
    def hits(self) -> int:
        return self.counts().hits

    @property
    def misses(self) -> int:
        return self.counts().misses

    @property
    def fills(self) -> int:
        return self.counts().fills

    @property
    def miss_reasons(self) -> Counter[str]:
        return self.counts().miss_reasons

    @property
    def by_model(self) -> dict[str, CacheCounts]:
        """The counts of each model label that had an event."""
        labels = dict.fromkeys(event.model for event in self.events)
        return {label: self.of(label) for label in labels}

    def counts(self) -> CacheCounts:
        return CacheCounts.of(self.events)

    def of(self, model: type[Model] | str) -> CacheCounts:
        """The counts of one model, given by class or by label (``"shop.Product"``)."""
        label = model if isinstance(model, str) else model._meta.label
        return CacheCounts.of([event for event in self.events if event.model == label])

    def __str__(self) -> str:
        return "\n".join(f"{n}. {event}" for n, event in enumerate(self.events, 1)) or "(none)"

    def _record(self, kind: str, sender: type[Model], using: str, pk: Any, reason: Any) -> None:
        # Receivers run in whichever thread read: keep appends and reads of the list whole.
        with self._lock:
            self.events.append(CacheEvent(kind, sender._meta.label, using, pk, reason))

    def _on_hit(self, sender: type[Model], using: str, pk: Any, **kwargs: Any) -> None:
        self._record("hit", sender, using, pk, None)

    def _on_miss(self, sender: type[Model], using: str, pk: Any, reason: str, **kw: Any) -> None:
        self._record("miss", sender, using, pk, reason)

    def _on_fill(self, sender: type[Model], using: str, pk: Any, **kwargs: Any) -> None:
        self._record("fill", sender, using, pk, None)


@contextlib.contextmanager
def assert_cache_events(
    *,
    hits: int | None = None,
    misses: int | None = None,
    fills: int | None = None,
    model: type[Model] | str | None = None,
) -> Iterator[CaptureCacheEvents]:
    """Fail with an ``AssertionError`` listing every event unless the block had exactly these
    counts (of ``model`` alone, when given); a count left ``None`` is not checked."""
    with CaptureCacheEvents() as events:
        yield events
    got = events.counts() if model is None else events.of(model)
    expected = {"hits": hits, "misses": misses, "fills": fills}
    wrong = [
        f"{count} {name} (expected {want})"
        for name, want in expected.items()
        if want is not None and (count := getattr(got, name)) != want
    ]
    if wrong:
        scope = (
            "" if model is None else f" of {model if isinstance(model, str) else model._meta.label}"
        )
        raise AssertionError(f"cachefresh{scope}: {', '.join(wrong)}. Events:\n{events}")


class CacheAssertionsMixin:
    """For ``SimpleTestCase``, ``TestCase`` and ``TransactionTestCase`` subclasses; each method
    takes a callable, as ``assertNumQueries`` does, or returns a context manager."""

    def assertCacheHits(
        self,
        num: int,
        func: Callable[..., Any] | None = None,
        *args: Any,
        model: type[Model] | str | None = None,
        **kwargs: Any,
    ) -> Any:
        return self.assertCacheEvents(func, *args, hits=num, model=model, **kwargs)

    def assertCacheEvents(
        self,
        func: Callable[..., Any] | None = None,
        *args: Any,
        hits: int | None = None,
        misses: int | None = None,
        fills: int | None = None,
        model: type[Model] | str | None = None,
        **kwargs: Any,
    ) -> Any:
        context = assert_cache_events(hits=hits, misses=misses, fills=fills, model=model)
        if func is None:
            return context
        with context:
            return func(*args, **kwargs)
