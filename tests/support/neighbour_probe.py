"""Run by tests/users/test_neighbours.py in a process of its own:
``python -m tests.support.neighbour_probe``.

With the libraries of ``CACHEFRESH_NEIGHBOURS`` installed around cachefresh (see
tests/support/neighbour_settings.py), it writes through the ORM after each thing those libraries do
to Django's compilers (django-cachalot's settings reload, toggling ``CACHALOT_ENABLED``, requests
through django-debug-toolbar) and reads the row back with ``cached_get``, on each database and
cache pair. Each line printed is one JSON object: ``{"step", "pair", "problems"}``, where
problems are stale reads and errors that cachefresh logged (a hook it had to put back means a
write went unseen). Last comes ``{"leftover_keys": n}``: keys of this run still on Redis after
the probe deleted them. The exit code is 1 if any step had a problem.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.support.neighbour_settings")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.db import transaction  # noqa: E402
from django.http import HttpRequest, HttpResponse  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.test.utils import (  # noqa: E402
    setup_databases,
    setup_test_environment,
    teardown_databases,
)
from django.urls import path  # noqa: E402

from cachefresh import cached_get  # noqa: E402
from tests.support.neighbour_settings import NEIGHBOURS, RUN, SERVERS  # noqa: E402
from tests.support.routers import ACTIVE  # noqa: E402
from tests.testapp.models import Author  # noqa: E402

PAIRS = {"sqlite-locmem": ("default", "default")}
if SERVERS:
    PAIRS["postgres-redis"] = ("pg", "redis")


class Errors(logging.Handler):
    """Errors logged on the "cachefresh" logger: a hook found gone and put back."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


ERRORS = Errors()
logging.getLogger("cachefresh").addHandler(ERRORS)


def name_of(pk: int) -> str | None:
    try:
        return cached_get(Author, pk).name
    except Author.DoesNotExist:
        return None


def writes_are_seen() -> list[str]:
    """Each kind of ORM write, each followed by a cached read that must show it."""
    problems = []

    def expect(what: str, pk: int, name: str | None) -> None:
        seen = name_of(pk)
        if seen != name:
            problems.append(f"after {what}: cached_get gave {seen!r}, the row is {name!r}")

    author = Author.objects.create(name="created")
    expect("create", author.pk, "created")  # and now it is cached
    author.name = "saved"
    author.save()
    expect("save()", author.pk, "saved")
    Author.objects.filter(pk=author.pk).update(name="updated")
    expect("QuerySet.update()", author.pk, "updated")
    Author.objects.filter(name="updated").update(name="updated whole table")
    expect("QuerySet.update() by another column", author.pk, "updated whole table")
    with transaction.atomic():
        Author.objects.filter(pk=author.pk).update(name="committed")
    expect("update in a transaction", author.pk, "committed")
    author.delete()
    expect("delete()", author.pk, None)
    other = Author.objects.create(name="other")
    name_of(other.pk)
    Author.objects.filter(pk=other.pk).delete()
    expect("QuerySet.delete()", other.pk, None)
    return problems


# --- what the neighbours do to Django's compilers ----------------------------------------------


def reload_cachalot(times: int) -> Callable[[], Any]:
    def step() -> Any:
        from cachalot.settings import cachalot_settings

        for _ in range(times):
            cachalot_settings.reload()
        return nullcontext()

    return step


def cachalot_enabled(enabled: bool) -> Callable[[], Any]:
    @contextmanager
    def step() -> Iterator[None]:
        from cachalot.settings import cachalot_settings

        # As cachalot's own tests toggle it: override the setting, then reload.
        with override_settings(CACHALOT_ENABLED=enabled):
            cachalot_settings.reload()
            yield
        cachalot_settings.reload()

    return step


