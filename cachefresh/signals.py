"""Signals sent by cachefresh; each carries ``sender`` (the model class) and ``using``."""

from django.dispatch import Signal

#: A read served from the cache. Extra argument: ``pk``.
cache_hit = Signal()
#: A read the cache could not serve. Extra arguments: ``pk``, ``reason``.
cache_miss = Signal()
