"""System checks: the setting, the cache it names, and the models it covers.

=================  =====================================================================
``E001``           ``CACHEFRESH`` is malformed (not a dict, unknown key, bad value, ``NEAR_CACHE``)
``E002``           a model named in ``CACHEFRESH['MODELS']`` (or given the manager) is unsupported
``E003``           ``CACHEFRESH['CACHE']`` is not an alias in ``CACHES``
``E004``           ``CACHEFRESH['TIMEOUT']`` is not a positive whole number of seconds
``E005``           cachefresh's write hooks were replaced: writes go unseen
``E006``           ``NEAR_CACHE`` is on, but the cache cannot push invalidations (not Redis)
``E007``           ``NEAR_CACHE`` is on, but a Redis server (or cluster primary) refuses tracking
``E008``           the cache's Sentinel setup is incomplete (client, factory, ``SENTINELS``)
``E009``           ``WAIT_FOR_REPLICAS`` is above 0 on a cache that cannot wait for replicas
``W001``           a model matched by a wildcard in ``MODELS`` cannot be cached and is skipped
``W002``           a process-local cache (LocMem, Dummy) with ``DEBUG`` off
``W003``           ``TIMEOUT`` above 30 days: rows changed out of Django's sight stay stale
``W004``           log triggers on some cached tables of a database but not on others
=================  =====================================================================
"""

from __future__ import annotations

from typing import Any

from django import conf as django_conf
from django.core.cache import caches
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.db import DatabaseError, connections

from cachefresh import conf, hooks
from cachefresh.registry import registry
from cachefresh.store import setup_problems, store_class

PROCESS_LOCAL_BACKENDS = (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
)
#: Past this, a row changed by another program may be served stale for a month.
LONG_TIMEOUT = 30 * 24 * 3600
#: Where every hint about the setting points: a command every installed project has, which
#: prints each key with its default, meaning, and the project's current value.
SETTINGS_HINT = (
    "`python manage.py cachefresh settings` lists every key, its default and this project's value."
)

# Keys with a check id of their own; conf.validate() judges each key independently of the others.
_OWN_IDS = {"CACHE": "cachefresh.E003", "TIMEOUT": "cachefresh.E004"}


