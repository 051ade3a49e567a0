"""Key layout.

Every key of one row shares a Redis Cluster hash tag, ``{alias|table|pk}``, so that the entry,
its token and its fill lock live in one slot::

    <prefix>:{<alias>|<table>|<pk>}:e   entry: header + generation + token + row
    <prefix>:{<alias>|<table>|<pk>}:v   row token, retired by every write to the row
    <prefix>:{<alias>|<table>|<pk>}:l   fill lock against a thundering herd
    <prefix>:{<alias>|<table>}:g        table generation, retired by writes with unknown rows

Segments that are not short and plain (long or unicode primary keys, odd table names) are
hashed, so keys stay valid for memcached (at most 250 bytes, no spaces or control characters)
as well as Redis. The table, not the model, names the row: proxies share their concrete model's
entries and two models on one table invalidate each other.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Any

_PLAIN = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def segment(text: str) -> str:
    """A table or alias name as a key segment."""
    return text if _PLAIN.fullmatch(text) else "h" + _digest(text)


def pk_segment(pk: Any) -> str:
    """A normalised primary key as a key segment; its type prefix keeps kinds apart."""
    if type(pk) is int:
        return f"i{pk}"
    if isinstance(pk, str):
        return "s" + pk if _PLAIN.fullmatch(pk) else "h" + _digest(pk)
    if isinstance(pk, uuid.UUID):
        return "u" + pk.hex
    return "h" + _digest(f"{type(pk).__name__}:{pk}")


class RowKeys:
    """The keys of one row; built once per read, so kept to plain attributes."""

    __slots__ = ("entry", "lock", "token")

    def __init__(self, table_tag: str, pk: Any) -> None:
        tag = f"{table_tag}|{pk_segment(pk)}}}"
        self.entry = tag + ":e"
        self.token = tag + ":v"
        self.lock = tag + ":l"


def table_tag(prefix: str, alias: str, table: str) -> str:
    """The shared start of every row key of one table on one database: ``prefix:{alias|table``."""
    return f"{prefix}:{{{segment(alias)}|{segment(table)}"


def generation_key(prefix: str, alias: str, table: str) -> str:
    return f"{prefix}:{{{segment(alias)}|{segment(table)}}}:g"
