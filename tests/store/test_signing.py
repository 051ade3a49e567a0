"""SIGN_ENTRIES: entries carry an HMAC keyed from SECRET_KEY; whatever fails it is a miss.

For caches shared with less trusted clients: such a client can delete or garble entries (a
miss, as always) but cannot make cachefresh serve a row it wrote or altered.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.conf import settings
from django.test import override_settings

from cachefresh import cached_get, cached_get_many, codec
from cachefresh.registry import registry
from cachefresh.signing import mac_key
from cachefresh.store import get_store
from tests.support.raw_entries import put_raw, row_keys, valid_entry
from tests.testapp.models import Article

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


@pytest.fixture
def signed(backend: str) -> Iterator[str]:
    with override_settings(CACHEFRESH=dict(settings.CACHEFRESH, SIGN_ENTRIES=True)):
        yield backend


def forge(entry: bytes) -> bytes:
    """What a client with write access to the cache could do: change a value in place."""
    assert b"honest" in entry
    return entry.replace(b"honest", b"forged")


def current_tokens(article: Article, alias: str) -> tuple[bytes, bytes]:
    plan = registry.plan(Article)
    keys = row_keys(article, alias)
    found = get_store().get_many([keys.entry, keys.token, plan.keys_of(alias)[2]])
    assert found is not None
    return found[1], found[2]


def values_with_title(article: Article, title: str) -> list[object]:
    plan = registry.plan(Article)
    return [title if name == "title" else getattr(article, name) for name in plan.attnames]


def test_without_signing_a_forged_entry_is_served(backend: str) -> None:
    """The threat, shown: an unsigned entry altered in the cache is believed."""
    article = Article.objects.create(title="honest")
    put_raw(row_keys(article, backend).entry, forge(valid_entry(article, backend)))
    assert cached_get(Article, article.pk).title == "forged"


def test_a_modified_signed_entry_fails_verification(signed: str) -> None:
    article = Article.objects.create(title="honest")
    entry = valid_entry(article, signed)
    assert entry[2] == codec.SIGNED_VERSION
    put_raw(row_keys(article, signed).entry, forge(entry))
    assert cached_get(Article, article.pk).title == "honest"
    put_raw(row_keys(article, signed).entry, forge(entry))
    assert cached_get_many(Article, [article.pk])[article.pk].title == "honest"
    put_raw(row_keys(article, signed).entry, entry[:-1] + bytes([entry[-1] ^ 1]))  # the MAC
    assert cached_get(Article, article.pk).title == "honest"


def test_unsigned_entries_are_rejected_when_signing_is_on(signed: str) -> None:
    article = Article.objects.create(title="honest")
    valid_entry(article, signed)
    token, generation = current_tokens(article, signed)
    plan = registry.plan(Article)
    unsigned = codec.encode(
        plan.schema, generation, token, values_with_title(article, "forged"), None
    )
    put_raw(row_keys(article, signed).entry, unsigned)
    assert cached_get(Article, article.pk).title == "honest"
    # Claiming to be signed, with the unsigned body and no MAC: still a miss.
    put_raw(row_keys(article, signed).entry, unsigned[:2] + b"\x81" + unsigned[3:])
    assert cached_get(Article, article.pk).title == "honest"


def test_an_entry_signed_with_another_key_is_a_miss(signed: str) -> None:
    article = Article.objects.create(title="honest")
    valid_entry(article, signed)
    token, generation = current_tokens(article, signed)
    plan = registry.plan(Article)
    values = values_with_title(article, "forged")
    with override_settings(SECRET_KEY="another secret"):
        other_key = mac_key()
    assert other_key is not None and other_key != mac_key()
    forged = codec.encode(plan.schema, generation, token, values, other_key)
    put_raw(row_keys(article, signed).entry, forged)
    assert cached_get(Article, article.pk).title == "honest"
    # The same entry signed with the right key is accepted: the wiring above is sound.
    genuine = codec.encode(plan.schema, generation, token, values, mac_key())
    assert genuine is not None
    put_raw(row_keys(article, signed).entry, genuine)
    assert cached_get(Article, article.pk).title == "forged"


def test_turning_signing_on_retires_unsigned_entries(backend: str) -> None:
    article = Article.objects.create(title="honest")
    valid_entry(article, backend)  # unsigned
    put_raw(row_keys(article, backend).entry, forge(valid_entry(article, backend)))
    with override_settings(CACHEFRESH=dict(settings.CACHEFRESH, SIGN_ENTRIES=True)):
        assert cached_get(Article, article.pk).title == "honest"


def test_a_signed_entry_copied_to_another_row_is_refused(signed: str) -> None:
    """A client that copies row A's entry and token under row B's keys gets no hit for B."""
    first = Article.objects.create(title="first")
    second = Article.objects.create(title="second")
    entry = valid_entry(first, signed)
    token, _ = current_tokens(first, signed)
    valid_entry(second, signed)
    put_raw(row_keys(second, signed).entry, entry)
    put_raw(row_keys(second, signed).token, token)
    assert cached_get(Article, second.pk).title == "second"
    assert cached_get_many(Article, [second.pk])[second.pk].title == "second"
