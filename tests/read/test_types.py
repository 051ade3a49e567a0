"""Invariant 2: every built-in concrete field type round-trips exactly through the cache.

Hypothesis draws values within what both databases store (PostgreSQL text holds no NUL, SQLite
integers are 64-bit, decimals fit max_digits); each example writes one row, reads it through a
fill and a hit, and compares values and types with what ``get()`` returns on that database.
"""

import datetime
import decimal
import enum
import ipaddress
import uuid
import zoneinfo
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import connections
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cachefresh import cached_get, cached_get_many, codec
from tests.testapp.models import AllTypes, Article, Author

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

EXAMPLES = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

INT32 = 2**31 - 1
INT64 = 2**63 - 1

# No NUL (PostgreSQL text refuses it) and no lone surrogates (not encodable).
CHARACTERS = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")
TEXT = st.text(CHARACTERS, max_size=40)
URLS = st.from_regex(r"https?://[a-z0-9.]{1,30}/[a-z0-9/?=&%]{0,40}", fullmatch=True)
UTC_DATETIMES = st.datetimes(
    min_value=datetime.datetime(1, 1, 2), max_value=datetime.datetime(9999, 12, 30)
)
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()  # unbounded: beyond 64 bits the codec needs its own tag
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
    max_leaves=12,
)


def nullable(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


def ip_addresses() -> st.SearchStrategy[str]:
    v4 = st.ip_addresses(v=4).map(str)
    # Django stores IPv6 in its compressed form; draw that form so get() returns it unchanged.
    v6 = st.ip_addresses(v=6).map(lambda ip: str(ipaddress.IPv6Address(ip)))
    return v4 | v6


def decimals() -> st.SearchStrategy[decimal.Decimal]:
    # 15 significant digits: SQLite keeps decimals in a double, and get() itself fails beyond.
    return st.decimals(min_value=-(10**9) + 1, max_value=10**9 - 1, places=6, allow_nan=False)


ROWS = st.fixed_dictionaries(
    {
        "small": nullable(st.integers(-32768, 32767)),
        "integer": nullable(st.integers(-INT32 - 1, INT32)),
        "big": nullable(st.integers(-INT64 - 1, INT64)),
        "positive": nullable(st.integers(0, INT32)),
        "positive_small": nullable(st.integers(0, 32767)),
        "positive_big": nullable(st.integers(0, INT64)),
        "char": nullable(TEXT),
        "text": nullable(
            st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"))
        ),
        "slug": nullable(st.from_regex(r"[-a-zA-Z0-9_]{0,50}", fullmatch=True)),
        "email": nullable(st.emails().filter(lambda e: len(e) <= 300)),
        "url": nullable(
            st.from_regex(r"https?://[a-z0-9.]{1,30}/[a-z0-9/?=&%]{0,40}", fullmatch=True)
        ),
        "boolean": nullable(st.booleans()),
        "floating": nullable(st.floats(allow_nan=False, allow_infinity=False)),
        "decimal": nullable(decimals()),
        "date": nullable(st.dates()),
        "datetime": nullable(UTC_DATETIMES.map(lambda d: d.replace(tzinfo=datetime.UTC))),
        "time": nullable(st.times()),
        "duration": nullable(
            st.timedeltas(
                min_value=datetime.timedelta(days=-99999), max_value=datetime.timedelta(days=99999)
            )
        ),
        "uuid": nullable(st.uuids()),
        "ip": nullable(ip_addresses()),
        "json": JSON,
        "binary": nullable(st.binary(max_size=64)),
    }
)


def shape(instance: Any) -> list[tuple[str, str, type]]:
    """Values, their exact spelling (Decimal places, -0.0, tzinfo, key order) and types."""
    values = []
    for field in instance._meta.concrete_fields:
        value = getattr(instance, field.attname)
        spelled = repr(value.tobytes() if isinstance(value, memoryview) else value)
        values.append((field.attname, spelled, type(value)))
    return values


def assert_round_trip(alias: str, pk: Any) -> None:
    expected = AllTypes.objects.get(pk=pk)
    filled = cached_get(AllTypes, pk)
    hit = AllTypes.objects.cached_get(pk=pk)
    many = cached_get_many(AllTypes, [pk])[pk]
    assert shape(filled) == shape(expected)
    assert shape(hit) == shape(expected)
    assert shape(many) == shape(expected)
    if isinstance(expected.datetime, datetime.datetime):
        assert hit.datetime.utcoffset() == expected.datetime.utcoffset()
    assert hit._state.db == alias


@pytest.mark.parametrize("use_tz", [True, False], ids=["aware", "naive"])
def test_round_trip_of_every_field_type(backend, use_tz):
    author = Author.objects.create(name="a")
    article = Article.objects.create(title="t")

    @EXAMPLES
    @given(values=ROWS, linked=st.booleans(), naive=nullable(UTC_DATETIMES))
    def check(values: dict[str, Any], linked: bool, naive: datetime.datetime | None) -> None:
        links = {"author": author, "solo": article} if linked else {}
        if not use_tz:
            values = dict(values, datetime=naive)
        if values["uuid"] is not None and connections[backend].vendor == "mysql":
            # MariaDB's native UUID column refuses versions RFC 9562 does not define.
            values = dict(values, uuid=uuid.UUID(int=values["uuid"].int, version=4))
        row = AllTypes.objects.create(**values, **links)
        try:
            assert_round_trip(backend, row.pk)
            if naive is not None and not use_tz:
                assert cached_get(AllTypes, row.pk).datetime == naive  # naive, not converted
        finally:
            row.delete()

    with override_settings(USE_TZ=use_tz):
        check()


def test_entries_are_checked_when_read_not_only_fill(backend, django_assert_num_queries):
    """The hit in assert_round_trip must really come from the cache, or the test proves little."""
    row = AllTypes.objects.create(text="x", json={"k": [1, "é", None]}, binary=b"\x00\xff")
    cached_get(AllTypes, row.pk)
    with django_assert_num_queries(0, using=backend):
        hit = cached_get(AllTypes, row.pk)
    assert shape(hit) == shape(AllTypes.objects.get(pk=row.pk))


EDGE_ROWS = [
    {"datetime": datetime.datetime(2024, 2, 29, 23, 59, 59, 999999)},
    {"datetime": datetime.datetime(1, 1, 1)},
    {"time": datetime.time(23, 59, 59, 999999)},
    {"json": {"nested": {"deep": [1.5, "ü", {"x": None}]}, "": []}},
    {"json": "just a string"},
    {"json": []},
    {"decimal": decimal.Decimal("-999999999.999999")},
    {"binary": b""},
    {"char": ""},
]


def test_edge_values_without_time_zone_support(backend):
    with override_settings(USE_TZ=False):
        for values in EDGE_ROWS:
            row = AllTypes.objects.create(**values)
            assert_round_trip(backend, row.pk)
            for name in values:
                value = getattr(AllTypes.objects.cached_get(pk=row.pk), name)
                if isinstance(value, datetime.datetime):
                    assert value.tzinfo is None
            row.delete()


@pytest.mark.parametrize(
    "when",
    [
        datetime.datetime(2024, 6, 1, 12, 0, tzinfo=datetime.UTC),
        datetime.datetime(2024, 6, 1, 12, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=5))),
    ],
)
def test_aware_datetimes_in_other_offsets(backend, when):
    row = AllTypes.objects.create(datetime=when)
    assert_round_trip(backend, row.pk)
    assert AllTypes.objects.cached_get(pk=row.pk).datetime == when


