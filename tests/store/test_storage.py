"""Invariants 6 and 9: cache contents are data, never code, on every kind of cache backend.

Bad bytes are written under the real keys exactly as another client would: on Redis through
the raw client under the backend's full key (``make_key``), on LocMem through ``cache.set``.
Each must be a miss that reads the database, be logged once, and be replaced by a good entry.
"""

import logging
import pickle
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings
from django.core.cache import caches
from django.test import override_settings

import cachefresh.store as store_module
from cachefresh import cached_get, cached_get_many, codec, entries
from cachefresh.conf import get_settings
from cachefresh.keys import RowKeys
from cachefresh.registry import registry
from cachefresh.store import BACKENDS, get_store, store_class
from cachefresh.store.base import Store
from tests.support.routers import ACTIVE
from tests.support.servers import require_servers
from tests.testapp.models import Author

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


class RawCache:
    """Reads and writes the bytes under cachefresh's keys the way a foreign client would."""

    def __init__(self) -> None:
        cache = caches[get_settings().cache_alias]
        self.cache = cache
        self.client = self._redis_client(cache)

    @staticmethod
    def _redis_client(cache: Any) -> Any:
        module = type(cache).__module__
        if module.startswith("django_redis"):
            from django_redis import get_redis_connection

            return get_redis_connection(get_settings().cache_alias)
        if module == "django.core.cache.backends.redis":
            return cache._cache.get_client(write=True)
        return None

    def get(self, key: str) -> Any:
        if self.client is not None:
            return self.client.get(self.cache.make_key(key))
        return self.cache.get(key)

    def set(self, key: str, value: Any) -> None:
        if self.client is not None:
            if not isinstance(value, bytes | str | int):
                value = pickle.dumps(value)  # what a Django Redis backend stores for it
            self.client.set(self.cache.make_key(key), value, ex=60)
        else:
            self.cache.set(key, value, 60)


def row_keys(alias: str, pk: Any) -> tuple[RowKeys, str]:
    plan = registry.plan(Author)
    return RowKeys(plan.table_tag(alias), pk), plan.keys_of(alias)[2]


@pytest.fixture
def fresh_log(monkeypatch) -> None:
    # "Logged once" is per model and process; start each test with nothing reported yet.
    monkeypatch.setattr(entries, "_reported_garbage", set())


@pytest.fixture
def filled(backend, django_assert_num_queries) -> tuple[str, Author, RowKeys, str, RawCache]:
    author = Author.objects.create(name="good")
    cached_get(Author, author.pk)
    with django_assert_num_queries(0, using=backend):
        cached_get(Author, author.pk)
    row, generation = row_keys(backend, author.pk)
    return backend, author, row, generation, RawCache()


def garbage_variants(entry: bytes) -> dict[str, bytes | Any]:
    header = entry[: codec.HEADER_SIZE]
    return {
        "foreign bytes": b"this was written by another program",
        "empty": b"",
        "truncated header": entry[: codec.HEADER_SIZE - 3],
        "truncated body": entry[:-2],
        "header then garbage": header + b"\xc1\xc1\xc1",
        "header then a short row": header + b"\x91\x01",
        "header then a map": header + b"\x81\xa1a\x01",
        "header then an unknown extension": header + b"\x91\xd4\x63\x00",
    }


def test_garbage_entry_is_a_logged_miss_then_overwritten(
    filled, caplog, monkeypatch, django_assert_num_queries
):
    alias, author, row, _, raw = filled
    good = raw.get(row.entry)
    assert isinstance(good, bytes) and good.startswith(codec.MAGIC)
    caplog.set_level(logging.WARNING, logger="cachefresh")
    for variant, bad in garbage_variants(good).items():
        # "Logged once" is per model and process: start each variant with nothing reported.
        monkeypatch.setattr(entries, "_reported_garbage", set())
        caplog.clear()
        for _ in range(2):
            raw.set(row.entry, bad)
            with django_assert_num_queries(1, using=alias):
                assert cached_get(Author, author.pk).name == "good"
        warnings = [r for r in caplog.records if "treated as a miss" in r.getMessage()]
        assert len(warnings) == 1, variant
        assert raw.get(row.entry) != bad, variant
        with django_assert_num_queries(0, using=alias):
            assert cached_get(Author, author.pk).name == "good"


def test_foreign_values_are_logged_misses(filled, caplog, monkeypatch):
    _, author, row, _, raw = filled
    caplog.set_level(logging.WARNING, logger="cachefresh")
    for foreign in (b"x", "a str", 12345, {"name": "evil"}, ["CF", 1]):
        monkeypatch.setattr(entries, "_reported_garbage", set())
        caplog.clear()
        raw.set(row.entry, foreign)
        assert cached_get(Author, author.pk).name == "good"
        assert cached_get_many(Author, [author.pk])[author.pk].name == "good"
        warnings = [r for r in caplog.records if "treated as a miss" in r.getMessage()]
        assert len(warnings) == 1, foreign
        assert isinstance(raw.get(row.entry), bytes)