@register(Tags.caches, Tags.models)
def check_cachefresh(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    raw = getattr(django_conf.settings, "CACHEFRESH", None)
    messages = check_settings(raw)
    if messages:
        # Models and caches cannot be judged under a setting that does not parse.
        return messages
    messages += check_models()
    messages += check_cache()
    setup = check_cache_setup()
    if setup:
        # The cache client cannot be built to judge what follows.
        return messages + setup + check_hooks()
    messages += check_near_cache()
    messages += check_wait_for_replicas()
    messages += check_hooks()
    return messages


def check_settings(raw: Any) -> list[CheckMessage]:
    if not isinstance(raw, dict):
        return _errors(conf.validate(raw), "cachefresh.E001")
    rest = {key: value for key, value in raw.items() if key not in _OWN_IDS}
    messages = _errors(conf.validate(rest), "cachefresh.E001")
    for key, check_id in _OWN_IDS.items():
        if key in raw:
            messages += _errors(conf.validate({key: raw[key]}), check_id)
    timeout = raw.get("TIMEOUT")
    if isinstance(timeout, int) and not isinstance(timeout, bool) and timeout > LONG_TIMEOUT:
        messages.append(
            Warning(
                f"CACHEFRESH['TIMEOUT'] is {timeout} seconds (over 30 days). Writes cachefresh "
                "cannot see (other programs, psql, database triggers) stay stale until the entry "
                "expires.",
                hint="Keep TIMEOUT short enough to bound that staleness, or call "
                "cachefresh.invalidate() after such writes.",
                id="cachefresh.W003",
            )
        )
    return messages


def check_models() -> list[CheckMessage]:
    problems: list[CheckMessage] = [
        Error(problem.message, hint=problem.hint, id="cachefresh.E002")
        for problem in registry.problems()
    ]
    return problems + [
        Warning(
            f"{model._meta.label} matches a wildcard in CACHEFRESH['MODELS'] but is not cached: "
            f"{reason}.",
            obj=model,
            id="cachefresh.W001",
        )
        for model, reason in sorted(
            registry.skipped().items(), key=lambda item: item[0]._meta.label
        )
    ]


def check_hooks() -> list[CheckMessage]:
    missing = hooks.missing()
    if not missing:
        return []
    return [
        Error(
            f"cachefresh's hooks on {', '.join(missing)} were replaced, so writes to cached "
            "tables are not seen and cached reads may be stale.",
            hint=f"Replaced by {', '.join(hooks.replacements())}: a library patched them after "
            "cachefresh. cachefresh puts its hooks back on the next cached read; then run "
            "`python manage.py cachefresh invalidate app_label.Model` for the models written "
            "meanwhile.",
            id="cachefresh.E005",
        )
    ]


def check_cache() -> list[CheckMessage]:
    # Typed loosely: django-stubs infers CACHES' shape from whichever settings module it reads.
    cache_config: Any = django_conf.settings.CACHES[conf.get_settings().cache_alias]
    backend = str(cache_config["BACKEND"])
    if backend in PROCESS_LOCAL_BACKENDS and not django_conf.settings.DEBUG:
        return [
            Warning(
                f"CACHEFRESH uses a process-local cache ({backend.rsplit('.', 1)[-1]}) with DEBUG "
                "off: invalidations do not reach other processes, which will read stale rows.",
                hint="Point CACHEFRESH['CACHE'] at a shared cache such as Redis.",
                id="cachefresh.W002",
            )
        ]
    return []


def check_cache_setup() -> list[CheckMessage]:
    alias = conf.get_settings().cache_alias
    return [
        Error(
            problem,
            hint="`python -m pydoc cachefresh.store.sentinel` shows a complete CACHES entry "
            "for Sentinel.",
            id="cachefresh.E008",
        )
        for problem in setup_problems(alias)
    ]


def check_wait_for_replicas() -> list[CheckMessage]:
    settings_now = conf.get_settings()
    if not settings_now.wait_for_replicas:
        return []
    store = store_class(caches[settings_now.cache_alias])
    if store.waits_for_replicas:
        return []
    return [
        Error(
            f"CACHEFRESH['WAIT_FOR_REPLICAS'] is {settings_now.wait_for_replicas}, but the "
            f"cache {settings_now.cache_alias!r} is a {store.kind}, which has no replicas to "
            "wait for.",
            hint="Set WAIT_FOR_REPLICAS to 0, or use a Redis primary with replicas (django-redis "
            "or Django's RedisCache, Sentinel, or Redis Cluster).",
            id="cachefresh.E009",
        )
    ]


def check_near_cache() -> list[CheckMessage]:
    """The near cache needs Redis to push invalidations: one server, a primary, or every
    primary of a cluster, each accepting ``CLIENT TRACKING``."""
    settings_now = conf.get_settings()
    if settings_now.near_cache is None:
        return []
    cache = caches[settings_now.cache_alias]
    store = store_class(cache)
    if not store.pushes_invalidations:
        cache_config: Any = django_conf.settings.CACHES[settings_now.cache_alias]
        backend = str(cache_config["BACKEND"])
        return [
            Error(
                f"CACHEFRESH['NEAR_CACHE'] is on, but the cache {settings_now.cache_alias!r} "
                f"({backend}) cannot push invalidations, so rows held in a process would go "
                "stale unseen.",
                hint="Use django-redis (not sharded) or Django's RedisCache, or turn NEAR_CACHE "
                "off.",
                id="cachefresh.E006",
            )
        ]
    refusals = store.create(cache, settings_now.timeout).tracking_refusals()
    if not refusals:
        return []
    return [
        Error(
            f"CACHEFRESH['NEAR_CACHE'] is on, but {'; '.join(refusals)} refuses CLIENT "
            f"TRACKING or CLIENT LIST: the near cache cannot hear of changes there, or tell "
            f"that it still does, so it holds no row whose keys live on that {store.kind} "
            "server.",
            hint="Allow CLIENT TRACKING and CLIENT LIST on every server (a renamed CLIENT "
            "command, or an ACL without +client|tracking and +client|list, refuses them), or "
            "turn CACHEFRESH['NEAR_CACHE'] off. `python manage.py cachefresh settings` "
            "describes NEAR_CACHE.",
            id="cachefresh.E007",
        )
    ]


@register(Tags.database)
def check_log_triggers(databases: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Run with the database checks only (``migrate``, ``check --database``): it queries."""
    from cachefresh.dblog.dialect import Unsupported, supported
    from cachefresh.dblog.triggers import status

    messages: list[CheckMessage] = []
    for alias in databases or ():
        if not supported(connections[alias]):
            continue
        try:
            found = [s for s in status(alias) if s.cached]
        except (DatabaseError, Unsupported):
            continue  # unreachable, or too old: reported by whatever needs the log
        missing = [s.table for s in found if not s.installed]
        if missing and len(missing) < len(found):
            messages.append(
                Warning(
                    f"Log triggers cover some cached tables of database {alias!r} but not "
                    f"{', '.join(missing)}: writes to those outside Django are never retired.",
                    hint=f"Run `manage.py cachefresh triggers install --database {alias}`.",
                    id="cachefresh.W004",
                )
            )
    return messages


def _errors(problems: list[str], check_id: str) -> list[CheckMessage]:
    return [Error(problem, hint=SETTINGS_HINT, id=check_id) for problem in problems]