@contextmanager
def database_time_zone(alias: str, name: str) -> Iterator[None]:
    """The DATABASES[alias]['TIME_ZONE'] option, for a database without time zone support."""
    connection = connections[alias]
    saved = connection.settings_dict.get("TIME_ZONE")

    def switch(value: str | None) -> None:
        connection.settings_dict["TIME_ZONE"] = value
        for cached in ("timezone", "timezone_name"):
            connection.__dict__.pop(cached, None)

    switch(name)
    try:
        yield
    finally:
        switch(saved)


@pytest.mark.parametrize(
    "wall",
    [
        datetime.datetime(2024, 7, 1, 12, 30),
        datetime.datetime(2024, 10, 27, 2, 30),  # ambiguous: the clock goes back
        datetime.datetime(2024, 3, 31, 2, 30),  # skipped: the clock goes forward
    ],
)
@pytest.mark.parametrize("backend", ["sqlite-locmem"], indirect=True)
def test_datetimes_in_the_database_time_zone(backend, wall):
    """SQLite with DATABASES TIME_ZONE returns datetimes in that zone: keep the zone itself.

    SQLite only: Django forbids that option with USE_TZ on a database with time zone support.
    """
    assert not connections[backend].features.supports_timezones
    with database_time_zone(backend, "Europe/Paris"):
        with connections[backend].cursor() as cursor:
            table = AllTypes._meta.db_table
            cursor.execute(f"INSERT INTO {table} (datetime) VALUES (%s)", [wall.isoformat(" ")])
        pk = AllTypes.objects.get().pk
        assert AllTypes.objects.get(pk=pk).datetime.tzinfo == zoneinfo.ZoneInfo("Europe/Paris")
        assert_round_trip(backend, pk)


class Label(str):
    """A str subclass, as a custom field's from_db_value() might return."""


class Size(enum.IntEnum):
    BIG = 3


@pytest.mark.parametrize(
    "value",
    [
        memoryview(b"\x00bytes"),  # what psycopg2 returns for a BinaryField
        b"\x00bytes",  # what psycopg 3 and sqlite3 return
        (1, "two", (3.0, None)),  # a custom field's tuple
        {"a": [1, (2,)]},
        2**80,
        -(2**80),
        datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=-3))),
    ],
    ids=["memoryview", "bytes", "tuple", "tuple in json", "big", "-big", "offset datetime"],
)
def test_codec_keeps_the_exact_type(value):
    """Row values the drivers (or custom fields) produce come back as the same types."""
    entry = codec.encode(bytes(8), bytes(8), bytes(8), [value], None)
    (decoded,) = codec.decode(entry, 1, None)
    assert type(decoded) is type(value)
    assert repr(decoded.tobytes() if isinstance(decoded, memoryview) else decoded) == repr(
        value.tobytes() if isinstance(value, memoryview) else value
    )


@pytest.mark.parametrize(
    "value", [Label("x"), Size.BIG, bytearray(b"x"), {1, 2}, object()], ids=repr
)
def test_codec_refuses_what_it_would_change(value):
    """A value the codec cannot give back exactly leaves the row uncached, never altered."""
    with pytest.raises(codec.EncodeError):
        codec.encode(bytes(8), bytes(8), bytes(8), [value], None)