@pytest.mark.parametrize("which", ["token", "generation"])
def test_garbage_token_or_generation_is_replaced(filled, which, django_assert_num_queries):
    alias, author, row, generation, raw = filled
    key = row.token if which == "token" else generation
    for bad in (b"short", b"twelve bytes", pickle.dumps(b"12345678"), b""):
        raw.set(key, bad)
        Author.objects.filter(pk=author.pk).update(name=f"now {bad!r}")
        assert cached_get(Author, author.pk).name == f"now {bad!r}"
        with django_assert_num_queries(0, using=alias):
            assert cached_get(Author, author.pk).name == f"now {bad!r}"


class _CreatesFile:
    """Unpickling this calls open(path, "w"): the file appearing means a pickle was executed."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[str, str]]:
        return (open, (str(self.path), "w"))


def test_pickle_payloads_are_never_executed(filled, tmp_path, django_assert_num_queries):
    _, author, row, generation, raw = filled
    target = tmp_path / "pwned"
    payload = pickle.dumps(_CreatesFile(target))
    token, gen = raw.get(row.token), raw.get(generation)
    header = codec.header(registry.plan(Author).schema, gen, token, signed=False)
    for key, value in [
        (row.entry, payload),
        (row.entry, header + payload),  # a valid header in front of it
        (row.token, payload),
        (generation, payload),
        (row.lock, payload),
    ]:
        raw.set(key, value)
        assert cached_get(Author, author.pk).name == "good"
        assert cached_get_many(Author, [author.pk])[author.pk].name == "good"
        assert not target.exists(), f"a pickle under the {key.rsplit(':', 1)[1]} key ran"
    pickle.loads(payload)  # the payload is live: loading it really does create the file
    assert target.exists()


def test_entries_hold_no_pickle(filled):
    _, _, row, _, raw = filled
    entry = raw.get(row.entry)
    assert entry.startswith(codec.MAGIC)
    assert b"\x80\x04" not in entry[: codec.HEADER_SIZE + 2]  # no pickle protocol opcode
    assert b"Author" not in entry and b"testapp" not in entry


@pytest.fixture
def builtin_redis() -> Iterator[str]:
    """Django's own RedisCache on the shared Redis, with a namespace of its own."""
    require_servers()
    caches_setting = dict(settings.CACHES)
    namespace = f"cachefresh-test-builtin-{uuid.uuid4().hex[:12]}"
    location = settings.CACHES["redis"]["LOCATION"]
    caches_setting["builtin"] = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": location,
        "KEY_PREFIX": namespace,
    }
    config = dict(settings.CACHEFRESH, CACHE="builtin", KEY_PREFIX="b")
    ACTIVE["alias"] = "pg"
    try:
        with override_settings(CACHES=caches_setting, CACHEFRESH=config):
            yield "pg"
    finally:
        ACTIVE["alias"] = "default"
        with redis.Redis.from_url(location) as client:  # every key the test wrote
            doomed = list(client.scan_iter(match=f"{namespace}:*", count=1000))
            if doomed:
                client.delete(*doomed)


def test_django_builtin_redis_cache(builtin_redis, tmp_path, django_assert_num_queries):
    from cachefresh.store import get_store

    assert type(get_store().store).__name__ == "RedisStore"  # the raw-client path
    author = Author.objects.create(name="one")
    cached_get(Author, author.pk)
    with django_assert_num_queries(0, using="pg"):
        assert cached_get(Author, author.pk).name == "one"
    author.name = "two"
    author.save()
    assert cached_get(Author, author.pk).name == "two"
    raw = RawCache()
    row, _ = row_keys("pg", author.pk)
    assert raw.get(row.entry).startswith(codec.MAGIC)
    target = tmp_path / "pwned"
    raw.set(row.entry, pickle.dumps(_CreatesFile(target)))
    assert cached_get(Author, author.pk).name == "two"
    assert not target.exists()


@pytest.fixture(
    params=[
        "django.core.cache.backends.filebased.FileBasedCache",
        "django.core.cache.backends.dummy.DummyCache",
    ]
)
def generic_cache(request, tmp_path) -> Iterator[str]:
    """Other Django cache backends on SQLite: only the generic cache API is available."""
    caches_setting = dict(settings.CACHES)
    caches_setting["generic"] = {"BACKEND": request.param, "LOCATION": str(tmp_path / "cache")}
    config = dict(settings.CACHEFRESH, CACHE="generic", KEY_PREFIX="g")
    with override_settings(CACHES=caches_setting, CACHEFRESH=config):
        yield request.param.rsplit(".", 1)[1]


