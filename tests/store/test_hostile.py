"""Hostile and bad input: odd primary keys, garbage under real keys, key collisions.

``cached_get`` must answer exactly as ``get()`` does (the same row, or the same exception
type) for any primary key value; anything under a cache key that cachefresh would not have
written there is a miss, never an exception, never code run, never another row.
"""

from __future__ import annotations

import itertools
import pickle
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cachefresh import cached_get, cached_get_many, codec, entries, fills
from cachefresh.keys import RowKeys, database_segment, generation_key, table_tag
from cachefresh.registry import registry
from cachefresh.store import get_store
from tests.support.raw_entries import put_raw, row_keys, valid_entry
from tests.testapp.models import Article, BigPk, CharPk, UUIDPk

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

FIXTURE_SAFE = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

control_text = st.text(st.characters(codec="utf-8", categories=["Cc", "Cf", "Zs", "Zl", "Zp"]))
any_pk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 8),
    st.integers(),
    st.integers(min_value=2**63 - 2, max_value=2**80),
    st.integers(min_value=-(2**80), max_value=-(2**63) + 2),
    st.floats(),
    st.decimals(allow_nan=False, places=3),
    st.text(max_size=20),
    control_text,
    st.text(min_size=300, max_size=3000),
    st.just("\x00"),
    st.text(max_size=5).map(lambda text: text + "\x00" + text),
    st.binary(max_size=20),
    st.uuids(),
    st.uuids().map(str),
    st.lists(st.integers(0, 5), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.tuples(st.integers(0, 5)),
    st.datetimes(),
)


def outcome(call: Any) -> tuple[Any, ...]:
    """What a call gave: the row (type and every column) or the exception's type."""
    try:
        result = call()
    except Exception as exc:
        return ("raised", type(exc))
    if isinstance(result, dict):
        return ("dict", {key: outcome(lambda obj=obj: obj) for key, obj in result.items()})
    plan = registry.plan(type(result))
    return ("row", type(result), tuple(getattr(result, name) for name in plan.attnames))


def make_rows() -> None:
    Article.objects.bulk_create(Article(title=f"a{i}", views=i) for i in range(5))
    BigPk.objects.create(id=2**62, value=1)
    BigPk.objects.create(id=-(2**62), value=2)
    UUIDPk.objects.create(id=uuid.UUID(int=7), value=3)
    CharPk.objects.create(code="plain", value=4)
    CharPk.objects.create(code="ünï cødé\t{}:|\u200b", value=5)


@pytest.mark.parametrize("model", [Article, BigPk, UUIDPk, CharPk])
def test_cached_get_answers_as_get_does_for_any_pk(backend: str, model: Any) -> None:
    make_rows()

    @FIXTURE_SAFE
    @given(pk=any_pk)
    def check(pk: Any) -> None:
        expected = outcome(lambda: model.objects.get(pk=pk))
        assert outcome(lambda: model.objects.cached_get(pk=pk)) == expected
        assert outcome(lambda: cached_get(model, pk)) == expected  # the second may be a hit

    check()


@pytest.mark.parametrize("model", [Article, CharPk])
def test_cached_get_many_answers_as_in_bulk_does(backend: str, model: Any) -> None:
    make_rows()

    @FIXTURE_SAFE
    @given(pks=st.lists(any_pk, max_size=4))
    def check(pks: list[Any]) -> None:
        expected = outcome(lambda: model.objects.in_bulk(pks))
        assert outcome(lambda: cached_get_many(model, pks)) == expected
        assert outcome(lambda: cached_get_many(model, pks)) == expected

    check()


def test_char_pks_of_every_kind_round_trip(backend: str) -> None:
    @FIXTURE_SAFE
    @given(code=st.one_of(st.text(max_size=400), control_text, st.text(min_size=200, max_size=400)))
    def check(code: str) -> None:
        if "\x00" in code and backend == "pg":
            code = code.replace("\x00", "")  # PostgreSQL cannot store NUL in text
        CharPk.objects.update_or_create(code=code, defaults={"value": len(code)})
        expected = outcome(lambda: CharPk.objects.get(pk=code))
        assert expected[0] == "row"
        assert outcome(lambda: cached_get(CharPk, code)) == expected
        assert outcome(lambda: cached_get(CharPk, code)) == expected
        CharPk.objects.filter(pk=code).update(value=-1)
        assert cached_get(CharPk, code).value == -1

    check()


# --- Garbage under real keys ------------------------------------------------------------------


class Payload:
    """Unpickling this would run code; no cache read may ever do it."""

    ran = False

    def __reduce__(self) -> tuple[Any, ...]:
        return (_mark_ran, ())


def _mark_ran() -> None:
    Payload.ran = True


def swap(entry: bytes, start: int, new: bytes) -> bytes:
    return entry[:start] + new + entry[start + len(new) :]


