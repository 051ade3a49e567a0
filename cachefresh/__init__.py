"""cachefresh: a read-through cache of Django model instances, and smart_refresh()."""

from typing import Any

from cachefresh.api import acached_get, acached_get_many, cached_get, cached_get_many
from cachefresh.arefresh import asmart_refresh
from cachefresh.conf import Strategy
from cachefresh.invalidation import invalidate, invalidate_model
from cachefresh.manager import CacheFreshManager, CacheFreshQuerySet
from cachefresh.prefetch import prefetch_cached
from cachefresh.refresh import smart_refresh
from cachefresh.refresh_many import asmart_refresh_many, smart_refresh_many

__version__ = "0.1.0"

__all__ = [
    "CacheFreshManager",
    "CacheFreshModel",
    "CacheFreshQuerySet",
    "Strategy",
    "acached_get",
    "acached_get_many",
    "asmart_refresh",
    "asmart_refresh_many",
    "cached_get",
    "cached_get_many",
    "invalidate",
    "invalidate_model",
    "prefetch_cached",
    "smart_refresh",
    "smart_refresh_many",
]


def __getattr__(name: str) -> Any:
    # A model class can only be defined once the app registry is ready, later than this import.
    if name == "CacheFreshModel":
        from cachefresh.models import CacheFreshModel

        return CacheFreshModel
    raise AttributeError(f"module 'cachefresh' has no attribute {name!r}")
