"""Optional signing of entries, for caches shared with less trusted clients."""

from __future__ import annotations

import functools

from django import conf as django_conf
from django.utils.crypto import salted_hmac

from cachefresh.conf import get_settings


@functools.cache
def _derive(secret: str) -> bytes:
    return salted_hmac(
        "cachefresh.entries", "signing key", secret=secret, algorithm="sha256"
    ).digest()


def mac_key() -> bytes | None:
    """The HMAC key for entries when ``SIGN_ENTRIES`` is on, derived from ``SECRET_KEY``."""
    if not get_settings().sign_entries:
        return None
    return _derive(django_conf.settings.SECRET_KEY)
