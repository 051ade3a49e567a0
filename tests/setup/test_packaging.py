"""The sdist and wheel build, install into a fresh venv, and carry what users need.

Builds from a copy of the source so the work tree is left alone, then installs the wheel (with
its dependencies, from the machine's package index) into a new virtualenv and runs Django there.
About 20 s; ``nox -s package`` runs this file alone.
"""

import shutil
import subprocess
import sys
import tarfile
import textwrap
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ["cachefresh", "pyproject.toml", "MANIFEST.in", "README.md", "LICENSE", "CHANGELOG.md"]

SETTINGS = textwrap.dedent(
    """
    SECRET_KEY = "packaging"
    DEBUG = True
    INSTALLED_APPS = ["django.contrib.contenttypes", "cachefresh"]
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CACHEFRESH = {"TIMEOUT": 60}
    """
)


def run(*args, cwd=None):
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, check=True, capture_output=True, text=True, timeout=300
    ).stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif path.exists():
            shutil.copy(path, source / name)
    out = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "build", "--outdir", out, source)
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    return wheel, sdist


def test_wheel_carries_the_type_marker_command_and_extras(dist):
    wheel, _ = dist
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        meta = archive.read(metadata).decode()
    assert "cachefresh/py.typed" in names
    assert "cachefresh/management/commands/cachefresh.py" in names
    assert "cachefresh/contrib/debug_toolbar.py" in names
    for module in ("views", "test", "pytest_plugin", "contrib/rest_framework"):
        assert f"cachefresh/{module}.py" in names
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    plugins = archive_text(wheel, entry_points)
    assert "[pytest11]\ncachefresh = cachefresh.pytest_plugin" in plugins
    assert not any(name.startswith(("tests/", "benchmarks/")) for name in names)
    for extra in ("redis", "bench", "test", "contrib", "drf"):
        assert f"Provides-Extra: {extra}" in meta
    assert "License-Expression: BSD-3-Clause" in meta or "License: BSD-3-Clause" in meta


def archive_text(wheel, name):
    with zipfile.ZipFile(wheel) as archive:
        return archive.read(name).decode()


def test_sdist_carries_license_and_changelog(dist):
    _, sdist = dist
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {"LICENSE", "CHANGELOG.md", "pyproject.toml", "cachefresh/py.typed"} <= names


def test_wheel_installs_and_runs_in_a_fresh_venv(dist, tmp_path):
    wheel, _ = dist
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    run(python, "-m", "pip", "install", "--quiet", wheel)

    run(python, "-c", "import cachefresh")
    version = run(python, "-c", "import cachefresh; print(cachefresh.__version__)").strip()
    here = run(sys.executable, "-c", "import cachefresh; print(cachefresh.__version__)")
    assert version == here.strip()
    typed = "import importlib.resources as r; print(r.files('cachefresh').joinpath('py.typed')"
    assert run(python, "-c", typed + ".is_file())").strip() == "True"

    (tmp_path / "packaging_settings.py").write_text(SETTINGS)
    django = [python, "-m", "django"]
    settings = "--settings=packaging_settings"
    assert "System check identified no issues" in run(*django, "check", settings, cwd=tmp_path)
    help_text = run(*django, "help", "cachefresh", settings, cwd=tmp_path)
    for subcommand in ("stats", "invalidate", "warm", "audit", "settings"):
        assert subcommand in help_text
    # The reference the checks' hints point at, in an installed copy without the docs.
    assert "TIMEOUT = 60    (set here" in run(
        *django, "cachefresh", "settings", settings, cwd=tmp_path
    )
    assert '"LOG_NOTIFY"' in run(python, "-m", "pydoc", "cachefresh.conf", cwd=tmp_path)