def steps() -> list[tuple[str, Callable[[], Any]]]:
    found: list[tuple[str, Callable[[], Any]]] = [("as installed", nullcontext)]
    if "cachalot" in NEIGHBOURS:
        found += [
            ("cachalot reloaded", reload_cachalot(1)),
            ("cachalot reloaded three times", reload_cachalot(3)),
            ("CACHALOT_ENABLED=False, reloaded", cachalot_enabled(False)),
            ("CACHALOT_ENABLED=True, reloaded", cachalot_enabled(True)),
            ("after the toggles", nullcontext),
        ]
    return found


# --- django-debug-toolbar: the same writes and reads, each in a request of its own -------------


def read_view(request: HttpRequest, pk: int) -> HttpResponse:
    return HttpResponse(f"<html><body>{name_of(pk)!r}</body></html>")


def write_view(request: HttpRequest, pk: int, how: str) -> HttpResponse:
    if how == "save":
        author = Author.objects.get(pk=pk)
        author.name = "saved in a request"
        author.save()
    elif how == "update":
        Author.objects.filter(pk=pk).update(name="updated in a request")
    else:
        Author.objects.get(pk=pk).delete()
    return HttpResponse("<html><body>written</body></html>")


def toolbar_requests() -> list[str]:
    problems = []
    client = Client()
    author = Author.objects.create(name="created")
    for how, name in (
        ("read", "created"),
        ("save", "saved in a request"),
        ("update", "updated in a request"),
        ("delete", None),
    ):
        if how != "read":
            client.get(f"/write/{author.pk}/{how}/")
        response = client.get(f"/read/{author.pk}/")
        html = response.content.decode()
        if 'id="djDebug"' not in html:
            problems.append(f"{how}: the toolbar is not on the page")
        if f"<body>{name!r}" not in html:
            problems.append(f"after {how} in a request: the page shows {html[:80]!r}")
    return problems


urlpatterns = [
    path("read/<int:pk>/", read_view),
    path("write/<int:pk>/<str:how>/", write_view),
]
if "debug_toolbar" in NEIGHBOURS:
    from debug_toolbar.toolbar import debug_toolbar_urls

    urlpatterns += debug_toolbar_urls()


def delete_run_keys() -> int:
    """Delete every key of this run on Redis (all libraries put RUN in theirs); count the rest."""
    if not SERVERS:
        return 0
    import redis

    client = redis.Redis.from_url(settings.CACHEOPS_REDIS)
    pattern = f"*{RUN}*"
    for key in client.scan_iter(match=pattern, count=1000):
        client.delete(key)
    return len(list(client.scan_iter(match=pattern, count=1000)))


def main() -> int:
    setup_test_environment(debug=settings.DEBUG)
    aliases = {alias for alias, _ in PAIRS.values()}
    databases = setup_databases(verbosity=0, interactive=False, aliases=aliases)
    failed = False
    try:
        for pair, (alias, cache_alias) in PAIRS.items():
            ACTIVE["alias"] = alias
            config = dict(settings.CACHEFRESH, CACHE=cache_alias, KEY_PREFIX=f"nb{RUN}{pair[:2]}")
            config["KEY_PREFIX"] += uuid.uuid4().hex[:6]
            with override_settings(CACHEFRESH=config):
                checks: list[tuple[str, Callable[[], list[str]]]] = []
                for name, step in steps():
                    checks.append((name, lambda step=step: run_in(step, writes_are_seen)))
                if "debug_toolbar" in NEIGHBOURS:
                    checks.append(("requests through the debug toolbar", toolbar_requests))
                for name, check in checks:
                    del ERRORS.messages[:]
                    problems = check() + [f"logged: {m}" for m in ERRORS.messages]
                    failed = failed or bool(problems)
                    print(json.dumps({"step": name, "pair": pair, "problems": problems}))
    finally:
        ACTIVE["alias"] = "default"
        teardown_databases(databases, verbosity=0)
        print(json.dumps({"leftover_keys": delete_run_keys()}))
    return 1 if failed else 0


def run_in(step: Callable[[], Any], check: Callable[[], list[str]]) -> list[str]:
    with step():
        return check()


if __name__ == "__main__":
    sys.exit(main())
