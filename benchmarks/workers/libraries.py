"""How each library reads a hot row through its cache, and the ORM writes the storm makes.

Imported only by worker processes, after Django is set up with the library installed (the
storm's ``Row`` only where it is used: the near cache scenario's peers read the test app's
``Article``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import F, Model

#: The write mix: every kind of ORM write the invariant names that changes an existing row.
WRITES = ("save", "save_update_fields", "queryset_update", "bulk_update")


def cached_reader(library: str, model: type[Model] | None = None) -> Callable[[int], Any]:
    """The library's cached read of one row of ``model`` (the storm's ``Row``) by primary key."""
    if model is None:
        from benchmarks.stormapp.models import Row

        model = Row
    if library == "cachefresh":
        from cachefresh import cached_get

        return lambda pk: cached_get(model, pk)
    manager: Any = model._default_manager
    if library == "cacheops":
        return lambda pk: manager.cache().get(pk=pk)
    # cachalot caches every ORM read of a cachable table.
    return lambda pk: manager.get(pk=pk)


def async_reader(model: type[Model] | None = None) -> Callable[[list[int]], list[Any]]:
    """cachefresh's ``acached_get`` of rows of ``model`` (the storm's ``Row``), all at once on an
    event loop of this worker's own: hits on the loop, misses in a thread."""
    import asyncio

    from cachefresh import acached_get

    if model is None:
        from benchmarks.stormapp.models import Row

        model = Row
    loop = asyncio.new_event_loop()

    async def read_all(pks: list[int]) -> list[Any]:
        return list(await asyncio.gather(*(acached_get(model, pk) for pk in pks)))

    return lambda pks: loop.run_until_complete(read_all(pks))


def write(library: str, kind: str, pks: list[int], value: int, note: str) -> None:
    """One committed ORM write of ``kind`` to ``pks`` (one row, or two for ``bulk_update``)."""
    from benchmarks.stormapp.models import Row

    pk = pks[0]
    if kind == "save":
        Row(pk=pk, value=value, note=note, writes=value).save()
    elif kind == "save_update_fields":
        Row(pk=pk, value=value, note=note).save(update_fields=["value", "note"])
    elif kind == "queryset_update":
        Row.objects.filter(pk=pk).update(value=value, note=note, writes=F("writes") + 1)
    elif kind == "bulk_update":
        rows = [Row(pk=each, value=value, note=note) for each in pks]
        Row.objects.bulk_update(rows, ["value", "note"])
    else:
        raise ValueError(kind)
    if library == "cacheops" and kind in ("queryset_update", "bulk_update"):
        # cacheops does not see QuerySet.update() or bulk_update(); its documented remedy is
        # to invalidate the objects by hand after the write, as a user of it would.
        from cacheops import invalidate_obj

        for each in pks:
            invalidate_obj(Row(pk=each, value=value, note=note))
