"""Key layout.

Every key of one row shares a Redis Cluster hash tag, ``{database|table|pk}``, so that the
entry, its token and its fill lock live in one slot::

    <prefix>:{<database>|<table>|<pk>}:e   entry: header + generation + token + row
    <prefix>:{<database>|<table>|<pk>}:v   row token, retired by every write to the row
    <prefix>:{<database>|<table>|<pk>}:l   fill lock against a thundering herd
    <prefix>:{<database>|<table>}:g        table generation, retired by writes with unknown rows
    <prefix>:{<database>|<table>|<column>=<value>}:e   index entry: a unique value's pk
    <prefix>:{<database>|<table>|<column>=<value>}:v   index token, retired by writes of the value
    <prefix>:{<database>|<table>|<column>=}:g          field generation, retired by writes of the
                                                        column whose values are unknown

``<database>`` is a short hash of the database's identity (:mod:`cachefresh.databases`), not
its alias: one alias can name different databases (the test database and the development
one, staging and production), whose rows must never share entries, and several aliases can
name one database, whose writes must retire what any of them read.

Segments that are not short and plain (long or unicode primary keys, odd table names) are
hashed, so keys stay valid for memcached (at most 250 bytes, no spaces or control characters)
as well as Redis. The table, not the model, names the row: proxies share their concrete model's
entries and two models on one table invalidate each other.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping
from typing import Any

_PLAIN = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


def _digest(text: str, size: int = 16) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=size).hexdigest()


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


def database_identity(settings_dict: Mapping[str, Any]) -> tuple[str, ...]:
    """What tells two databases apart: engine, name, host, port and schema (search_path)."""
    options = settings_dict.get("OPTIONS") or {}
    return (
        str(settings_dict.get("ENGINE", "")),
        str(settings_dict.get("NAME", "")),
        str(settings_dict.get("HOST", "")),
        str(settings_dict.get("PORT", "")),
        # PostgreSQL takes a schema as libpq options ("-c search_path=…") or a service name.
        str(options.get("options", "")),
        str(options.get("service", "")),
    )


def database_segment(identity: tuple[str, ...]) -> str:
    """``d<hash of identity>``: short, and distinct per database."""
    return "d" + _digest(chr(0).join(identity), 5)


class RowKeys:
    """The keys of one row; built once per read, so kept to plain attributes."""

    __slots__ = ("entry", "lock", "token")

    def __init__(self, table_tag: str, pk: Any) -> None:
        # pk_segment()'s int case without a call: the read path of most models.
        tag = f"{table_tag}|i{pk}}}" if type(pk) is int else f"{table_tag}|{pk_segment(pk)}}}"
        self.entry = tag + ":e"
        self.token = tag + ":v"
        self.lock = tag + ":l"


def row_entry_key(table_tag: str, pk: Any) -> str:
    """``RowKeys(table_tag, pk).entry`` alone, for the near cache's hits."""
    return f"{table_tag}|{pk_segment(pk)}}}:e"


class IndexKeys:
    """The keys of one value of a unique column (``<value>`` is spelled as a pk segment)."""

    __slots__ = ("entry", "token")

    def __init__(self, column_tag: str, value: Any) -> None:
        tag = f"{column_tag}{pk_segment(value)}}}"
        self.entry = tag + ":e"
        self.token = tag + ":v"


def column_tag(table_tag: str, column: str) -> str:
    """The shared start of every index key of one unique column: ``prefix:{db|table|column=``."""
    return f"{table_tag}|{segment(column)}="


def field_generation_key(column_tag: str) -> str:
    return column_tag + "}:g"


def table_tag(prefix: str, database: str, table: str) -> str:
    """The shared start of every row key of one table on one database: ``prefix:{db|table``.

    ``database`` is a :func:`database_segment`.
    """
    return f"{prefix}:{{{database}|{segment(table)}"


def generation_key(prefix: str, database: str, table: str) -> str:
    return f"{prefix}:{{{database}|{segment(table)}}}:g"
