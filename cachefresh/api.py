"""Function forms of the read API, for any cached model whatever its managers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.db.models import Model

from cachefresh import aread, front
from cachefresh.front import NOT_PK, pk_of_lookup

M = TypeVar("M", bound=Model)


#: No pk given positionally: the lookup is in the keyword arguments.
_BY_LOOKUPS: Any = object()


def cached_get(
    model: type[M], pk: Any = _BY_LOOKUPS, /, *, using: str | None = None, **lookups: Any
) -> M:
    """``model._default_manager.get(pk=pk)``, or ``.get(**lookups)`` (``slug=…``), served
    from the cache when the lookup is the pk or one field unique by itself."""
    if pk is not _BY_LOOKUPS:
        if not lookups:
            return front.manager_get_pk(model._default_manager, using, pk)
        lookups = {"pk": pk, **lookups}
    return front.manager_get(model._default_manager, using, (), lookups)


def cached_get_many(
    model: type[M], pks: Iterable[Any], *, using: str | None = None
) -> dict[Any, M]:
    """Like ``in_bulk(pks)``: ``{pk: instance}``, missing pks absent."""
    return front.manager_get_many(model._default_manager, using, pks)


async def acached_get(
    model: type[M], pk: Any = _BY_LOOKUPS, /, *, using: str | None = None, **lookups: Any
) -> M:
    """:func:`cached_get` from async code: a hit, by the pk or by a field unique by itself, is
    served on the event loop (no thread), the rest runs :func:`cached_get` through
    ``sync_to_async``."""
    asked = {"pk": pk, **lookups} if pk is not _BY_LOOKUPS else lookups
    wanted = pk_of_lookup(model, (), asked)
    if wanted is not NOT_PK:
        hit = await aread.get_in_manager(model._default_manager, using, wanted)
    else:
        hit = await aread.get_unique_in_manager(model._default_manager, using, (), asked)
    if hit is not None:
        return hit
    return await sync_to_async(cached_get)(model, pk, using=using, **lookups)


async def acached_get_many(
    model: type[M], pks: Iterable[Any], *, using: str | None = None
) -> dict[Any, M]:
    """:func:`cached_get_many` from async code: served on the event loop when valid entries
    hold every row, else through ``sync_to_async``."""
    pks = list(pks)
    hits = await aread.get_many_in_manager(model._default_manager, using, pks)
    if hits is not None:
        return hits
    return await sync_to_async(cached_get_many)(model, pks, using=using)
