"""Other libraries that patch the same Django methods (issue 9, item 3).

django-cachalot, django-cacheops and django-debug-toolbar wrap and unwrap the SQL compilers and
cursors. Whatever they do, and in whichever INSTALLED_APPS order, every ORM write must still
retire the cached rows it changed. The order is fixed when the app registry is populated, so
each order runs in a process of its own (tests/support/neighbour_probe.py), on both database and
cache pairs. And if cachefresh's hooks are replaced anyway, the next cached read says so: an error
on the "cachefresh" logger and system check E005, and puts them back.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.checks import run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.base.operations import BaseDatabaseOperations

from cachefresh import (
    cached_get,
    cached_get_many,
    prefetch_cached,
    smart_refresh,
    smart_refresh_many,
)
from cachefresh.shortcuts import get_object_or_404
from tests.support.servers import SERVERS, require_bench, require_servers
from tests.testapp.models import Article, Author, Publisher

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"cachalot": "cachalot", "cacheops": "cacheops", "debug_toolbar": "debug_toolbar"}
CACHALOT_STEPS = {
    "as installed",
    "cachalot reloaded",
    "cachalot reloaded three times",
    "CACHALOT_ENABLED=False, reloaded",
    "CACHALOT_ENABLED=True, reloaded",
    "after the toggles",
}


def probe(*order: str) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
    for app in order:
        if app in PACKAGES:
            require_bench(PACKAGES[app])
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="tests.support.neighbour_settings",
        CACHEFRESH_NEIGHBOURS=",".join(order),
    )
    env.pop("CACHEFRESH_NEIGHBOUR_RUN", None)
    done = subprocess.run(
        [sys.executable, "-m", "tests.support.neighbour_probe"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return done, lines


def assert_every_write_seen(order: tuple[str, ...], expected_steps: set[str]) -> None:
    done, lines = probe(*order)
    assert done.returncode == 0, done.stdout + done.stderr
    steps = [line for line in lines if "step" in line]
    pairs = {"sqlite-locmem", "postgres-redis"} if SERVERS else {"sqlite-locmem"}
    assert {(line["step"], line["pair"]) for line in steps} == {
        (step, pair) for step in expected_steps for pair in pairs
    }, done.stdout + done.stderr
    stale = {
        f"{line['pair']}: {line['step']}": line["problems"] for line in steps if line["problems"]
    }
    assert not stale
    assert lines[-1] == {"leftover_keys": 0}


@pytest.mark.parametrize(
    "order",
    [("cachalot", "cachefresh"), ("cachefresh", "cachalot")],
    ids=["cachalot-first", "cachefresh-first"],
)
def test_cachalot_reloaded_in_either_order(order):
    # cachalot's settings reload unwraps the write compilers through __wrapped__; listed first,
    # it used to peel off cachefresh's wrapper, which sat above its own.
    assert_every_write_seen(order, CACHALOT_STEPS)


@pytest.mark.parametrize(
    "order",
    [("cacheops", "cachefresh"), ("cachefresh", "cacheops")],
    ids=["cacheops-first", "cachefresh-first"],
)
def test_cacheops_installed_alongside(order):
    require_servers()  # cacheops keeps its cache on Redis
    assert_every_write_seen(order, {"as installed"})


@pytest.mark.parametrize(
    "order",
    [("cachalot", "cachefresh", "debug_toolbar"), ("debug_toolbar", "cachefresh")],
    ids=["with-cachalot-panel", "sql-panel-only"],
)
def test_debug_toolbar_active(order):
    # The SQL panel wraps every cursor; cachalot's panel reloads cachalot on every request.
    steps = {"requests through the debug toolbar"}
    steps |= CACHALOT_STEPS if "cachalot" in order else {"as installed"}
    assert_every_write_seen(order, steps)


# --- hooks replaced anyway: loud, then repaired --------------------------------------------------


def hide(owner: type, name: str) -> Any:
    """Replace ``owner.name`` by a plain function calling Django's own, as a library that
    patched it without ``functools.wraps`` would; return Django's own."""
    django_own = inspect.unwrap(owner.__dict__[name])

    def plain(self: Any, *args: Any, **kwargs: Any) -> Any:
        return django_own(self, *args, **kwargs)

    setattr(owner, name, plain)
    return django_own


