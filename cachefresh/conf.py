"""The ``CACHEFRESH`` setting: defaults, validation, and a cached view of it.

Settings reference (``python -m pydoc cachefresh.conf`` shows this page)::

    CACHEFRESH = {
        "CACHE": "default",        # alias in CACHES holding the entries (Redis recommended)
        "TIMEOUT": 3600,           # seconds every entry and token lives at most
        "KEY_PREFIX": "cf",        # start of every key; no spaces or braces
        "MODELS": [],              # "app_label.Model", "app_label.*" or "*"; or give a model
                                   # objects = cachefresh.CacheFreshManager()
        "REFRESH_STRATEGY": "auto",  # smart_refresh() default: auto, cache, full or columns
        "RETRY_INTERVAL": 1.0,     # seconds between probes of an unreachable cache
        "SIGN_ENTRIES": False,     # HMAC every entry with a key derived from SECRET_KEY
        "REPLICAS": {},            # {"replica alias": "primary alias"}: shared entries
    }
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured


class Strategy(enum.StrEnum):
    """How ``smart_refresh()`` reloads: ``AUTO`` lets the cost model choose among the others."""

    AUTO = "auto"
    CACHE = "cache"
    FULL = "full"
    COLUMNS = "columns"


KNOWN_KEYS = frozenset(
    {
        "CACHE",
        "TIMEOUT",
        "KEY_PREFIX",
        "MODELS",
        "REFRESH_STRATEGY",
        "RETRY_INTERVAL",
        "SIGN_ENTRIES",
        "REPLICAS",
        "LOG_NOTIFY",
    }
)


@dataclass(frozen=True)
class Settings:
    cache_alias: str = "default"
    timeout: int = 3600
    key_prefix: str = "cf"
    models: tuple[str, ...] = ()
    refresh_strategy: Strategy = Strategy.AUTO
    retry_interval: float = 1.0
    sign_entries: bool = False
    replicas: dict[str, str] = field(default_factory=dict)
    log_notify: bool = True


def validate(raw: Any) -> list[str]:
    """Every problem with a raw ``CACHEFRESH`` value, as messages naming what to fix."""
    if raw is None:
        return []
    if not isinstance(raw, dict):
        return [f"CACHEFRESH must be a dict, not {type(raw).__name__}."]
    problems = [
        f"CACHEFRESH has an unknown key {key!r}; valid keys are {', '.join(sorted(KNOWN_KEYS))}."
        for key in raw
        if key not in KNOWN_KEYS
    ]
    alias = raw.get("CACHE", "default")
    if not isinstance(alias, str):
        problems.append("CACHEFRESH['CACHE'] must be the name of an entry in CACHES.")
    elif alias not in django_settings.CACHES:
        problems.append(
            f"CACHEFRESH['CACHE'] is {alias!r}, which is not in CACHES "
            f"(known aliases: {', '.join(sorted(django_settings.CACHES))})."
        )
    timeout = raw.get("TIMEOUT", 3600)
    if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout <= 0:
        problems.append(
            f"CACHEFRESH['TIMEOUT'] must be a positive number of seconds, not {timeout!r}; "
            "it is the safety-net lifetime of every entry."
        )
    prefix = raw.get("KEY_PREFIX", "cf")
    if not isinstance(prefix, str) or not prefix or any(c in prefix for c in " {}\n\r\t"):
        problems.append(
            f"CACHEFRESH['KEY_PREFIX'] must be a non-empty string without spaces or braces, "
            f"not {prefix!r}."
        )
    models = raw.get("MODELS", ())
    if isinstance(models, str) or not isinstance(models, list | tuple):
        problems.append(
            "CACHEFRESH['MODELS'] must be a list of 'app_label.Model', 'app_label.*' or '*'."
        )
    else:
        for entry in models:
            if not isinstance(entry, str) or (entry != "*" and entry.count(".") != 1):
                problems.append(
                    f"CACHEFRESH['MODELS'] entry {entry!r} is not 'app_label.Model', "
                    "'app_label.*' or '*'."
                )
    strategy = raw.get("REFRESH_STRATEGY", "auto")
    if strategy not in tuple(Strategy):
        problems.append(
            f"CACHEFRESH['REFRESH_STRATEGY'] is {strategy!r}; valid strategies are "
            f"{', '.join(Strategy)}."
        )
    retry = raw.get("RETRY_INTERVAL", 1.0)
    if isinstance(retry, bool) or not isinstance(retry, int | float) or retry <= 0:
        problems.append(
            f"CACHEFRESH['RETRY_INTERVAL'] must be a positive number of seconds, not {retry!r}."
        )
    if not isinstance(raw.get("SIGN_ENTRIES", False), bool):
        problems.append("CACHEFRESH['SIGN_ENTRIES'] must be True or False.")
    problems += _replica_problems(raw.get("REPLICAS", {}))
    if not isinstance(raw.get("LOG_NOTIFY", True), bool):
        problems.append(
            "CACHEFRESH['LOG_NOTIFY'] must be True (log triggers wake listeners with pg_notify) "
            "or False (poll-only); run `cachefresh triggers install` again after changing it."
        )
    return problems


def _replica_problems(replicas: Any) -> list[str]:
    if not isinstance(replicas, dict):
        return ["CACHEFRESH['REPLICAS'] must map replica aliases to their primary's alias."]
    problems = []
    for replica, primary in replicas.items():
        unknown = [a for a in (replica, primary) if a not in django_settings.DATABASES]
        if unknown:
            problems.append(
                f"CACHEFRESH['REPLICAS'] names {unknown[0]!r}, which is not in DATABASES."
            )
        elif replica == primary or primary in replicas:
            problems.append(
                f"CACHEFRESH['REPLICAS'] maps {replica!r} to {primary!r}, which is not a primary."
            )
    return problems


@functools.cache
def get_settings() -> Settings:
    raw = getattr(django_settings, "CACHEFRESH", None)
    problems = validate(raw)
    if problems:
        raise ImproperlyConfigured(" ".join(problems))
    raw = raw or {}
    return Settings(
        cache_alias=raw.get("CACHE", "default"),
        timeout=raw.get("TIMEOUT", 3600),
        key_prefix=raw.get("KEY_PREFIX", "cf"),
        models=tuple(raw.get("MODELS", ())),
        refresh_strategy=Strategy(raw.get("REFRESH_STRATEGY", "auto")),
        retry_interval=float(raw.get("RETRY_INTERVAL", 1.0)),
        sign_entries=raw.get("SIGN_ENTRIES", False),
        replicas=dict(raw.get("REPLICAS", {})),
        log_notify=raw.get("LOG_NOTIFY", True),
    )
