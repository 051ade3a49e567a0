"""Django settings for Django's own ``runtests.py``, with every refresh through smart_refresh.

The settings module of :mod:`benchmarks.scenarios.django_suite`. ``runtests.py`` imports it
(``--settings=benchmarks.env.suitesettings``) before it sets up the app registry; it:

* takes Django's test settings (``test_sqlite``) and adds a LocMem cache and
  ``CACHEFRESH = {"MODELS": ["*"]}``, so that every model of every test app is cached;
* appends ``"cachefresh"`` to runtests' ``ALWAYS_INSTALLED_APPS`` (runtests replaces
  ``INSTALLED_APPS`` by that list, then adds the test apps to it at run time, which is the
  case of issue 9 item 4: apps installed after start-up);
* replaces ``Model.refresh_from_db`` by a call to ``cachefresh.smart_refresh``. smart_refresh's
  ``FULL`` path and its hand-offs call ``instance.refresh_from_db()`` themselves, so a
  thread-local flag sends those inner calls to Django's original method instead of recursing.

At exit it prints which strategy served the refreshes, and writes them as JSON to the file
``CACHEFRESH_SUITE_REPORT`` names, when it names one.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import threading
from collections import Counter
from typing import Any

if os.environ.get("DJANGO_SETTINGS_MODULE") == __name__:
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
        raise RuntimeError(f"{__name__} is a settings module for Django's runtests.py")
    if "cachefresh" not in _always:
        _always.append("cachefresh")

    _original_refresh = Model.refresh_from_db
    _inside = threading.local()
    # Which strategy served each refresh, reported at exit: proof the runs went through the cache.
    _strategies: Counter[str] = Counter()

    @atexit.register
    def _report() -> None:
        if _strategies:
            print(f"smart_refresh strategies: {dict(_strategies)}", file=sys.stderr)
        if os.environ.get("CACHEFRESH_SUITE_REPORT"):
            with open(os.environ["CACHEFRESH_SUITE_REPORT"], "w") as out:
                json.dump(dict(_strategies), out)

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
