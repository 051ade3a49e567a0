"""How many Python function calls one operation makes, and where: the measure of a hit path's
length that does not move with the machine's load (issue 21 and 22's "calls and modules deep")."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable
from types import FrameType
from typing import Any

#: Top-level packages reported on their own; everything else counts as "other".
PACKAGES = ("cachefresh", "django", "redis", "django_redis", "msgpack")


def _package(filename: str) -> str:
    parts = filename.replace("\\", "/").split("/")
    for name in PACKAGES:
        if name in parts:
            # The innermost match: django_redis lives beside django in site-packages.
            return max((p for p in PACKAGES if p in parts), key=parts.index)
    return "other"


def calls_of(operation: Callable[[], Any]) -> dict[str, Any]:
    """Run ``operation`` once and count the Python calls it makes: in all, per package, and the
    distinct modules of cachefresh they run in."""
    per_package: Counter[str] = Counter()
    modules: set[str] = set()

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event != "call":
            return
        filename = frame.f_code.co_filename
        package = _package(filename)
        per_package[package] += 1
        if package == "cachefresh":
            modules.add(filename.rsplit("cachefresh/", 1)[-1])

    sys.setprofile(profile)
    try:
        operation()
    finally:
        sys.setprofile(None)
    per_package["other"] -= 1  # the operation's own lambda
    return {
        "calls": sum(per_package.values()),
        "cachefresh_calls": per_package["cachefresh"],
        "cachefresh_modules": len(modules),
        "by_package": dict(per_package),
        "modules": sorted(modules),
    }
