"""Model instances from cached rows, exactly as ``Model.from_db()`` builds them.

Every hit builds its instance here. ``from_db()`` costs about 2 µs an instance, most of it in
``Model.__init__``'s generic argument handling; for a batch of 100 rows that is most of a warm
``prefetch_cached()`` or ``cached_get_many()``. For a whole row, with nothing watching,
Django's code comes down to: a ``ModelState``, each value stored in the instance's
``__dict__`` by field order, a relation-cache dict if a foreign key is set, then ``adding``
and ``db``. :class:`InstanceBuilder` does just that, and only while nothing could tell the
difference:

* ``from_db`` and ``__init__`` are Django's own (checked on every call: a test may patch them);
* no ``pre_init`` or ``post_init`` receiver listens to the model (checked on every call);
* no class of the model defines ``__new__``, ``__setattr__`` or another ``__init__``, and
  every field's attribute is Django's own plain descriptor (a ``FileField``'s, or a property
  in a mixin, runs code on assignment);
* once, before the first fast build, Django built a probe instance the same way (the same
  ``__dict__`` and ``ModelState`` in the same order): a Django that changed its construction
  gets ``from_db()`` again, not a guess.

Otherwise ``from_db()`` itself runs, so overrides, signals and descriptors behave as always.
On Django 6.1 both ways give each instance the fetch mode its queryset would, and make a
batch's instances peers as one query's results are.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any, Generic, TypeVar

import django.db.models.query
from django.db.models import Model, QuerySet
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.query_utils import DeferredAttribute
from django.db.models.signals import post_init, pre_init
from django.utils.inspect import func_accepts_kwargs, func_supports_parameter

#: Django 6.1+: the fetch mode of a queryset that names none, passed to ``from_db()`` and kept
#: on each instance; ``None`` before 6.1, which has no fetch modes.
DEFAULT_FETCH_MODE: Any = getattr(django.db.models.query, "DEFAULT_FETCH_MODE", None)

_DJANGO_FROM_DB = Model.from_db.__func__  # type: ignore[attr-defined]
_DJANGO_INIT = Model.__init__
#: A library that wrapped them before this import would otherwise pass for Django.
_UNWRAPPED = (_DJANGO_FROM_DB.__qualname__, _DJANGO_INIT.__qualname__) == (
    "Model.from_db",
    "Model.__init__",
)
_PLAIN_DESCRIPTORS = (DeferredAttribute, ForeignKeyDeferredAttribute)

M = TypeVar("M", bound=Model)


def fetch_mode_of(queryset: QuerySet[Any]) -> Any:
    """The fetch mode Django gives the instances ``queryset`` loads; ``None`` before 6.1."""
    return getattr(queryset, "_fetch_mode", None)


def link_peers(instances: Iterable[Model], fetch_mode: Any) -> None:
    """Make ``instances`` one another's peers, as one query's results are under a fetch mode
    that tracks them (``FETCH_PEERS`` then loads a deferred field for all at once)."""
    if fetch_mode is None or not fetch_mode.track_peers:
        return
    peers = [weakref.ref(instance) for instance in instances]
    for peer in peers:
        peer()._state.peers = peers  # type: ignore[union-attr]


class InstanceBuilder(Generic[M]):
    """Builds instances of one model from whole rows (values in ``attnames`` order)."""

    __slots__ = ("_fk_positions", "_plain", "_probed", "attnames", "model")

    def __init__(self, model: type[M], fields: Sequence[Any]) -> None:
        self.model = model
        self.attnames = tuple(f.attname for f in fields)
        self._plain = _UNWRAPPED and _plain_shape(model, fields)
        #: Where Django's descriptor for a foreign key creates the relation cache on assignment.
        self._fk_positions = tuple(
            i
            for i, f in enumerate(fields)
            if type(_static(model, f.attname)) is ForeignKeyDeferredAttribute
        )
        self._probed: bool | None = None  # not yet compared with from_db()

    def build(self, alias: str, values: Sequence[Any], fetch_mode: Any = None) -> M:
        """One instance, as ``get()`` on a queryset of ``fetch_mode`` loads it."""
        instance: M
        model = self.model
        if (  # skips_init() as a hit asks it, without a call: probed, nothing patched or heard
            self._probed
            and getattr(model.from_db, "__func__", None) is _DJANGO_FROM_DB
            and model.__init__ is _DJANGO_INIT
            and not pre_init.receivers
            and not post_init.receivers
        ) or self.skips_init():
            instance = self._fast(alias, values, fetch_mode)
        else:
            instance = self._from_db(fetch_mode)(alias, self.attnames, values)
        if fetch_mode is not None and fetch_mode.track_peers:  # no list on a hit otherwise
            link_peers([instance], fetch_mode)
        return instance

    def build_many(
        self, alias: str, rows: Iterable[Sequence[Any]], fetch_mode: Any = None
    ) -> list[M]:
        """Instances loaded together, as one query of ``fetch_mode`` loads them."""
        if self.skips_init():
            fast = self._fast
            built: list[M] = [fast(alias, values, fetch_mode) for values in rows]
        else:
            from_db, attnames = self._from_db(fetch_mode), self.attnames
            built = [from_db(alias, attnames, values) for values in rows]
        link_peers(built, fetch_mode)
        return built

    def skips_init(self) -> bool:
        """Whether :meth:`build` takes the shortcut now, rather than ``from_db()``."""
        model = self.model
        if not (
            self._plain
            # A patched from_db may be any callable: a mock, a function, another classmethod.
            and getattr(model.from_db, "__func__", None) is _DJANGO_FROM_DB
            and model.__init__ is _DJANGO_INIT
            and not _listened(model)
        ):
            return False
        if self._probed is None:
            self._probed = self._probe()
        return self._probed

    def _from_db(self, fetch_mode: Any) -> Callable[..., Any]:
        """``from_db`` as Django's querysets call it: with the fetch mode when it takes one
        (an override that does not is still called, without it, as Django does)."""
        from_db = self.model.from_db
        if fetch_mode is None:
            return from_db
        if (
            getattr(from_db, "__func__", None) is _DJANGO_FROM_DB
            or func_supports_parameter(from_db, "fetch_mode")
            or func_accepts_kwargs(from_db)
        ):
            return partial(from_db, fetch_mode=fetch_mode)
        return from_db

    def _fast(self, alias: str, values: Sequence[Any], fetch_mode: Any) -> M:
        attnames = self.attnames
        # A length check, not zip(strict=True): that costs a fifth of this method on 3.11.
        if len(values) != len(attnames):
            raise ValueError(f"{len(values)} values for the {len(attnames)} fields of a row")
        instance: M = object.__new__(self.model)
        state = ModelState()
        for position in self._fk_positions:
            if values[position] is not None:
                state.fields_cache = {}
                break
        state.adding = False
        state.db = alias
        if fetch_mode is not None:
            state.fetch_mode = fetch_mode
        instance_dict = instance.__dict__
        instance_dict["_state"] = state
        instance_dict.update(zip(attnames, values, strict=False))  # checked above
        return instance

    def _probe(self) -> bool:
        """Whether Django's ``from_db()`` builds what :meth:`_fast` builds, for a probe row."""
        for values in ([object() for _ in self.attnames], [None] * len(self.attnames)):
            try:
                django_built = self._from_db(DEFAULT_FETCH_MODE)("probe", self.attnames, values)
            except Exception:  # a Django that checks values on construction: let it
                return False
            if _layout(django_built) != _layout(self._fast("probe", values, DEFAULT_FETCH_MODE)):
                return False
        return True


