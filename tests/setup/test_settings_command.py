"""Hints and references that point at something the user has: ``manage.py cachefresh
settings``, ``python -m pydoc cachefresh.conf`` without settings, and every check's hint."""

import io
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from cachefresh import checks, conf
from cachefresh.management.commands.cachefresh import Command

ROOT = Path(__file__).resolve().parents[2]


def settings_output(**config):
    out = io.StringIO()
    with override_settings(CACHEFRESH=config):
        call_command("cachefresh", "settings", stdout=out)
    return out.getvalue()


def test_pydoc_shows_the_reference_without_django_settings():
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    shown = subprocess.run(
        [sys.executable, "-m", "pydoc", "cachefresh.conf"],
        env=env, capture_output=True, text=True, timeout=60, cwd="/",
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    for key in conf.KNOWN_KEYS:
        assert f'"{key}"' in shown.stdout, key


def test_settings_lists_every_key_with_this_projects_value():
    out = settings_output(CACHE="redis", TIMEOUT=600, NEAR_CACHE=False)
    for key in conf.KEYS:
        assert re.search(rf"^{key.name} = ", out, re.MULTILINE), key.name
    assert 'CACHE = "redis"    (set here; default "default")' in out
    assert "TIMEOUT = 600    (set here; default 3600)" in out
    assert 'KEY_PREFIX = "cf"    (the default)' in out
    assert "Needs one Redis server or primary" in out  # what E006 and E007 are about


def test_settings_names_every_problem_and_fails():
    out = io.StringIO()
    with (
        override_settings(CACHEFRESH={"TIMOUT": 5, "CACHE": "nope"}),
        pytest.raises(CommandError) as excinfo,
    ):
        call_command("cachefresh", "settings", stdout=out)
    assert "CACHEFRESH has 2 problem(s)" in str(excinfo.value)
    assert "unknown key 'TIMOUT'" in str(excinfo.value)
    assert "'nope', which is not in CACHES" in str(excinfo.value)
    assert 'CACHE = "nope"    (set here; default "default")' in out.getvalue()


BROKEN = textwrap.dedent(
    """
    SECRET_KEY = "x"
    INSTALLED_APPS = ["django.contrib.contenttypes", "cachefresh"]
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CACHEFRESH = {"TIMOUT": 5}
    """
)


def test_the_hint_of_a_failed_check_leads_to_a_command_that_runs(tmp_path):
    """``check`` fails and points at ``cachefresh settings``, which must not fail the same
    checks before it can show anything."""
    (tmp_path / "broken_settings.py").write_text(BROKEN)
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "DJANGO_SETTINGS_MODULE": "broken_settings"}

    def cli(*args):
        command = [sys.executable, "-m", "django", *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)

    check = cli("check")
    assert check.returncode == 1
    assert "HINT: `python manage.py cachefresh settings`" in check.stderr
    shown = cli("cachefresh", "settings")
    assert shown.returncode == 1
    assert "TIMEOUT = 3600    (the default)" in shown.stdout
    assert "unknown key 'TIMOUT'" in shown.stderr
    assert "SystemCheckError" not in shown.stderr
    # The other subcommands still run the checks first.
    assert "SystemCheckError" in cli("cachefresh", "stats").stderr


def subcommands():
    parser = Command().create_parser("manage.py", "cachefresh")
    (action,) = [a for a in parser._actions if a.dest == "subcommand"]
    return set(action.choices)


def assert_followable(hint):
    """A hint names no documentation page (the installed package has none) and only
    subcommands that exist."""
    assert ".md" not in hint and "pydoc" not in hint and "docs/" not in hint, hint
    for named in re.findall(r"manage\.py cachefresh (\w+)", hint):
        assert named in subcommands(), hint


@pytest.mark.parametrize(
    "config",
    [
        {"TIMOUT": 1},
        {"CACHE": "nowhere"},
        {"TIMEOUT": 0},
        {"MODELS": ["testapp.Nope"]},
        {"MODELS": ["testapp.Priced"]},
        {"CACHE": "redis", "TIMEOUT": 40 * 24 * 3600},
        {"CACHE": "default", "NEAR_CACHE": True},
    ],
)
def test_every_settings_hint_is_followable(config):
    with override_settings(CACHEFRESH=config, DEBUG=False):
        found = [m for m in checks.check_cachefresh() if m.hint]
    assert found
    for message in found:
        assert_followable(message.hint)


def test_the_replaced_hook_hint_names_the_replacement():
    from django.db.backends.base.operations import BaseDatabaseOperations

    from cachefresh import hooks, invalidation

    ours = BaseDatabaseOperations.compiler

    def patched_elsewhere(self, name):
        return ours(self, name)

    BaseDatabaseOperations.compiler = patched_elsewhere
    try:
        (error,) = checks.check_hooks()
    finally:
        BaseDatabaseOperations.compiler = ours
        invalidation.install()
    assert error.id == "cachefresh.E005"
    assert f"{__name__}.test_the_replaced_hook_hint_names_the_replacement" in error.hint
    assert_followable(error.hint)
    assert not hooks.missing()


def test_every_key_is_documented_where_users_look():
    readme = (ROOT / "README.md").read_text()
    settings_page = (ROOT / "docs" / "settings.md").read_text()
    for key in conf.KNOWN_KEYS:
        assert f"| `{key}` |" in readme, key
        assert f"## `{key}`" in settings_page, key
        assert f'"{key}"' in (conf.__doc__ or ""), key
