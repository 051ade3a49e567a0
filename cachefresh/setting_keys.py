"""The keys of ``CACHEFRESH`` and of its ``NEAR_CACHE`` dict, each written once: its default,
its meaning and its check. :mod:`cachefresh.conf` builds the settings, their validation and
their reference from these tables."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import conf as django_conf

from cachefresh.strategy import Strategy


def _seconds(value: Any, positive_int: bool = False) -> bool:
    if isinstance(value, bool) or not isinstance(value, int if positive_int else int | float):
        return False
    return bool(value > 0)


def _check_cache(alias: Any) -> list[str]:
    if not isinstance(alias, str):
        return ["CACHEFRESH['CACHE'] must be the name of an entry in CACHES."]
    if alias not in django_conf.settings.CACHES:
        known = ", ".join(sorted(django_conf.settings.CACHES))
        return [
            f"CACHEFRESH['CACHE'] is {alias!r}, which is not in CACHES (known aliases: {known})."
        ]
    return []


def _check_models(models: Any) -> list[str]:
    if isinstance(models, str) or not isinstance(models, list | tuple):
        return ["CACHEFRESH['MODELS'] must be a list of 'app_label.Model', 'app_label.*' or '*'."]
    return [
        f"CACHEFRESH['MODELS'] entry {entry!r} is not 'app_label.Model', 'app_label.*' or '*'."
        for entry in models
        if not isinstance(entry, str) or (entry != "*" and entry.count(".") != 1)
    ]


def _check_replicas(replicas: Any) -> list[str]:
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


def _check_near(near: Any) -> list[str]:
    if isinstance(near, bool):
        return []
    if not isinstance(near, dict):
        names = ", ".join(key.name for key in NEAR_KEYS)
        return [f"CACHEFRESH['NEAR_CACHE'] must be True, False or a dict of {names}."]
    return problems_of(near, NEAR_KEYS, "CACHEFRESH['NEAR_CACHE']")


def _must(test: Callable[[Any], bool], message: str) -> Callable[[Any], list[str]]:
    """A check that ``test(value)`` holds; ``message`` is formatted with ``value``."""
    return lambda value: [] if test(value) else [message.format(value=value)]


@dataclass(frozen=True)
class Key:
    """One key of ``CACHEFRESH`` (or of ``NEAR_CACHE``): written once, used everywhere."""

    name: str
    #: The attribute of :class:`Settings` (or :class:`NearCacheSettings`) it sets.
    attribute: str
    default: Any
    meaning: str
    #: The problems with a value of it, as messages naming what to fix.
    check: Callable[[Any], list[str]]
    #: The value :func:`get_settings` keeps, from a valid one.
    convert: Callable[[Any], Any] = lambda value: value


NEAR_KEYS = (
    Key(
        "MAX_ENTRIES",
        "max_entries",
        10000,
        "Rows held per process, least recently used dropped first.",
        _must(
            lambda v: _seconds(v, positive_int=True),
            "CACHEFRESH['NEAR_CACHE']['MAX_ENTRIES'] must be a positive whole number of rows, "
            "not {value!r}.",
        ),
    ),
    Key(
        "MAX_LAG",
        "max_lag",
        0.25,
        "Seconds the invalidation channel may go unheard before the near cache stops serving.",
        _must(
            lambda v: _seconds(v) and v <= 60,
            "CACHEFRESH['NEAR_CACHE']['MAX_LAG'] must be a number of seconds above 0 and at "
            "most 60, not {value!r}; it bounds how stale a row may be during an outage.",
        ),
        float,
    ),
)


@dataclass(frozen=True)
class NearCacheSettings:
    max_entries: int
    max_lag: float


def _near_settings(near: Any) -> NearCacheSettings | None:
    if near is False:
        return None
    given = {} if near is True else near
    return NearCacheSettings(**values_of(given, NEAR_KEYS))


KEYS = (
    Key(
        "CACHE",
        "cache_alias",
        "default",
        "The alias in CACHES that holds the entries. Use a cache every process shares (Redis); "
        "a process-local one (LocMemCache) does not carry invalidations between processes.",
        _check_cache,
    ),
    Key(
        "TIMEOUT",
        "timeout",
        3600,
        "Seconds every entry and token lives at most: the safety net for writes cachefresh "
        "cannot see (other programs, psql, database triggers). A positive whole number.",
        _must(
            lambda v: _seconds(v, positive_int=True),
            "CACHEFRESH['TIMEOUT'] must be a positive number of seconds, not {value!r}; "
            "it is the safety-net lifetime of every entry.",
        ),
    ),
    Key(
        "KEY_PREFIX",
        "key_prefix",
        "cf",
        "The start of every key cachefresh writes; no spaces or braces. Changing it drops "
        "every entry at once.",
        _must(
            lambda v: isinstance(v, str) and bool(v) and not any(c in v for c in " {}\n\r\t"),
            "CACHEFRESH['KEY_PREFIX'] must be a non-empty string without spaces or braces, "
            "not {value!r}.",
        ),
    ),
    Key(
        "MODELS",
        "models",
        [],
        "Models cached without CacheFreshManager: 'app_label.Model', 'app_label.*' or '*'. "
        "Giving a model objects = cachefresh.CacheFreshManager() is the other way.",
        _check_models,
        tuple,
    ),
    Key(
        "REFRESH_STRATEGY",
        "refresh_strategy",
        "auto",
        "smart_refresh()'s strategy when a call names none: 'auto' (the cost model chooses), "
        "'cache', 'full' or 'columns'.",
        _must(
            lambda v: v in tuple(Strategy),
            "CACHEFRESH['REFRESH_STRATEGY'] is {value!r}; valid strategies are "
            + ", ".join(Strategy)
            + ".",
        ),
        Strategy,
    ),
    Key(
        "RETRY_INTERVAL",
        "retry_interval",
        1.0,
        "Seconds between attempts while the cache is unreachable; meanwhile reads go to the "
        "database and retirements wait in the process, replayed once the cache answers.",
        _must(
            _seconds,
            "CACHEFRESH['RETRY_INTERVAL'] must be a positive number of seconds, not {value!r}.",
        ),
        float,
    ),
    Key(
        "SIGN_ENTRIES",
        "sign_entries",
        False,
        "True: every entry carries an HMAC under a key derived from SECRET_KEY, and an entry "
        "that does not verify is a miss.",
        _must(lambda v: isinstance(v, bool), "CACHEFRESH['SIGN_ENTRIES'] must be True or False."),
    ),
    Key(
        "REPLICAS",
        "replicas",
        {},
        "Read-replica alias -> its primary's alias, both in DATABASES: reads through the "
        "replica share the primary's entries, and misses read the primary, never a lagging copy.",
        _check_replicas,
        dict,
    ),
    Key(
        "NEAR_CACHE",
        "near_cache",
        False,
        "True, or a dict of MAX_ENTRIES and MAX_LAG (below): decoded rows held in each process, "
        "kept fresh by Redis pushing invalidations. Needs Redis: one server, a primary, or a "
        "Redis Cluster (every primary is tracked); any other cache is refused (check E006), "
        "and so is a server that refuses CLIENT TRACKING or CLIENT LIST (E007).",
        _check_near,
        _near_settings,
    ),
    Key(
        "WAIT_FOR_REPLICAS",
        "wait_for_replicas",
        0,
        "Replicas that must hold each retirement before it counts as done (Redis WAIT), so "
        "that a replica promoted by a failover has it; 0 waits for none. A retirement not "
        "acknowledged in time is held and replayed, and the cache is treated as down meanwhile.",
        _must(
            lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
            "CACHEFRESH['WAIT_FOR_REPLICAS'] must be a whole number of replicas, 0 or more, "
            "not {value!r}.",
        ),
    ),
    Key(
        "LOG_NOTIFY",
        "log_notify",
        True,
        "Whether the invalidation log's triggers (PostgreSQL) wake `cachefresh listen` with "
        "pg_notify; False: listeners poll. Run `cachefresh triggers install` after changing it.",
        _must(
            lambda v: isinstance(v, bool),
            "CACHEFRESH['LOG_NOTIFY'] must be True (log triggers wake listeners with pg_notify) "
            "or False (poll-only); run `cachefresh triggers install` again after changing it.",
        ),
    ),
)
KNOWN_KEYS = frozenset(key.name for key in KEYS)


def problems_of(raw: dict[str, Any], table: tuple[Key, ...], where: str) -> list[str]:
    """Every problem of ``raw`` against ``table``: unknown keys, then each key's own."""
    names = {key.name for key in table}
    problems = [
        f"{where} has an unknown key {name!r}; valid keys are {', '.join(sorted(names))}."
        for name in raw
        if name not in names
    ]
    for key in table:
        problems += key.check(raw.get(key.name, key.default))
    return problems


def values_of(raw: dict[str, Any], table: tuple[Key, ...]) -> dict[str, Any]:
    """The attributes ``raw`` (valid) gives, defaults filled in from ``table``."""
    return {key.attribute: key.convert(raw.get(key.name, key.default)) for key in table}


def spelled(value: Any) -> str:
    """``value`` as settings.py would spell it (strings in double quotes)."""
    return f'"{value}"' if isinstance(value, str) else repr(value)