def _layout(instance: Model) -> tuple[Any, ...]:
    """Everything construction leaves on an instance: keys in order, values by identity."""
    state = vars(instance._state)
    return (
        type(instance),
        [(name, id(value)) for name, value in vars(instance).items() if name != "_state"],
        type(instance._state),
        [(name, value if name != "fields_cache" else dict(value)) for name, value in state.items()],
    )


def _listened(model: type[Model]) -> bool:
    # The receiver lists are empty in most projects; has_listeners() is a cached lookup.
    return bool(
        (pre_init.receivers and pre_init.has_listeners(model))
        or (post_init.receivers and post_init.has_listeners(model))
    )


def _static(model: type[Model], name: str) -> Any:
    for klass in model.__mro__:
        if name in vars(klass):
            return vars(klass)[name]
    return None


def _plain_shape(model: type[Model], fields: Sequence[Any]) -> bool:
    """Whether building the model runs no code but Django's: no class of it but ``Model``
    defines ``__init__``, ``__new__`` or ``__setattr__``, and every field's attribute is
    the plain descriptor Django put there for that field."""
    for klass in model.__mro__:
        if klass is Model or klass is object:
            continue
        if any(name in vars(klass) for name in ("__init__", "__new__", "__setattr__")):
            return False
    for field in fields:
        descriptor = _static(model, field.attname)
        if type(descriptor) not in _PLAIN_DESCRIPTORS or descriptor.field is not field:
            return False
    return True