def bad_entries(entry: bytes) -> list[Any]:
    header = entry[: codec.HEADER_SIZE]
    body = codec.msgpack.packb
    return [
        b"",
        b"CF",
        pickle.dumps(Payload()),
        swap(entry, 2, b"\x02"),  # another codec version
        swap(entry, 2, bytes((codec.SIGNED_VERSION,))),  # claims a signature it lacks
        swap(entry, 3, bytes(8)),  # another schema
        swap(entry, 3 + 8, bytes(8)),  # another generation
        header + body({"a": 1}),
        header + body([1, 2]),
        header + body(list(range(6))) + b"\xc1",
        header + codec.msgpack.packb([codec.msgpack.ExtType(1, b"not a date")] * 6),
        header + codec.msgpack.packb([codec.msgpack.ExtType(99, b"?")] * 6),
        header + b"\xdd\xff\xff\xff\xff",  # an array claiming 4 billion items
        *(entry[:cut] for cut in range(0, len(entry), max(1, len(entry) // 12))),
        "a str",
        12345,
        {"a": "dict"},
    ]


def test_garbage_entries_are_misses(backend: str) -> None:
    article = Article.objects.create(title="real", body="body", views=3)
    entry = valid_entry(article, backend)
    keys = row_keys(article, backend)
    expected = outcome(lambda: Article.objects.get(pk=article.pk))
    for bad in bad_entries(entry):
        if not isinstance(bad, bytes) and backend != "default":
            continue  # Redis (every pair but SQLite + LocMem) holds bytes only
        put_raw(keys.entry, bad)
        assert outcome(lambda: cached_get(Article, article.pk)) == expected, bad
        put_raw(keys.entry, bad)
        assert outcome(lambda: cached_get_many(Article, [article.pk])) == (
            "dict",
            {article.pk: expected},
        ), bad
    assert not Payload.ran


def test_garbage_tokens_and_generations_are_misses(backend: str) -> None:
    article = Article.objects.create(title="real")
    keys = row_keys(article, backend)
    generation = registry.plan(Article).keys_of(backend)[2]
    expected = outcome(lambda: Article.objects.get(pk=article.pk))
    for bad in [b"", b"short", b"x" * 9, pickle.dumps(Payload()), "a str", 7, ["list"]]:
        if not isinstance(bad, bytes) and backend != "default":
            continue
        for key in (keys.token, generation, keys.lock):
            valid_entry(article, backend)
            put_raw(key, bad)
            assert outcome(lambda: cached_get(Article, article.pk)) == expected
            assert outcome(lambda: cached_get(Article, article.pk)) == expected
    assert not Payload.ran


@FIXTURE_SAFE
@given(data=st.binary(max_size=200))
def test_random_bytes_under_an_entry_key_are_a_miss(backend: str, data: bytes) -> None:
    article = Article.objects.get_or_create(title="random")[0]
    keys = row_keys(article, backend)
    valid_entry(article, backend)
    put_raw(keys.entry, data)
    assert cached_get(Article, article.pk).title == "random"


def test_another_rows_entry_is_a_miss(backend: str) -> None:
    """An entry copied under another row's key carries the other row's token: never served."""
    one, two = Article.objects.create(title="one"), Article.objects.create(title="two")
    entry_one = valid_entry(one, backend)
    valid_entry(two, backend)
    put_raw(row_keys(two, backend).entry, entry_one)
    assert cached_get(Article, two.pk).title == "two"


def test_an_entry_that_cannot_be_encoded_is_not_cached(backend: str) -> None:
    plan = registry.plan(Article)
    article = Article.objects.create(title="x")
    values = [getattr(article, name) for name in plan.attnames]
    values[plan.attnames.index("body")] = object()
    store = get_store()
    lookup = entries.Lookup.rows(plan, backend, [article.pk])
    tokens = fills.take_tokens(store, lookup, [0])
    assert tokens is not None
    assert fills.store_rows(store, lookup, tokens, {0: values}) == []


# --- Keys never collide -------------------------------------------------------------------------

# Small pools next to arbitrary text, so that rows often share all but one part.
prefixes = st.one_of(
    st.sampled_from(["cf", "cf:x", "cf:"]),
    st.text(
        st.characters(codec="ascii", exclude_characters=" {}", min_codepoint=33), max_size=40
    ).filter(bool),
)
names = st.one_of(
    st.sampled_from(["default", "pg", "t|1", "pg|t"]), st.text(min_size=1, max_size=70)
)
pks = st.one_of(
    st.sampled_from([1, "1", "i1", "s1", "u" + uuid.UUID(int=1).hex, uuid.UUID(int=1)]),
    st.integers(),
    st.text(max_size=80),
    st.uuids(),
)


def identity(row: tuple[str, str, str, Any]) -> tuple[Any, ...]:
    prefix, alias, table, pk = row
    return (prefix, alias, table, type(pk).__name__, pk)


@settings(max_examples=300, deadline=None)
@given(
    first=st.tuples(prefixes, names, names, pks),
    second=st.tuples(prefixes, names, names, pks),
)
def test_keys_of_different_rows_tables_databases_prefixes_never_collide(
    first: tuple[str, str, str, Any], second: tuple[str, str, str, Any]
) -> None:
    # Every mix of the two rows' parts: rows that differ in one part only, or in several.
    rows = set(itertools.product(*zip(first, second, strict=True)))
    owner: dict[str, tuple[Any, ...]] = {}
    for row in rows:
        prefix, alias, table, pk = row
        database = database_segment(("django.db.backends.sqlite3", alias))
        keys = RowKeys(table_tag(prefix, database, table), pk)
        table_identity = identity((prefix, alias, table, None))[:3]
        for kind, key in [
            ("entry", keys.entry),
            ("token", keys.token),
            ("lock", keys.lock),
            ("generation", generation_key(prefix, database, table)),
        ]:
            who = (kind, table_identity if kind == "generation" else identity(row))
            assert owner.setdefault(key, who) == who, (key, owner[key], who)
            assert len(key.encode()) <= 250  # memcached's limit
            assert not any(c in key for c in " \n\r\t\x00")
