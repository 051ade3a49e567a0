"""Child processes of the near-cache tests: importable before Django is set up (spawn)."""

from __future__ import annotations

import time
from typing import Any

from tests.support.redis_servers import child_setup

LABEL = "testapp.Article"


def near_reader(caches: dict[str, Any], cachefresh: dict[str, Any], conn: Any) -> None:
    """Holds one row near; for each round, reports when it first saw the new value."""
    child_setup(caches, cachefresh)
    from cachefresh import cached_get, stats
    from cachefresh import near as near_cache
    from tests.testapp.models import Article

    pk = conn.recv()
    cache = near_cache.current()
    assert cache is not None and cache.wait_serving(5)
    while True:
        expected = conn.recv()
        if expected is None:
            conn.send(stats.snapshot().get(LABEL, {}).get("near_hit", 0))
            return
        cached_get(Article, pk)
        cached_get(Article, pk)  # held near now
        conn.send("ready")
        deadline = time.monotonic() + 5
        while cached_get(Article, pk).views != expected and time.monotonic() < deadline:
            pass
        conn.send(time.monotonic())
