"""Django's own ``refresh_from_db()`` tests, run with every refresh going through smart_refresh.

Not part of ``make test``: it needs a copy of Django's test suite, which a wheel does not ship.
The source distribution of the installed Django does::

    version=$(.venv/bin/python -m django --version)
    .venv/bin/pip download --no-deps --no-binary :all: "django==$version" -d /tmp/dj
    tar -xzf /tmp/dj/django-*.tar.gz -C /tmp/dj
    .venv/bin/python benchmarks/django_refresh_suite.py /tmp/dj/django-*/tests [LABEL ...]

With no labels it runs every test module of Django's suite that calls ``refresh_from_db``
(found by grep), on SQLite, with ``--parallel=1`` unless other runtests.py options are given
after ``--``. ``CACHEFRESH_SUITE_STRATEGY=cache`` (or ``columns``, ``full``) forces one
refresh strategy instead of ``auto``; the strategies used are printed at exit. To measure an
older cachefresh, put its checkout first on ``PYTHONPATH``.

The file plays two parts. Run as a script, it starts Django's ``runtests.py`` with itself as
the settings module. Imported as that settings module (``runtests.py`` imports it before it
sets up the app registry), it:

* takes Django's test settings (``test_sqlite``) and adds a LocMem cache and
  ``CACHEFRESH = {"MODELS": ["*"]}``, so that every model of every test app is cached;
* appends ``"cachefresh"`` to runtests' ``ALWAYS_INSTALLED_APPS`` (runtests replaces
  ``INSTALLED_APPS`` by that list, then adds the test apps to it at run time, which is the
  case of issue 9 item 4: apps installed after start-up);
* replaces ``Model.refresh_from_db`` by a call to ``cachefresh.smart_refresh``. smart_refresh's
  ``FULL`` path and its hand-offs call ``instance.refresh_from_db()`` themselves, so a
  thread-local flag sends those inner calls to Django's original method instead of recursing.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

SETTINGS_MODULE = Path(__file__).stem

if __name__ != "__main__" and os.environ.get("DJANGO_SETTINGS_MODULE") == SETTINGS_MODULE:
    from django.db.models import Model
    from test_sqlite import *  # type: ignore[import-not-found]  # noqa: F403  (Django's tests dir)

    import __main__

    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    # CACHEFRESH_SUITE_STRATEGY=cache (or columns, full) forces one strategy; auto by default.
    CACHEFRESH = {
        "MODELS": ["*"],
        "REFRESH_STRATEGY": os.environ.get("CACHEFRESH_SUITE_STRATEGY", "auto"),
    }
    SILENCED_SYSTEM_CHECKS = ["cachefresh.W001", "cachefresh.W002"]

    # runtests.py is __main__ and has defined the list it installs; add cachefresh to it once.
    _always = getattr(__main__, "ALWAYS_INSTALLED_APPS", None)
    if _always is None:
        raise RuntimeError(f"{SETTINGS_MODULE} is a settings module for Django's runtests.py")
    if "cachefresh" not in _always:
        _always.append("cachefresh")

    _original_refresh = Model.refresh_from_db
    _inside = threading.local()
    # Which strategy served each refresh, printed at exit: proof the runs went through the cache.
    _strategies: Counter[str] = Counter()

    @atexit.register
    def _report() -> None:
        if _strategies:
            print(f"smart_refresh strategies: {dict(_strategies)}", file=sys.stderr)

    # Named as Django's method: tests match its name in TypeError messages.
    def refresh_from_db(
        self: Model, using: str | None = None, fields: Any = None, from_queryset: Any = None
    ) -> None:
        if getattr(_inside, "active", False):
            # smart_refresh's own FULL path, or its hand-off of what it does not model.
            _original_refresh(self, using=using, fields=fields, from_queryset=from_queryset)
            return
        from cachefresh import smart_refresh

        _inside.active = True
        try:
            used = smart_refresh(self, fields, using=using, from_queryset=from_queryset)
            _strategies[str(used)] += 1
        finally:
            _inside.active = False

    Model.refresh_from_db = refresh_from_db  # type: ignore[assignment,method-assign]


def _modules_calling_refresh(tests_dir: Path) -> list[str]:
    labels = set()
    for path in tests_dir.rglob("*.py"):
        relative = path.relative_to(tests_dir)
        if len(relative.parts) < 2 or relative.parts[0] == "gis_tests":
            continue  # GIS needs SpatiaLite
        if "refresh_from_db" in path.read_text(encoding="utf-8", errors="replace"):
            labels.add(relative.parts[0])
    return sorted(labels)


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 2
    tests_dir = Path(argv[0]).resolve()
    rest = argv[1:]
    extra: list[str] = []
    if "--" in rest:
        extra = rest[rest.index("--") + 1 :]
        rest = rest[: rest.index("--")]
    labels = rest or _modules_calling_refresh(tests_dir)
    env = dict(os.environ, DJANGO_SETTINGS_MODULE=SETTINGS_MODULE)
    env["PYTHONPATH"] = os.pathsep.join(
        # This folder last: its modules must not shadow Django's test apps.
        [str(tests_dir), env.get("PYTHONPATH", ""), str(Path(__file__).resolve().parent)]
    )
    options = extra or ["--parallel=1"]
    command = [sys.executable, "runtests.py", f"--settings={SETTINGS_MODULE}", *options, *labels]
    return subprocess.run(command, cwd=tests_dir, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
