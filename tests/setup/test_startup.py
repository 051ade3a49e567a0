"""A bad setting or an unsupported model is reported by ``manage.py check``, never as a
traceback from every management command."""

import json
import os
import subprocess
import sys

import pytest


def manage(*args: str, setting: dict, apps: list[str] = ()) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": os.getcwd(),
        "CACHEFRESH_STARTUP_SETTING": json.dumps(setting),
        "CACHEFRESH_STARTUP_APPS": json.dumps(list(apps)),
    }
    return subprocess.run(
        [sys.executable, "-m", "django", *args, "--settings=tests.support.startup_settings"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("setting", "apps", "says"),
    [
        ({"MODELS": ["blog.Nope"]}, [], "names 'blog.Nope', which is not an installed model"),
        ({}, ["tests.badapp"], "cannot cache badapp.Legacy: it is unmanaged"),
    ],
)
def test_check_reports_e002_and_fails(setting, apps, says):
    result = manage("check", setting=setting, apps=apps)
    assert result.returncode != 0
    assert "cachefresh.E002" in result.stderr
    assert says in result.stderr
    assert "Traceback" not in result.stderr
    assert "docs/settings.md" not in result.stderr


def test_other_commands_still_start():
    result = manage("showmigrations", "--list", "cachefresh", setting={"MODELS": ["blog.Nope"]})
    assert "Traceback" not in result.stderr
    assert "cachefresh.E002" in result.stderr  # commands that run checks say why


def test_hints_point_at_something_the_user_has():
    result = manage("check", setting={"TIMEOUT": -1})
    assert "cachefresh.E004" in result.stderr
    assert "`python manage.py cachefresh settings` lists every key" in result.stderr
    # ... which runs under the same bad setting, and names the problem.
    shown = manage("cachefresh", "settings", setting={"TIMEOUT": -1})
    assert "TIMEOUT = -1    (set here; default 3600)" in shown.stdout
    assert "CACHEFRESH['TIMEOUT'] must be a positive number of seconds" in shown.stderr
    assert shown.returncode == 1 and "Traceback" not in shown.stderr
