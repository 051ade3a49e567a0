"""The floors as zero-argument calls, built the same way in the main process and in a peer's.

A peer runs in another process, so its hits cannot share rounds with cachefresh's. Both
processes therefore also time the same floor, interleaved with their own hits, and the peer's
ratio to cachefresh is bridged through it: (peer / floor) / (cachefresh / floor).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benchmarks.harness.context import cycle

REDIS_FLOOR = "redis-py GET + decode + from_db"
DICT_FLOOR = "dict + from_db"


def floor_calls(
    model: Any,
    alias: str,
    names: list[str],
    entries: dict[int, bytes],
    redis_client: Any = None,
    full_keys: list[str] | None = None,
) -> dict[str, Callable[[], Any]]:
    """``entries``: the entry bytes cachefresh stored per pk; ``full_keys``: their Redis keys."""
    from cachefresh import codec

    width = len(names)
    table = {pk: codec.decode(data, width, None) for pk, data in entries.items()}
    if any(values is None for values in table.values()):
        raise RuntimeError(f"{model.__name__}: an entry does not decode")
    from_db, next_pk = model.from_db, cycle(list(table))
    calls: dict[str, Callable[[], Any]] = {
        DICT_FLOOR: lambda: from_db(alias, names, table[next_pk()])
    }
    if redis_client is not None and full_keys:
        decode, get, next_key = codec.decode, redis_client.get, cycle(full_keys)
        calls[REDIS_FLOOR] = lambda: from_db(alias, names, decode(get(next_key()), width, None))
    return calls
