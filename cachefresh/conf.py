"""The ``CACHEFRESH`` setting: defaults, validation, and a cached view of it.

``python manage.py cachefresh settings`` prints the reference below with the project's current
value of every key, and what is wrong with them. In short (``python -m pydoc cachefresh.conf``
shows this page, with or without ``DJANGO_SETTINGS_MODULE``)::

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
        "NEAR_CACHE": False,       # True, or {"MAX_ENTRIES": 10000, "MAX_LAG": 0.25}: rows
                                   # held in each process, kept fresh by Redis push (Redis only)
        "LOG_NOTIFY": True,        # log triggers wake listeners with pg_notify (False: poll)
    }

Django's settings are read only when a function here is called, never at import: this module
(and its documentation) must load where no settings are configured.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass, field
from typing import Any

from django import conf as django_conf
from django.core.exceptions import ImproperlyConfigured


class Strategy(enum.StrEnum):
    """How ``smart_refresh()`` reloads: ``AUTO`` lets the cost model choose among the others."""

    AUTO = "auto"
    CACHE = "cache"
    FULL = "full"
    COLUMNS = "columns"


@dataclass(frozen=True)
class KeyReference:
    """One key of ``CACHEFRESH`` as ``manage.py cachefresh settings`` describes it."""

    key: str
    #: The default, spelled as it would be written in settings.py.
    default: str
    meaning: str


REFERENCE = (
    KeyReference(
        "CACHE",
        "'default'",
        "The alias in CACHES that holds the entries. Use a cache every process shares (Redis); "
        "a process-local one (LocMemCache) does not carry invalidations between processes.",
    ),
    KeyReference(
        "TIMEOUT",
        "3600",
        "Seconds every entry and token lives at most: the safety net for writes cachefresh "
        "cannot see (other programs, psql, database triggers). A positive whole number.",
    ),
    KeyReference(
        "KEY_PREFIX",
        "'cf'",
        "The start of every key cachefresh writes; no spaces or braces. Changing it drops "
        "every entry at once.",
    ),
    KeyReference(
        "MODELS",
        "[]",
        "Models cached without CacheFreshManager: 'app_label.Model', 'app_label.*' or '*'. "
        "Giving a model objects = cachefresh.CacheFreshManager() is the other way.",
    ),
    KeyReference(
        "REFRESH_STRATEGY",
        "'auto'",
        "smart_refresh()'s strategy when a call names none: 'auto' (the cost model chooses), "
        "'cache', 'full' or 'columns'.",
    ),
    KeyReference(
        "RETRY_INTERVAL",
        "1.0",
        "Seconds between attempts while the cache is unreachable; meanwhile reads go to the "
        "database and retirements wait in the process, replayed once the cache answers.",
    ),
    KeyReference(
        "SIGN_ENTRIES",
        "False",
        "True: every entry carries an HMAC under a key derived from SECRET_KEY, and an entry "
        "that does not verify is a miss.",
    ),
    KeyReference(
        "REPLICAS",
        "{}",
        "Read-replica alias -> its primary's alias, both in DATABASES: reads through the "
        "replica share the primary's entries, and misses read the primary, never a lagging copy.",
    ),
    KeyReference(
        "NEAR_CACHE",
        "False",
        "True, or {'MAX_ENTRIES': 10000, 'MAX_LAG': 0.25}: decoded rows held in each process, "
        "kept fresh by Redis pushing invalidations. Needs one Redis server or primary: any "
        "other cache is refused (check E006), and so is a Redis Cluster (E007), whose nodes "
        "each push for their own keys while cachefresh listens to one.",
    ),
    KeyReference(
        "LOG_NOTIFY",
        "True",
        "Whether the invalidation log's triggers (PostgreSQL) wake `cachefresh listen` with "
        "pg_notify; False: listeners poll. Run `cachefresh triggers install` after changing it.",
    ),
)
KNOWN_KEYS = frozenset(entry.key for entry in REFERENCE)
NEAR_KEYS = frozenset({"MAX_ENTRIES", "MAX_LAG"})


@dataclass(frozen=True)
class NearCacheSettings:
    #: Rows held per process, least recently used dropped first.
    max_entries: int = 10000
    #: Seconds the invalidation channel may go unheard before the near cache stops serving.
    max_lag: float = 0.25


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
    near_cache: NearCacheSettings | None = None
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
    elif alias not in django_conf.settings.CACHES:
        problems.append(
            f"CACHEFRESH['CACHE'] is {alias!r}, which is not in CACHES "
            f"(known aliases: {', '.join(sorted(django_conf.settings.CACHES))})."
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
    problems += _near_problems(raw.get("NEAR_CACHE", False))
    if not isinstance(raw.get("LOG_NOTIFY", True), bool):
        problems.append(
            "CACHEFRESH['LOG_NOTIFY'] must be True (log triggers wake listeners with pg_notify) "
            "or False (poll-only); run `cachefresh triggers install` again after changing it."
        )
    return problems


def _near_problems(near: Any) -> list[str]:
    if isinstance(near, bool):
        return []
    if not isinstance(near, dict):
        return ["CACHEFRESH['NEAR_CACHE'] must be True, False or a dict of MAX_ENTRIES, MAX_LAG."]
    problems = [
        f"CACHEFRESH['NEAR_CACHE'] has an unknown key {key!r}; valid keys are "
        f"{', '.join(sorted(NEAR_KEYS))}."
        for key in near
        if key not in NEAR_KEYS
    ]
    entries = near.get("MAX_ENTRIES", 10000)
    if isinstance(entries, bool) or not isinstance(entries, int) or entries <= 0:
        problems.append(
            f"CACHEFRESH['NEAR_CACHE']['MAX_ENTRIES'] must be a positive whole number of rows, "
            f"not {entries!r}."
        )
    lag = near.get("MAX_LAG", 0.25)
    if isinstance(lag, bool) or not isinstance(lag, int | float) or not 0 < lag <= 60:
        problems.append(
            f"CACHEFRESH['NEAR_CACHE']['MAX_LAG'] must be a number of seconds above 0 and at "
            f"most 60, not {lag!r}; it bounds how stale a row may be during an outage."
        )
    return problems


def _near_settings(near: Any) -> NearCacheSettings | None:
    if near is False:
        return None
    near = {} if near is True else near
    return NearCacheSettings(
        max_entries=near.get("MAX_ENTRIES", 10000), max_lag=float(near.get("MAX_LAG", 0.25))
    )


def _replica_problems(replicas: Any) -> list[str]:
    if not isinstance(replicas, dict):
        return ["CACHEFRESH['REPLICAS'] must map replica aliases to their primary's alias."]
    problems = []
    for replica, primary in replicas.items():
        unknown = [a for a in (replica, primary) if a not in django_conf.settings.DATABASES]
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
    raw = getattr(django_conf.settings, "CACHEFRESH", None)
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
        near_cache=_near_settings(raw.get("NEAR_CACHE", False)),
        log_notify=raw.get("LOG_NOTIFY", True),
    )
