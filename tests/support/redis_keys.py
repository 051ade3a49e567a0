"""Delete every Redis key a test wrote under its own cachefresh KEY_PREFIX."""

from django.core.cache import caches

from cachefresh.conf import get_settings
from cachefresh.store.redis import raw_client


def forget_keys_of_this_test() -> None:
    """Call while the test's settings are active (its KEY_PREFIX names its keys)."""
    conf = get_settings()
    if conf.cache_alias != "redis":
        return  # LocMemCache: the backend fixture clears it
    client = raw_client(caches["redis"])
    doomed = list(client.scan_iter(match=f"*:{conf.key_prefix}:*", count=1000))
    if doomed:
        client.delete(*doomed)
