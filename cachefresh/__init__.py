"""cachefresh: a read-through cache of Django model instances, and smart_refresh()."""

from cachefresh.api import acached_get, acached_get_many, cached_get, cached_get_many
from cachefresh.invalidation import invalidate, invalidate_model
from cachefresh.manager import CacheFreshManager, CacheFreshQuerySet

__version__ = "0.1.0"

__all__ = [
    "CacheFreshManager",
    "CacheFreshQuerySet",
    "acached_get",
    "acached_get_many",
    "cached_get",
    "cached_get_many",
    "invalidate",
    "invalidate_model",
]
