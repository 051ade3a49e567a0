"""The differential test's oracle: every cached answer beside the database's own, read with
plain Django on the same connection (so inside a transaction, what that transaction sees).

Compared: every concrete field's value (``Decimal`` by its text, so ``1.5`` is not ``1.50``),
the instance's class, ``_state.db``, ``_state.adding`` and its deferred fields; and existence
(``DoesNotExist``, or absent from ``cached_get_many``'s dict). Asked about: every row and the
last row deleted (and, of ``cached_get_many``, the pk the next insert will take); and every
value of the unique fields, of ``cached_get`` and then of ``acached_get``, whose warm hits the
event loop serves.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from asgiref.sync import async_to_sync
from django.db import models

from cachefresh import Strategy, cached_get, prefetch_cached, smart_refresh
from tests.diffapp.models import Item, ItemProxy
from tests.support.differential_writes import CODES, SLUGS

GONE = "DoesNotExist"
#: Each refresh strategy in turn, on all fields and then on these.
STRATEGIES = tuple(Strategy)
SOME_FIELDS = {"Item": ["count", "code_upper", "owner_id"], "Derived": ["weight", "doubled"]}
#: Forward relations ``prefetch_cached`` walks, per model name (those of the DB_* family on
#: Django 6.1).
PREFETCHES = {
    "Item": ("owner", "helper"),
    "Derived": ("owner",),
    "Piece": ("part__box",),
    "Chip": ("part__box",),
    "Tag": ("box",),
}


def seen_as(instance: models.Model | None) -> Any:
    """What is compared of an answer: ``GONE`` for no row."""
    if instance is None:
        return GONE
    values = tuple(
        (field.attname, _plain(getattr(instance, field.attname)))
        for field in instance._meta.concrete_fields
    )
    state = instance._state
    deferred = sorted(instance.get_deferred_fields())
    return (type(instance).__name__, state.db, state.adding, deferred, values)


def _plain(value: Any) -> Any:
    return ("Decimal", str(value)) if isinstance(value, Decimal) else value


def answer(read: Any) -> Any:
    try:
        return seen_as(read())
    except models.ObjectDoesNotExist:
        return GONE


class Oracle:
    def __init__(self, checked: Iterable[type[models.Model]]) -> None:
        self.checked = list(checked)
        #: Per model: every pk seen, and the instances read at the last check (to refresh).
        self.seen: dict[type[models.Model], set[Any]] = {model: set() for model in self.checked}
        self.held: dict[type[models.Model], dict[Any, models.Model]] = {
            model: {} for model in self.checked
        }
        self.turn = 0

    def check(self, refresh: bool = True) -> None:
        self.turn += 1
        truths = {model: {o.pk: o for o in model.objects.all()} for model in self.checked}
        for model, truth in truths.items():
            self.seen[model].update(truth)
            gone = sorted(self.seen[model] - set(truth))[-1:]
            asked = sorted(truth) + gone
            expected = {pk: seen_as(truth.get(pk)) for pk in asked}
            for pk in asked:
                got = answer(lambda m=model, pk=pk: cached_get(m, pk))
                self._agree(f"cached_get({model.__name__}, {pk})", expected[pk], got)
            # And the pk the next insert takes (nothing is cached of a row that is not there).
            asked.append(max(self.seen[model], default=0) + 1)
            many = model.objects.cached_get_many(asked)
            got = {pk: seen_as(instance) for pk, instance in many.items()}
            wanted = {pk: value for pk, value in expected.items() if value != GONE}
            self._agree(f"{model.__name__}.objects.cached_get_many({asked})", wanted, got)
            if refresh:
                self._refresh(model, truth, expected)
        self._unique(truths)
        if refresh:
            self._prefetch(truths)

    def _refresh(self, model: type[models.Model], truth: dict[Any, Any], expected: Any) -> None:
        """``smart_refresh`` of the instances read at the last check, each strategy in turn."""
        held = self.held[model]
        some = SOME_FIELDS.get(model.__name__)
        for place, (pk, instance) in enumerate(sorted(held.items())):
            turn = self.turn + place
            strategy = STRATEGIES[turn % len(STRATEGIES)]
            fields = some if some and turn // len(STRATEGIES) % 2 else None
            call = f"smart_refresh({model.__name__} {pk}, {fields}, strategy={strategy.value!r})"
            try:
                smart_refresh(instance, fields, strategy=strategy)
                got = seen_as(instance)
            except models.ObjectDoesNotExist:
                got = GONE
            want = expected.get(pk, GONE)
            if fields is not None and want != GONE:
                got, want = _only(got, fields), _only(want, fields)
            self._agree(call, want, got)
        # The rows as read now are the stale instances of the next check; the deleted ones'
        # last instances stay, to be refreshed (and found gone) again.
        self.held[model] = {
            **{pk: i for pk, i in held.items() if pk not in truth and pk in expected},
            **truth,
        }

    def _unique(self, truths: dict[type[models.Model], dict[Any, Any]]) -> None:
        if Item not in truths:
            return
        # Through the proxy every other check: its instances are of its class.
        model = ItemProxy if self.turn % 2 and ItemProxy in truths else Item
        rows = truths[model].values()
        for name, values in (("slug", SLUGS), ("code_upper", sorted({c.upper() for c in CODES}))):
            for value in values:
                holder = next((o for o in rows if getattr(o, name) == value), None)
                call = f"{model.__name__}.objects.cached_get({name}={value!r})"
                sync = model.objects.cached_get
                aget = async_to_sync(model.objects.acached_get)  # a hit: on the event loop
                # Each first in turn: the second reads what the first left (guesses, entries).
                pair = (sync, aget) if self.turn // 2 % 2 else (aget, sync)
                for get in pair:
                    got = answer(lambda n=name, v=value, get=get: get(**{n: v}))
                    self._agree(f"{'async ' if get is aget else ''}{call}", seen_as(holder), got)

    def _prefetch(self, truths: dict[type[models.Model], dict[Any, Any]]) -> None:
        by_name = {model.__name__: model for model in truths}
        for name, lookups in PREFETCHES.items():
            if name not in by_name:
                continue
            instances = list(by_name[name].objects.order_by("pk"))
            prefetch_cached(instances, *lookups)
            for instance in instances:
                for lookup in lookups:
                    self._walk(instance, lookup, truths, by_name)

    def _walk(self, instance: Any, lookup: str, truths: Any, by_name: Any) -> None:
        here = instance
        for name in lookup.split("__"):
            field = type(here)._meta.get_field(name)
            target = by_name[field.related_model.__name__]
            key = getattr(here, field.attname)
            want = seen_as(truths[target].get(key)) if key is not None else GONE
            if not field.is_cached(here):
                raise AssertionError(f"prefetch_cached left {lookup!r} unfetched on {here!r}")
            here = field.get_cached_value(here)
            call = f"prefetch_cached({instance!r}, {lookup!r}): .{name}"
            self._agree(call, want, seen_as(here))
            if here is None:
                return

    @staticmethod
    def _agree(call: str, database: Any, cached: Any) -> None:
        if database != cached:
            raise AssertionError(f"{call}:\n  database: {database}\n  cachefresh: {cached}")


def _only(seen: Any, fields: list[str]) -> Any:
    *rest, values = seen
    return (*rest, tuple(pair for pair in values if pair[0] in fields))
