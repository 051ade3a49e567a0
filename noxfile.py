"""Version matrix: ``make matrix`` (all pairs) or ``nox -s "tests(3.12-django6.0)"`` (one).

Each session installs the package with its ``test`` and ``bench`` extras into a fresh
virtualenv (so the harness tests that need the peers and matplotlib run), pins Django, and runs
the whole suite. The interpreters come from pyenv, which the project's machines carry.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

# (Python, Django) pairs the package supports, oldest to newest.
MATRIX = [("3.11", "5.2"), ("3.12", "6.0"), ("3.13", "6.1")]


def _pyenv_python(version: str) -> str:
    """The newest pyenv interpreter of ``version``; falls back to ``pythonX.Y`` on PATH."""
    root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    found = sorted(
        (Path(root) / "versions").glob(f"{version}.*/bin/python{version}"),
        key=lambda path: tuple(int(part) for part in path.parent.parent.name.split(".")),
    )
    if found:
        return str(found[-1])
    return shutil.which(f"python{version}") or f"python{version}"


@nox.session(python=False)
@nox.parametrize(("py", "django"), MATRIX, ids=[f"{p}-django{d}" for p, d in MATRIX])
def tests(session: nox.Session, py: str, django: str) -> None:
    """The suite on one (Python, Django) pair, in .nox/tests-<python>-django<django>."""
    venv = Path(".nox") / f"tests-{py}-django{django}"
    bin_dir = venv / "bin"
    if not (bin_dir / "python").exists():
        session.run(_pyenv_python(py), "-m", "venv", str(venv), external=True)
    pip = [str(bin_dir / "python"), "-m", "pip", "install", "--quiet"]
    session.run(*pip, "-e", ".[test,bench]", f"django~={django}.0", external=True)
    session.run(str(bin_dir / "python"), "-m", "django", "--version", external=True)
    session.run(str(bin_dir / "python"), "-m", "pytest", "-q", *session.posargs, external=True)


@nox.session(python=False)
def package(session: nox.Session) -> None:
    """Build the sdist and wheel, install the wheel into a fresh venv, and import it there."""
    session.run("python", "-m", "pytest", "-q", "tests/setup/test_packaging.py", external=True)
