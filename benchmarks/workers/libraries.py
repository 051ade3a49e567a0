"""How each library reads a hot row through its cache, and the ORM writes the storm makes.

Imported only by worker processes, after Django is set up with the library installed.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db.models import F

from benchmarks.stormapp.models import Row

#: The write mix: every kind of ORM write the invariant names that changes an existing row.
WRITES = ("save", "save_update_fields", "queryset_update", "bulk_update")


def cached_reader(library: str) -> Callable[[int], Row]:
    """The library's cached read of one row by primary key."""
    if library == "cachefresh":
        from cachefresh import cached_get

        return lambda pk: cached_get(Row, pk)
    if library == "cacheops":
        return lambda pk: Row.objects.cache().get(pk=pk)
    # cachalot caches every ORM read of a cachable table.
    return lambda pk: Row.objects.get(pk=pk)


def write(library: str, kind: str, pks: list[int], value: int, note: str) -> None:
    """One committed ORM write of ``kind`` to ``pks`` (one row, or two for ``bulk_update``)."""
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
