"""Row tuple <-> bytes, with no pickle anywhere.

An entry is a fixed 27-byte header followed by the row's values packed with msgpack::

    b"CF" | version (1) | schema fingerprint (8) | table generation (8) | row token (8) | values

Types msgpack has no native form for travel as explicit extension tags, so decoding can only
ever produce plain data. With signing on, a 16-byte HMAC-SHA256 of everything before it ends
the entry and the version byte says so. Anything that does not parse exactly is ``None``: a miss.
"""

from __future__ import annotations

import datetime
import decimal
import hmac
import uuid
import zoneinfo
from collections.abc import Sequence
from hashlib import sha256
from typing import Any

# msgpack ships no type information (no py.typed); tests/read/test_types.py round-trips every type.
import msgpack  # type: ignore[import-untyped]

MAGIC = b"CF"
VERSION = 1
SIGNED_VERSION = 0x81
TOKEN_SIZE = 8
HEADER_SIZE = 3 + 3 * TOKEN_SIZE
MAC_SIZE = 16

(_DATETIME, _DATE, _TIME, _TIMEDELTA, _DECIMAL, _UUID, _MEMORYVIEW, _BIGINT, _ZONED, _TUPLE) = (
    range(1, 11)
)


class EncodeError(ValueError):
    """A value that cannot be stored; the row is then simply not cached."""


def _default(value: Any) -> msgpack.ExtType:
    # Exact types only (the packer runs with strict_types): a subclass, an enum or a tuple
    # would otherwise come back as its base type, unlike what get() returns.
    kind = type(value)
    if kind is datetime.datetime:
        return _datetime(value)
    if kind is datetime.date:
        return msgpack.ExtType(_DATE, value.isoformat().encode())
    if kind is datetime.time:
        return msgpack.ExtType(_TIME, value.isoformat().encode())
    if kind is datetime.timedelta:
        packed = msgpack.packb((value.days, value.seconds, value.microseconds))
        return msgpack.ExtType(_TIMEDELTA, packed)
    if kind is decimal.Decimal:
        return msgpack.ExtType(_DECIMAL, str(value).encode())
    if kind is uuid.UUID:
        return msgpack.ExtType(_UUID, value.bytes)
    if kind is int:  # only ints beyond 64 bits reach here
        return msgpack.ExtType(_BIGINT, str(value).encode())
    if kind is tuple:
        return msgpack.ExtType(_TUPLE, _pack([_buffer(item) for item in value]))
    raise EncodeError(f"cachefresh cannot store a value of type {kind.__name__}")


def _buffer(value: Any) -> Any:
    """Buffers, which msgpack packs as bytes before asking ``_default``."""
    if type(value) is memoryview:  # psycopg2's BinaryField value
        return msgpack.ExtType(_MEMORYVIEW, value.tobytes())
    if isinstance(value, bytearray | memoryview):
        raise EncodeError(f"cachefresh cannot store a value of type {type(value).__name__}")
    return value


def _pack(values: list[Any]) -> bytes:
    packed: bytes = msgpack.packb(values, default=_default, use_bin_type=True, strict_types=True)
    return packed


def _datetime(value: datetime.datetime) -> msgpack.ExtType:
    tz = value.tzinfo
    if tz is None or type(tz) is datetime.timezone:  # naive, or a fixed offset: ISO is exact
        return msgpack.ExtType(_DATETIME, value.isoformat().encode())
    # A database in a named zone (SQLite with DATABASES TIME_ZONE) returns that zone: keep it,
    # and the wall time with its fold, since an offset alone changes the object get() returns.
    if isinstance(tz, zoneinfo.ZoneInfo) and tz.key is not None:
        naive = value.replace(tzinfo=None, fold=0).isoformat()
        return msgpack.ExtType(_ZONED, msgpack.packb((naive, value.fold, tz.key)))
    raise EncodeError(f"cachefresh cannot store a datetime in a {type(tz).__name__} zone")


def _ext_hook(code: int, data: bytes) -> Any:
    if code == _DATETIME:
        return datetime.datetime.fromisoformat(data.decode())
    if code == _DATE:
        return datetime.date.fromisoformat(data.decode())
    if code == _TIME:
        return datetime.time.fromisoformat(data.decode())
    if code == _TIMEDELTA:
        days, seconds, microseconds = msgpack.unpackb(data)
        return datetime.timedelta(days, seconds, microseconds)
    if code == _DECIMAL:
        return decimal.Decimal(data.decode())
    if code == _UUID:
        return uuid.UUID(bytes=data)
    if code == _MEMORYVIEW:
        return memoryview(data)
    if code == _BIGINT:
        return int(data.decode())
    if code == _TUPLE:
        return tuple(msgpack.unpackb(data, ext_hook=_ext_hook, raw=False, strict_map_key=True))
    if code == _ZONED:
        naive, fold, key = msgpack.unpackb(data)
        return datetime.datetime.fromisoformat(naive).replace(
            tzinfo=zoneinfo.ZoneInfo(key), fold=fold
        )
    raise ValueError(f"unknown extension type {code}")


def fingerprint(parts: Sequence[tuple[str, ...]]) -> bytes:
    """An 8-byte digest of a model's shape; any change of name, column or type changes it."""
    text = "\x1f".join("\x1e".join(part) for part in parts)
    return sha256(f"codec{VERSION}\x1d{text}".encode()).digest()[:TOKEN_SIZE]


def encode(
    schema: bytes, generation: bytes, token: bytes, values: Sequence[Any], mac_key: bytes | None
) -> bytes:
    try:
        body = _pack([_buffer(value) for value in values])
    except (TypeError, ValueError, OverflowError) as exc:
        raise EncodeError(str(exc)) from exc
    version = VERSION if mac_key is None else SIGNED_VERSION
    data = MAGIC + bytes((version,)) + schema + generation + token + body
    if mac_key is not None:
        data += hmac.new(mac_key, data, sha256).digest()[:MAC_SIZE]
    return data


def decode(data: bytes, field_count: int, mac_key: bytes | None) -> list[Any] | None:
    """The values of an entry whose header the caller has already matched, or ``None``."""
    if mac_key is not None:
        body, mac = data[HEADER_SIZE:-MAC_SIZE], data[-MAC_SIZE:]
        expected = hmac.new(mac_key, data[:-MAC_SIZE], sha256).digest()[:MAC_SIZE]
        if len(data) < HEADER_SIZE + MAC_SIZE or not hmac.compare_digest(mac, expected):
            return None
    else:
        body = data[HEADER_SIZE:]
    try:
        values = msgpack.unpackb(body, ext_hook=_ext_hook, raw=False, strict_map_key=True)
    except Exception:
        # msgpack raises a handful of unrelated types on hostile input; all of them mean "miss".
        return None
    if type(values) is not list or len(values) != field_count:
        return None
    return values


def header(schema: bytes, generation: bytes, token: bytes, signed: bool) -> bytes:
    """The header a valid entry for this schema, generation and token starts with."""
    return MAGIC + bytes((SIGNED_VERSION if signed else VERSION,)) + schema + generation + token
