"""More of the differential test's steps (differential_writes.py has the rest): multi-table
inheritance, raw SQL on Django's own cursor, and, on Django 6.1, the deletes the database
carries out by itself (``DB_CASCADE``, ``DB_SET_NULL``, ``DB_SET_DEFAULT``)."""

from __future__ import annotations

from typing import Any

from django.db import connections
from django.db.models import F
from django.utils import timezone
from hypothesis import strategies as st

from tests.diffapp import models as diff
from tests.diffapp.models import Base, Derived, Item, Owner
from tests.support.differential_writes import maybe, names, pick, row, slugs, small, write

# --- multi-table inheritance --------------------------------------------------------------------


@write(label=names, weight=small, extra=st.none() | small, owner=maybe(pick))
def create_base(alias: str, label: str, weight: int, extra: int | None, owner: Any) -> None:
    """A ``Derived`` (two rows, two tables), or a ``Base`` alone when there is no ``extra``."""
    values = {"label": label, "weight": weight, "owner_id": row(Owner, owner)}
    if extra is None:
        Base.objects.create(**values)
    else:
        Derived.objects.create(extra=extra, **values)


@write(
    derived=pick, weight=small, extra=small, added=st.booleans(),
    fields=st.none() | st.sets(st.sampled_from(["weight", "extra"]), min_size=1),
)  # fmt: skip
def save_derived(
    alias: str, derived: int, weight: int, extra: int, added: bool, fields: Any
) -> None:
    """Both tables; the child's generated column changes with ``extra``."""
    if (pk := row(Derived, derived)) is not None:
        instance = Derived.objects.get(pk=pk)
        instance.weight = F("weight") + weight if added else weight
        instance.extra = F("extra") + extra if added else extra
        instance.save(update_fields=None if fields is None else sorted(fields))


@write(at_least=small, by=small, child=st.booleans())
def update_bases(alias: str, at_least: int, by: int, child: bool) -> None:
    """Through the child, one ``UPDATE`` per table of the family."""
    if child:
        Derived.objects.filter(weight__gte=at_least).update(
            weight=F("weight") + by, extra=F("extra") - by
        )
    else:
        Base.objects.filter(owner__score__gte=at_least).update(weight=F("weight") + by)


@write(base=pick, child=st.booleans(), instance=st.booleans())
def delete_base(alias: str, base: int, child: bool, instance: bool) -> None:
    model = Derived if child else Base
    if (pk := row(model, base)) is None:
        return
    if instance:
        model.objects.get(pk=pk).delete()
    else:
        model.objects.filter(pk=pk).delete()


# --- raw SQL on connection.cursor() -------------------------------------------------------------


def _names(alias: str, model: Any, *fields: str) -> list[str]:
    quote = connections[alias].ops.quote_name
    return [quote(model._meta.db_table), *(quote(model._meta.get_field(f).column) for f in fields)]


@write(item=pick, by=small, code=st.none() | st.sampled_from(["a", "d"]))
def raw_update_item(alias: str, item: int, by: int, code: str | None) -> None:
    """With a ``code``, the generated unique column changes too."""
    table, count, code_column, pk = _names(alias, Item, "count", "code", "id")
    if (key := row(Item, item)) is not None:
        sets, params = f"{count} = {count} + %s", [by]
        if code is not None:
            sets, params = f"{sets}, {code_column} = %s", [by, code]
        with connections[alias].cursor() as cursor:
            cursor.execute(f"UPDATE {table} SET {sets} WHERE {pk} = %s", [*params, key])


@write(at_least=small)
def raw_update_owners_of_items(alias: str, at_least: int) -> None:
    """One table written, filtered through a subquery on another."""
    owners, score, owner_pk = _names(alias, Owner, "score", "id")
    items, owner, count = _names(alias, Item, "owner", "count")
    with connections[alias].cursor() as cursor:
        cursor.execute(
            f"UPDATE {owners} SET {score} = {score} + 1 WHERE {owner_pk} IN "
            f"(SELECT {owner} FROM {items} WHERE {count} >= %s)",
            [at_least],
        )


