"""Which models are cached: built from managers and ``CACHEFRESH['MODELS']``, and rebuilt
whenever Django's app registry changes; and the plan of each cached model."""

from __future__ import annotations

import fnmatch
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured

from cachefresh import changes
from cachefresh.conf import get_settings
from cachefresh.plans import ModelPlan, build_plan
from cachefresh.support import ModelType, columns_problem, concrete_model, unsupported_reason
from cachefresh.tables import deleted_along, family_tables

#: The class attribute by which a manager asks for its model to be cached (CacheFreshManager
#: sets it); read here so that the registry need not import the manager.
CACHING_MANAGER_FLAG = "caches_model_instances"


@dataclass(frozen=True)
class Problem:
    """A model the settings ask for that cannot be cached: reported by check E002."""

    message: str
    hint: str


@dataclass(frozen=True)
class Registration:
    cached: frozenset[ModelType]
    skipped: dict[ModelType, str]
    problems: tuple[Problem, ...]
    #: Table family per model label (historical models of data migrations share labels).
    watched: dict[str, tuple[str, ...]]
    #: The app registry's model list it was built from: Django makes a new one whenever the
    #: installed apps change (override_settings, set_installed_apps, a model registered late).
    source: list[ModelType]
    #: What the database itself changes in cached tables when rows of a table are deleted
    #: (Django 6.1's DB_* on_delete): table -> cached tables whose rows it may delete or change.
    deletes_reach: dict[str, tuple[str, ...]]
    #: table -> the cached tables whose entries a write of unknown rows of it may make wrong.
    whole_writes: dict[str, tuple[str, ...]]
    #: table -> the cached model that owns it (and the index entries of its columns).
    owners: dict[str, ModelType]
    #: Finds the tables of ``whole_writes`` named in SQL, quoted or not, in any case.
    named: re.Pattern[str] | None
    #: The tables of ``whole_writes`` by their lower-case names, as ``named`` finds them.
    by_lower_name: dict[str, tuple[str, ...]]

    def tables_named(self, sql: str) -> set[str]:
        """The tables of ``whole_writes`` that ``sql`` names (or seems to: a string literal or
        a column of the same name counts too; retiring too much only costs a refill)."""
        if self.named is None:
            return set()
        by_lower = self.by_lower_name
        return {table for found in self.named.findall(sql) for table in by_lower[found.lower()]}


def _register(models: list[ModelType]) -> Registration:
    cached, skipped, problems = _choose(models, get_settings().models)
    watched, deletes_reach, whole_writes = _reach_of_writes(cached, models)
    return Registration(
        frozenset(cached),
        skipped,
        tuple(problems),
        watched,
        models,
        deletes_reach,
        whole_writes,
        {model._meta.db_table: model for model in cached},
        _named_pattern(whole_writes),
        _by_lower_name(whole_writes),
    )


def _choose(
    models: list[ModelType], patterns: tuple[str, ...]
) -> tuple[set[ModelType], dict[ModelType, str], list[Problem]]:
    """The concrete models to cache, the ones a wildcard matched that cannot be (and why), and
    the problems of the models the settings or a manager ask for by name."""
    cached: set[ModelType] = set()
    skipped: dict[ModelType, str] = {}
    problems = []
    for model in models:
        meta = model._meta
        by_manager = getattr(type(model._default_manager), CACHING_MANAGER_FLAG, False) is True
        named = meta.label in patterns or meta.label_lower in patterns
        wildcard = any(
            p == "*" or (p.endswith(".*") and fnmatch.fnmatch(meta.label, p)) for p in patterns
        )
        if not (by_manager or named or wildcard):
            continue
        reason = unsupported_reason(model)
        if reason is None:
            cached.add(concrete_model(model))
        elif by_manager or named:
            hint = (
                f"Give {meta.label} a plain models.Manager as its default manager."
                if by_manager
                else f"Remove {meta.label!r} from CACHEFRESH['MODELS']."
            )
            problems.append(Problem(f"cachefresh cannot cache {meta.label}: {reason}.", hint))
        else:
            skipped[model] = reason
    problems += [
        Problem(
            f"CACHEFRESH['MODELS'] names {p!r}, which is not an installed model.",
            "Use 'app_label.ModelName' of an installed app (python manage.py showmigrations "
            "lists the app labels), or remove the entry.",
        )
        for p in patterns
        if p != "*" and not p.endswith(".*") and not _label_exists(p)
    ]
    return cached, skipped, problems


_TableMap = dict[str, tuple[str, ...]]