@pytest.mark.django_db(transaction=True, databases="__all__")
@pytest.mark.parametrize(
    ("owner", "name", "hook"),
    [
        (BaseDatabaseOperations, "compiler", "DatabaseOperations.compiler"),
        (BaseDatabaseWrapper, "commit", "BaseDatabaseWrapper.commit"),
    ],
    ids=["compiler", "commit"],
)
def test_a_replaced_hook_is_loud_and_put_back(backend, caplog, owner, name, hook):
    author = Author.objects.create(name="before")
    cached_get(Author, author.pk)
    django_own = hide(owner, name)
    try:
        # The system check reports it before anything puts it back.
        e005 = [m for m in run_checks() if m.id == "cachefresh.E005"]
        assert len(e005) == 1 and hook in e005[0].msg
        with pytest.raises(SystemCheckError, match=r"cachefresh\.E005"):
            call_command("check")

        with caplog.at_level(logging.ERROR, logger="cachefresh"):
            cached_get(Author, author.pk)
        errors = [r for r in caplog.records if r.name == "cachefresh" and r.levelname == "ERROR"]
        assert len(errors) == 1 and hook in errors[0].getMessage()

        # Put back: no report, and writes retire cached rows again, in and out of transactions.
        assert not [m for m in run_checks() if m.id == "cachefresh.E005"]
        Author.objects.filter(pk=author.pk).update(name="after")
        assert cached_get(Author, author.pk).name == "after"
        with transaction.atomic(using=backend):
            Author.objects.filter(pk=author.pk).update(name="committed")
        assert cached_get(Author, author.pk).name == "committed"
    finally:
        # Django's own method back, then ours wrapped around it afresh.
        setattr(owner, name, django_own)
        from cachefresh import hooks, invalidation, transactions

        invalidation.install()
        transactions.install()
        assert not hooks.missing()


def _audit(author: Author) -> None:
    from cachefresh.management.audit import audit

    audit(Author, author._state.db, sample=10)


# Every public read that may use the cache: each must find a replaced hook before it reads.
ENTRY_POINTS = {
    "cached_get": lambda author: cached_get(Author, author.pk),
    "manager cached_get": lambda author: Author.objects.cached_get(pk=author.pk),
    "cached_get by a unique field": lambda author: Publisher.objects.cached_get(code="p"),
    "cached_get_many": lambda author: cached_get_many(Author, [author.pk]),
    "get_object_or_404": lambda author: get_object_or_404(Author, pk=author.pk),
    "prefetch_cached": lambda author: prefetch_cached([Article.objects.get(title="a")], "author"),
    "smart_refresh": lambda author: smart_refresh(author, strategy="cache"),
    "smart_refresh_many": lambda author: smart_refresh_many([author], strategy="auto"),
    "audit": _audit,
}


@pytest.mark.django_db(transaction=True, databases="__all__")
@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_every_cached_read_puts_a_replaced_hook_back_first(backend, caplog, entry):
    from cachefresh import hooks, invalidation, transactions

    author = Author.objects.create(name="a")
    Article.objects.create(title="a", author=author)
    Publisher.objects.create(code="p")
    django_own = hide(BaseDatabaseOperations, "compiler")
    try:
        with caplog.at_level(logging.ERROR, logger="cachefresh"):
            ENTRY_POINTS[entry](author)
        assert not hooks.missing(), f"{entry} read without checking the write hooks"
        assert any("no longer hooked" in r.getMessage() for r in caplog.records)
    finally:
        BaseDatabaseOperations.compiler = django_own
        invalidation.install()
        transactions.install()
        assert not hooks.missing()
