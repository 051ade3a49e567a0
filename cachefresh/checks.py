"""System checks: the setting, the cache it names, and the models it covers."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured

from cachefresh import conf

PROCESS_LOCAL_BACKENDS = (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
)


@register(Tags.caches, Tags.models)
def check_cachefresh(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    raw = getattr(settings, "CACHEFRESH", None)
    problems = conf.validate(raw)
    if problems:
        return [
            Error(problem, hint="See the settings reference in docs/settings.md.", id="cachefresh.E001")
            for problem in problems
        ]
    from cachefresh.registry import registry

    messages: list[CheckMessage] = []
    try:
        skipped = registry.skipped()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="cachefresh.E002")]
    messages += [
        Warning(
            f"{model._meta.label} matches a wildcard in CACHEFRESH['MODELS'] but is not cached: "
            f"{reason}.",
            obj=model,
            id="cachefresh.W001",
        )
        for model, reason in sorted(skipped.items(), key=lambda item: item[0]._meta.label)
    ]
    backend = settings.CACHES[conf.get_settings().cache_alias]["BACKEND"]
    if backend in PROCESS_LOCAL_BACKENDS and not settings.DEBUG:
        messages.append(
            Warning(
                f"CACHEFRESH uses a process-local cache ({backend.rsplit('.', 1)[-1]}) with DEBUG "
                "off: invalidations do not reach other processes, which will read stale rows.",
                hint="Point CACHEFRESH['CACHE'] at a shared cache such as Redis.",
                id="cachefresh.W002",
            )
        )
    return messages