@write(item=pick)
def raw_delete_item(alias: str, item: int) -> None:
    table, pk = _names(alias, Item, "id")
    if (key := row(Item, item)) is not None:
        with connections[alias].cursor() as cursor:
            cursor.execute(f"DELETE FROM {table} WHERE {pk} = %s", [key])


@write(slug=slugs, code=st.sampled_from(["a", "d"]))
def raw_insert_item(alias: str, slug: str, code: str) -> None:
    """Leaves out the generated column and the one with a ``db_default``."""
    table, *columns = _names(alias, Item, "slug", "code", "count", "price", "data", "touched")
    with connections[alias].cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES (%s, %s, 0, 1, '{{}}', %s)",
            [slug, code, timezone.now()],
        )


@write(by=small)
def raw_update_bases(alias: str, by: int) -> None:
    """Every row of the parent table: ``Derived`` rows change too."""
    table, weight = _names(alias, Base, "weight")
    with connections[alias].cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET {weight} = {weight} + %s", [by])


# --- Django 6.1: deletes the database carries out ---------------------------------------------


if hasattr(diff, "Box"):
    from tests.diffapp.models import Box, Chip, Part, Piece, Tag

    @write(kind=st.sampled_from(["box", "part", "piece", "tag", "chip"]), parent=maybe(pick))
    def create_database_deleted(alias: str, kind: str, parent: Any) -> None:
        if kind == "box":
            Box.objects.create(name="b")
        elif kind == "tag":
            Tag.objects.create(box_id=row(Box, parent))
        elif kind == "chip":
            if connections[alias].features.supports_on_delete_db_default:
                Chip.objects.create(part_id=row(Part, parent))
        elif (pk := row(Box if kind == "part" else Part, parent)) is not None:
            if kind == "part":
                Part.objects.create(box_id=pk)
            else:
                Piece.objects.create(part_id=pk)

    @write(box=pick, instance=st.booleans())
    def delete_box(alias: str, box: int, instance: bool) -> None:
        """Its parts and their pieces deleted, its tags' and chips' keys reset, by the
        database alone."""
        if (pk := row(Box, box)) is None:
            return
        if instance:
            Box.objects.get(pk=pk).delete()
        else:
            Box.objects.filter(pk=pk).delete()

    @write()
    def delete_parts_through_box(alias: str) -> None:
        Part.objects.filter(box__name="b").delete()

    @write(part=pick, by=small)
    def update_parts(alias: str, part: int, by: int) -> None:
        Part.objects.filter(pk=row(Part, part)).update(size=F("size") + by)
        Piece.objects.filter(part__size__gte=by).update(size=F("size") + 1)

    @write(box=pick)
    def raw_delete_box(alias: str, box: int) -> None:
        table, pk = _names(alias, Box, "id")
        if (key := row(Box, box)) is not None:
            with connections[alias].cursor() as cursor:
                cursor.execute(f"DELETE FROM {table} WHERE {pk} = %s", [key])


# --- where every example starts ------------------------------------------------------------------


def seed(alias: str) -> None:
    """A few rows of every model, related as the steps relate them: without them, random steps
    would seldom reach the rarer shapes (a multi-table child, a piece two cascades down)."""
    first, second = (Owner.objects.create(name=name) for name in ("n0", "n1"))
    Item.objects.create(slug="s0", code="a", owner=first, data={"k": 1})
    Item.objects.create(slug="s1", code="b", owner=second, helper=first)
    Item.objects.create(slug="s2", code="c")
    Base.objects.create(label="n0", owner=first)
    Derived.objects.create(label="n1", extra=1, owner=second)
    Derived.objects.create(label="n2", extra=2)
    if hasattr(diff, "Box"):
        box = Box.objects.create(name="b")
        Box.objects.create(name="c")
        for size in (1, 2):
            Piece.objects.create(part=Part.objects.create(box=box, size=size), size=size)
        Tag.objects.create(box=box)
        if connections[alias].features.supports_on_delete_db_default:
            Chip.objects.create(part=Part.objects.first())
