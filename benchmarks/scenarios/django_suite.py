"""Django's own ``refresh_from_db()`` tests, run with every refresh going through smart_refresh.

Not in the default set (``-s django_suite``): it needs a copy of Django's test suite, which a
wheel does not ship. The source distribution of the installed Django does::

    version=$(.venv/bin/python -m django --version)
    .venv/bin/pip download --no-deps --no-binary :all: "django==$version" -d /tmp/dj
    tar -xzf /tmp/dj/django-*.tar.gz -C /tmp/dj
    .venv/bin/python -m benchmarks -s django_suite --django-tests /tmp/dj/django-$version/tests

With no ``--django-labels`` it runs every test module of Django's suite that calls
``refresh_from_db`` (found by grep), on SQLite, with ``--parallel=1`` unless ``--django-args``
gives other runtests.py options. ``CACHEFRESH_SUITE_STRATEGY=cache`` (or ``columns``,
``full``) forces one refresh strategy instead of ``auto``. runtests.py runs with
:mod:`benchmarks.env.suitesettings` as its settings module, its output in ``django_suite.log``
in the output directory; the report gives its exit status, its summary and the strategies
smart_refresh used. To measure an older cachefresh, put its checkout first on ``PYTHONPATH``.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.harness.child import Job
from benchmarks.harness.results import Results

NAME = "django_suite"
SETTINGS = "benchmarks.env.suitesettings"
LOG = "django_suite.log"
ROOT = Path(__file__).resolve().parents[2]


def measure(job: Job, results: Results) -> None:
    if not job.options.get("django_tests"):
        why = "needs Django's tests/ folder: --django-tests DIR (docs/benchmarks.md says how)"
        results.skip(NAME, "Django's refresh_from_db() tests", why)
        return
    tests = Path(job.options["django_tests"]).resolve()
    chosen = job.options.get("django_labels") or ""
    labels = [label.strip() for label in chosen.split(",") if label.strip()]
    labels = labels or modules_calling_refresh(tests)
    options = shlex.split(job.options.get("django_args") or "--parallel=1")
    log = Path(job.output) / LOG
    with tempfile.TemporaryDirectory(prefix="cachefresh-suite-") as tmp:
        report = Path(tmp) / "strategies.json"
        env = dict(os.environ, DJANGO_SETTINGS_MODULE=SETTINGS, CACHEFRESH_SUITE_REPORT=str(report))
        # The repository last: its packages must not shadow Django's test apps.
        paths = [str(tests), env.get("PYTHONPATH", ""), str(ROOT)]
        env["PYTHONPATH"] = os.pathsep.join(path for path in paths if path)
        command = [sys.executable, "runtests.py", f"--settings={SETTINGS}", *options, *labels]
        with log.open("w") as out:
            done = subprocess.run(command, cwd=tests, env=env, stdout=out, stderr=subprocess.STDOUT)
        strategies = json.loads(report.read_text()) if report.exists() else {}
    results.fact(
        NAME,
        job.backend,
        "runtests",
        returncode=done.returncode,
        labels=labels,
        summary=summary(log),
        strategies=strategies,
        log=LOG,
    )


def modules_calling_refresh(tests_dir: Path) -> list[str]:
    labels = set()
    for path in tests_dir.rglob("*.py"):
        relative = path.relative_to(tests_dir)
        if len(relative.parts) < 2 or relative.parts[0] == "gis_tests":
            continue  # GIS needs SpatiaLite
        if "refresh_from_db" in path.read_text(encoding="utf-8", errors="replace"):
            labels.add(relative.parts[0])
    return sorted(labels)


def summary(log: Path) -> str:
    """runtests.py's last word: "Ran 1,234 tests in 5.6s, OK" or its FAILED line."""
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines()]
    ran = next((line for line in reversed(lines) if line.startswith("Ran ")), "")
    verdict = next((line for line in reversed(lines) if line.startswith(("OK", "FAILED"))), "")
    return ", ".join(part for part in (ran, verdict) if part)
