"""The ``CACHEFRESH`` setting: one table of keys (:data:`KEYS`) gives each key's default, meaning
and check, and so this page, :func:`validate`, :func:`get_settings` and ``manage.py cachefresh
settings`` (the reference with the project's current values).

Django's settings are read only when a function here is called, never at import: this module
(and its documentation, ``python -m pydoc cachefresh.conf``) must load where no settings are
configured.
"""

from __future__ import annotations

import functools
import textwrap
from dataclasses import dataclass
from typing import Any

from django import conf as django_conf
from django.core.exceptions import ImproperlyConfigured

from cachefresh.setting_keys import (
    KEYS,
    KNOWN_KEYS,
    NEAR_KEYS,
    Key,
    NearCacheSettings,
    problems_of,
    spelled,
    values_of,
)
from cachefresh.strategy import Strategy

__all__ = [
    "KEYS",
    "KNOWN_KEYS",
    "NEAR_KEYS",
    "Key",
    "NearCacheSettings",
    "Settings",
    "Strategy",
    "get_settings",
    "validate",
]


@dataclass(frozen=True)
class Settings:
    """``CACHEFRESH`` validated, each key under its :attr:`Key.attribute` (defaults in KEYS)."""

    cache_alias: str
    timeout: int
    key_prefix: str
    models: tuple[str, ...]
    refresh_strategy: Strategy
    retry_interval: float
    sign_entries: bool
    replicas: dict[str, str]
    near_cache: NearCacheSettings | None
    wait_for_replicas: int
    log_notify: bool


def validate(raw: Any) -> list[str]:
    """Every problem with a raw ``CACHEFRESH`` value, as messages naming what to fix."""
    if raw is None:
        return []
    if not isinstance(raw, dict):
        return [f"CACHEFRESH must be a dict, not {type(raw).__name__}."]
    return problems_of(raw, KEYS, "CACHEFRESH")


@functools.cache
def get_settings() -> Settings:
    raw = getattr(django_conf.settings, "CACHEFRESH", None)
    problems = validate(raw)
    if problems:
        raise ImproperlyConfigured(" ".join(problems))
    return Settings(**values_of(raw or {}, KEYS))


def _reference() -> str:
    """The settings reference this page shows, from :data:`KEYS` and :data:`NEAR_KEYS`."""
    lines = ["Settings reference, every key optional, with its default::", "", "    CACHEFRESH = {"]
    for key in KEYS:
        lines.append(f'        "{key.name}": {spelled(key.default)},')
        lines += [f"            # {line}" for line in textwrap.wrap(key.meaning, 80)]
    lines += ["    }", "", "``NEAR_CACHE`` as a dict::", "", "    {"]
    for key in NEAR_KEYS:
        lines.append(f'        "{key.name}": {spelled(key.default)},')
        lines += [f"            # {line}" for line in textwrap.wrap(key.meaning, 80)]
    lines.append("    }")
    return "\n".join(lines)


__doc__ = f"{__doc__}\n{_reference()}\n"