def _reach_of_writes(
    cached: set[ModelType], models: list[ModelType]
) -> tuple[_TableMap, _TableMap, _TableMap]:
    """``Registration.watched``, ``.deletes_reach`` and ``.whole_writes``."""
    watched = {}
    families: _TableMap = {}
    for model in cached:
        family = family_tables(model, models)
        families.update(dict.fromkeys(family, family))
        for member in models:
            if member._meta.db_table in family:
                watched[member._meta.label_lower] = family
    deletes_reach = {
        parent: reached
        for parent, children in deleted_along(models).items()
        if (reached := tuple(sorted({t for c in children for t in families.get(c, ())})))
    }
    whole_writes = {
        table: tuple(sorted({*families.get(table, ()), *deletes_reach.get(table, ())}))
        for table in {*families, *deletes_reach}
    }
    return watched, deletes_reach, whole_writes


def _by_lower_name(tables: Iterable[str]) -> dict[str, tuple[str, ...]]:
    found: dict[str, tuple[str, ...]] = {}
    for table in tables:
        found[table.lower()] = (*found.get(table.lower(), ()), table)
    return found


def _named_pattern(tables: Iterable[str]) -> re.Pattern[str] | None:
    # Longest first, and not inside a longer identifier: "app_post" is not "app_postdetail".
    names = sorted(tables, key=len, reverse=True)
    if not names:
        return None
    alternatives = "|".join(re.escape(name) for name in names)
    return re.compile(rf"(?<![\w$])(?:{alternatives})(?![\w$])", re.IGNORECASE)


class Registry:
    """Which concrete models are cached, built from managers and ``CACHEFRESH['MODELS']``,
    rebuilt whenever Django's app registry changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._registration: Registration | None = None
        self._plans: dict[ModelType, ModelPlan] = {}
        self._database_plans: dict[ModelType, ModelPlan] = {}

    def registration(self) -> Registration:
        models = apps.get_models()
        current = self._registration
        if current is None or current.source is not models:
            with self._lock:
                current = self._registration
                if current is None or current.source is not models:
                    current = self._registration = _register(models)
                    self._plans = {}
        return current

    def cached_models(self) -> frozenset[ModelType]:
        """The cached concrete models; ``ImproperlyConfigured`` if the settings ask for a
        model that cannot be cached (check E002 reports the same without raising)."""
        registration = self.registration()
        if registration.problems:
            raise ImproperlyConfigured(
                " ".join(f"{p.message} {p.hint}" for p in registration.problems)
            )
        return registration.cached

    def problems(self) -> tuple[Problem, ...]:
        return self.registration().problems

    def skipped(self) -> dict[ModelType, str]:
        return dict(self.registration().skipped)

    def watched_family(self, model: ModelType) -> tuple[str, ...] | None:
        """The tables to invalidate when ``model``'s table is written, ``None`` if uncached.

        Writes never raise for a model the settings cannot cache (check E002 says so): the
        models that are cached keep being invalidated.
        """
        return self.registration().watched.get(concrete_model(model)._meta.label_lower)

    def plan(self, model: ModelType) -> ModelPlan:
        """The plan of a cached model (or its proxy); ``ImproperlyConfigured`` if not cached."""
        plan = self.plan_or_none(model)
        if plan is None:
            raise ImproperlyConfigured(
                f"{model._meta.label} is not cached by cachefresh. Give it "
                f"`objects = cachefresh.CacheFreshManager()` as its default manager, or add "
                f"'{model._meta.label}' to settings.CACHEFRESH['MODELS']."
            )
        return plan

    def plan_or_none(self, model: ModelType) -> ModelPlan | None:
        """The plan of a cached model (or its proxy), ``None`` for a model not cached."""
        # Annotated, not cast: this is the hot read path (a model class always has one).
        concrete: ModelType = model._meta.concrete_model  # type: ignore[assignment]
        plan = self._plans.get(concrete)
        # A model whose fields changed at run time gets a new plan, so a new fingerprint; a
        # changed app registry (set_installed_apps) drops every plan.
        if (
            plan is not None
            and plan.fields is concrete._meta.concrete_fields
            and self._registration is not None
            and self._registration.source is apps.get_models()
        ):
            return plan
        # Not cached_models(): a setting check E002 refuses must not stop the models it
        # does not name (writes to them still retire their rows).
        if concrete not in self.registration().cached:
            return None
        plan = self._plans[concrete] = build_plan(concrete, self.registration().source)
        return plan

    def database_plan(self, model: ModelType) -> ModelPlan | None:
        """A plan for reading an uncached model's columns (``smart_refresh()`` without the
        cache); ``None`` when its rows cannot be read by one primary key."""
        concrete = concrete_model(model)
        plan = self._database_plans.get(concrete)
        if plan is not None and plan.fields is concrete._meta.concrete_fields:
            return plan
        if columns_problem(concrete) is not None:
            return None
        plan = self._database_plans[concrete] = build_plan(concrete, self.registration().source)
        return plan

    def reset(self) -> None:
        changes.bump()
        with self._lock:
            self._registration = None
            self._plans = {}
            self._database_plans = {}


def _label_exists(label: str) -> bool:
    try:
        apps.get_model(label)
    except (LookupError, ValueError):
        return False
    return True


registry = Registry()