def test_any_django_cache_backend(generic_cache, django_assert_num_queries):
    author = Author.objects.create(name="one")
    cached_get(Author, author.pk)
    hits = 0 if generic_cache != "DummyCache" else 1  # a cache that keeps nothing never hits
    with django_assert_num_queries(hits, using="default"):
        assert cached_get(Author, author.pk).name == "one"
    author.name = "two"
    author.save()
    assert cached_get(Author, author.pk).name == "two"
    assert cached_get_many(Author, [author.pk, 999]) == {author.pk: author}
    with pytest.raises(Author.DoesNotExist):
        cached_get(Author, 999)


class CountingStore(Store):
    """A backend of a user's own: it serves LocMemCache and counts the round trips."""

    reads = 0

    @classmethod
    def serves(cls, cache: Any) -> bool:
        return type(cache).__name__ == "LocMemCache"

    def get_many(self, keys: Any) -> list[Any]:
        CountingStore.reads += 1
        return super().get_many(keys)


@pytest.mark.django_db(transaction=True, databases="__all__")
def test_a_new_store_backend_is_a_class_and_a_line_in_backends(monkeypatch):
    """Stores choose themselves: the first in BACKENDS whose serves() accepts the cache."""
    monkeypatch.setattr(store_module, "BACKENDS", (f"{__name__}.CountingStore", *BACKENDS))
    store_module.reset()
    try:
        assert type(get_store().store) is CountingStore
        author = Author.objects.create(name="counted")
        cached_get(Author, author.pk)
        before = CountingStore.reads
        assert cached_get(Author, author.pk).name == "counted"
        assert CountingStore.reads == before + 1
        assert store_class(caches["redis"]).__name__ == "RedisStore"
    finally:
        store_module.reset()


def test_signed_entries_refuse_forgeries(backend, caplog, fresh_log, django_assert_num_queries):
    config = dict(
        settings.CACHEFRESH,
        CACHE=get_settings().cache_alias,
        SIGN_ENTRIES=True,
        KEY_PREFIX=get_settings().key_prefix + "s",
    )
    with override_settings(CACHEFRESH=config):
        author = Author.objects.create(name="real")
        cached_get(Author, author.pk)
        with django_assert_num_queries(0, using=backend):
            assert cached_get(Author, author.pk).name == "real"
        raw = RawCache()
        row, _ = row_keys(backend, author.pk)
        signed = raw.get(row.entry)
        forged = codec.encode(signed[3:11], signed[11:19], signed[19:27], ["forged"] * 3, b"k")
        caplog.set_level(logging.WARNING, logger="cachefresh")
        for entry in (forged, signed[: -codec.MAC_SIZE], signed[:-1] + bytes([signed[-1] ^ 1])):
            raw.set(row.entry, entry)
            with django_assert_num_queries(1, using=backend):
                assert cached_get(Author, author.pk).name == "real"
        assert len([r for r in caplog.records if "treated as a miss" in r.getMessage()]) == 1


def custom_key(key: str, key_prefix: str, version: int) -> str:
    return f"custom|{key_prefix}|{version}|{key}"


@pytest.mark.parametrize("key_function", [None, "tests.store.test_storage.custom_key"])
def test_redis_keys_are_where_the_cache_api_puts_them(key_function):
    """The raw-client path applies CACHES' KEY_PREFIX, VERSION and KEY_FUNCTION like Django."""
    require_servers()
    caches_setting = dict(settings.CACHES)
    caches_setting["keyed"] = dict(
        settings.CACHES["redis"],
        KEY_PREFIX=f"cachefresh-test-keys-{uuid.uuid4().hex[:12]}",
        VERSION=3,
        KEY_FUNCTION=key_function,
    )
    config = dict(settings.CACHEFRESH, CACHE="keyed", KEY_PREFIX="k")
    ACTIVE["alias"] = "pg"
    try:
        with override_settings(CACHES=caches_setting, CACHEFRESH=config):
            author = Author.objects.create(name="one")
            cached_get(Author, author.pk)
            cache = caches["keyed"]
            client = cache.client.get_client(write=True)  # type: ignore[attr-defined]
            row, generation = row_keys("pg", author.pk)
            for key in (row.entry, row.token, generation):
                assert client.exists(cache.make_key(key)), key
            client.delete(*(cache.make_key(k) for k in (row.entry, row.token, generation)))
    finally:
        ACTIVE["alias"] = "default"
