"""The differential test's steps: random writes, each a plain Django (or raw SQL) call.

A step is an :class:`Op`, data drawn by Hypothesis and printed as a call (``save_f(item=2,
by=-1)``), so a shrunk failing sequence reads as what was done. A row is named by its place
among its model's rows in the database, ``pk`` order, modulo their number: the same step means
the same thing however the sequence shrank. A write the database refuses (a unique value taken)
is a step too: it must leave nothing behind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, connections, models, transaction
from django.db.models import F
from django.db.models.functions import Lower
from hypothesis import strategies as st

from tests.diffapp.models import Item, ItemProxy, Owner

SLUGS = ("s0", "s1", "s2", "s3")
#: Two spellings of some codes: their ``code_upper`` collide, as unique values do.
CODES = ("a", "b", "c", "A", "B")
NAMES = ("n0", "n1", "n2")
PRICES = (Decimal("0.00"), Decimal("1.50"), Decimal("12.34"))
DATA = ({}, {"k": 1}, {"k": [1, "x"], "d": {"e": None}}, [2, 3], "s")

pick = st.integers(0, 7)
small = st.integers(-2, 3)
slugs, codes, names = st.sampled_from(SLUGS), st.sampled_from(CODES), st.sampled_from(NAMES)
prices, data = st.sampled_from(PRICES), st.sampled_from(DATA)


@dataclass(frozen=True)
class Op:
    name: str
    args: tuple[tuple[str, Any], ...]

    def __repr__(self) -> str:
        return f"{self.name}({', '.join(f'{key}={value!r}' for key, value in self.args)})"


#: name -> (function(alias, **args), strategies of its arguments)
WRITES: dict[str, tuple[Callable[..., None], dict[str, st.SearchStrategy[Any]]]] = {}


def write(**arguments: st.SearchStrategy[Any]) -> Callable[[Callable[..., None]], Any]:
    def register(function: Callable[..., None]) -> Callable[..., None]:
        WRITES[function.__name__] = (function, arguments)
        return function

    return register


def ops() -> st.SearchStrategy[Op]:
    return st.one_of(
        [
            st.fixed_dictionaries(arguments).map(
                lambda drawn, name=name: Op(name, tuple(drawn.items()))
            )
            for name, (_, arguments) in WRITES.items()
        ]
    )


def run(op: Op, alias: str, savepoint: bool) -> None:
    """Run ``op`` on ``alias``; a refused write is rolled back (to a savepoint in a
    transaction, where the database would otherwise refuse every later statement)."""
    function, _ = WRITES[op.name]
    try:
        if savepoint:
            with transaction.atomic(using=alias):
                function(alias, **dict(op.args))
        else:
            function(alias, **dict(op.args))
    except IntegrityError:
        pass


def row(model: type[models.Model], place: int | None) -> Any:
    """The pk at ``place`` among ``model``'s rows (``None`` when there are none or no place
    was asked)."""
    pks = sorted(model._base_manager.values_list("pk", flat=True))
    return None if place is None or not pks else pks[place % len(pks)]


def maybe(place: st.SearchStrategy[int]) -> st.SearchStrategy[int | None]:
    return st.none() | place


# --- owners -------------------------------------------------------------------------------------


@write(name=names, score=small)
def create_owner(alias: str, name: str, score: int) -> None:
    Owner.objects.create(name=name, score=score)


@write(owner=pick, name=names, score=small)
def save_owner(alias: str, owner: int, name: str, score: int) -> None:
    if (pk := row(Owner, owner)) is not None:
        instance = Owner.objects.get(pk=pk)
        instance.name, instance.score = name, score
        instance.save()


@write(owner=pick)
def delete_owner(alias: str, owner: int) -> None:
    """``CASCADE`` to its items, ``SET_NULL`` on the items it helps and its bases."""
    if (pk := row(Owner, owner)) is not None:
        Owner.objects.get(pk=pk).delete()


@write(slug=slugs)
def delete_owners_through_items(alias: str, slug: str) -> None:
    Owner.objects.filter(items__slug=slug).delete()


@write(at_least=small, by=small)
def update_owners_joined(alias: str, at_least: int, by: int) -> None:
    Owner.objects.filter(items__count__gte=at_least).update(score=F("score") + by)


# --- items --------------------------------------------------------------------------------------


@write(
    slug=slugs, code=codes, count=small, price=prices, data=data,
    owner=maybe(pick), helper=maybe(pick), via_save=st.booleans(),
)  # fmt: skip
def create_item(alias: str, via_save: bool, owner: Any, helper: Any, **values: Any) -> None:
    item = Item(owner_id=row(Owner, owner), helper_id=row(Owner, helper), **values)
    if via_save:
        item.save()
    else:
        Item.objects.bulk_create([item])


@write(item=st.none() | pick, slug=slugs, code=codes, force_insert=st.booleans())
def save_with_pk(alias: str, item: int | None, slug: str, code: str, force_insert: bool) -> None:
    """A new instance given an existing row's pk (Django tries an ``UPDATE`` first), or the
    pk of the last row deleted, or of a row never seen (an ``INSERT`` of an explicit pk)."""
    pk = row(Item, item)
    if pk is None:
        last = Item.objects.order_by("-pk").values_list("pk", flat=True).first()
        pk = (last or 0) + (1 if item is None else 2)
    Item(pk=pk, slug=slug, code=code).save(force_insert=force_insert and item is None)


@write(item=pick, code=codes, count=small, price=prices, data=data, proxy=st.booleans())
def save_item(alias: str, item: int, proxy: bool, **values: Any) -> None:
    if (pk := row(Item, item)) is not None:
        instance = (ItemProxy if proxy else Item).objects.get(pk=pk)
        for name, value in values.items():
            setattr(instance, name, value)
        instance.save()


@write(
    item=pick, code=codes, count=small, helper=maybe(pick),
    fields=st.sets(st.sampled_from(["code", "count", "helper"]), min_size=1),
)  # fmt: skip
def save_item_fields(
    alias: str, item: int, code: str, count: int, helper: Any, fields: Any
) -> None:
    if (pk := row(Item, item)) is not None:
        instance = Item.objects.get(pk=pk)
        instance.code, instance.count = code, count
        instance.helper_id = row(Owner, helper)
        instance.save(update_fields=sorted(fields))


@write(item=pick, by=small, code=st.none() | codes)
def save_f(alias: str, item: int, by: int, code: str | None) -> None:
    """``F()`` values (and a generated field's input): Django 6.x saves these with
    ``UPDATE … RETURNING``."""
    if (pk := row(Item, item)) is not None:
        instance = Item.objects.get(pk=pk)
        instance.count = F("count") + by
        instance.price = F("price") + Decimal("1.25")
        if code is not None:
            instance.code = code
        instance.save()


@write(name=names, by=small)
def update_items_joined(alias: str, name: str, by: int) -> None:
    Item.objects.filter(owner__name=name).update(
        count=F("count") + by, price=F("price") + Decimal("0.50"), data={"by": by}
    )


@write(item=pick, slug=st.none() | slugs, code=st.none() | codes)
def update_item_unique(alias: str, item: int, slug: str | None, code: str | None) -> None:
    values = {"slug": slug, "code": code}
    values = {name: value for name, value in values.items() if value is not None}
    if values and (pk := row(Item, item)) is not None:
        Item.objects.filter(pk=pk).update(**values)


@write(name=names, slug=slugs, lower=st.booleans())
def update_items_unique_joined(alias: str, name: str, slug: str, lower: bool) -> None:
    """Unique values changed on rows not named by pk: their old values are unknown."""
    items = Item.objects.filter(owner__name=name)
    items.update(code=Lower("code")) if lower else items.update(slug=slug)


@write(item=pick, owner=maybe(pick))
def update_item_owner_via_proxy(alias: str, item: int, owner: Any) -> None:
    if (pk := row(Item, item)) is not None:
        ItemProxy.objects.filter(pk=pk).update(owner_id=row(Owner, owner))


@write(item=pick, how=st.sampled_from(["instance", "queryset", "proxy"]))
def delete_item(alias: str, item: int, how: str) -> None:
    if (pk := row(Item, item)) is None:
        return
    if how == "instance":
        Item.objects.get(pk=pk).delete()
    else:
        (ItemProxy if how == "proxy" else Item).objects.filter(pk=pk).delete()


@write(name=names)
def delete_items_through_owner(alias: str, name: str) -> None:
    """Django's fast delete, filtered through a relation: no list of pks."""
    Item.objects.filter(owner__name=name).delete()


@write(
    rows=st.lists(st.tuples(slugs, codes, small), min_size=1, max_size=3),
    conflicts=st.sampled_from(["fail", "ignore", "update"]),
)
def bulk_create_items(alias: str, rows: list[tuple[str, str, int]], conflicts: str) -> None:
    items = [Item(slug=slug, code=code, count=count) for slug, code, count in rows]
    if conflicts == "ignore":
        Item.objects.bulk_create(items, ignore_conflicts=True)
    elif conflicts == "update":
        features = connections[alias].features
        # MySQL and MariaDB update on any unique key, and take no unique_fields.
        unique = ["slug"] if features.supports_update_conflicts_with_target else None
        if unique is not None and len({slug for slug, _, _ in rows}) < len(rows):
            return  # PostgreSQL refuses to update one row twice in a statement
        Item.objects.bulk_create(
            items, update_conflicts=True, unique_fields=unique, update_fields=["code", "count"]
        )
    else:
        Item.objects.bulk_create(items)


@write(items=st.lists(pick, min_size=1, max_size=3), count=small, data=data, helper=maybe(pick))
def bulk_update_items(alias: str, items: list[int], count: int, data: Any, helper: Any) -> None:
    objects = list(Item.objects.filter(pk__in=[row(Item, place) for place in items]))
    for instance in objects:
        instance.count, instance.data = count, data
        instance.helper_id = row(Owner, helper)
    Item.objects.bulk_update(objects, ["count", "data", "helper"])


@write(slug=slugs, count=small, code=codes)
def update_or_create_item(alias: str, slug: str, count: int, code: str) -> None:
    Item.objects.update_or_create(
        slug=slug, defaults={"count": count}, create_defaults={"count": count, "code": code}
    )
