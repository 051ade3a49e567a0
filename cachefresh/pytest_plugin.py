"""pytest fixtures for projects that use cachefresh, loaded by the ``pytest11`` entry point:

```python
def test_post_page(client, django_assert_num_queries, cachefresh_assert_hits):
    with django_assert_num_queries(0), cachefresh_assert_hits(1):
        client.get("/posts/hello/")
```

``cachefresh_assert_events(hits=…, misses=…, fills=…, model=…)`` checks any of the counts.
Both are :func:`cachefresh.test.assert_cache_events`; see :mod:`cachefresh.test`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from cachefresh.test import assert_cache_events


@pytest.fixture
def cachefresh_assert_hits() -> Callable[..., Any]:
    """``cachefresh_assert_hits(num, model=None)``: a context manager failing unless the block
    had exactly ``num`` cache hits."""

    def assert_hits(num: int, *, model: Any = None) -> Any:
        return assert_cache_events(hits=num, model=model)

    return assert_hits


@pytest.fixture
def cachefresh_assert_events() -> Callable[..., Any]:
    """``cachefresh_assert_events(hits=None, misses=None, fills=None, model=None)``."""
    return assert_cache_events
