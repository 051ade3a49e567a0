"""Whether cachefresh still sees writes: its hooks on Django, checked on use.

Another library that patches the same methods can remove a hook (django-cachalot's settings
reload unwraps through ``__wrapped__``). Writes would then go unseen and reads serve stale rows
with no error, so every cached read checks the hooks (a few attribute reads), and a missing
one is logged as an error, put back, and reported by system check ``cachefresh.E005``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from cachefresh import invalidation, patching, transactions

logger = logging.getLogger("cachefresh")


def missing() -> list[str]:
    return invalidation.missing_hooks() + transactions.missing_hooks()


def replacements() -> list[str]:
    """What replaced the missing hooks, as ``module.qualname``."""
    return invalidation.replacements() + transactions.replacements()


#: Every wrapper as ``(class, name, wrapper)``, and ``patching.installs`` when they were found
#: intact: one loop of attribute reads per cached read until something installs again.
_intact: tuple[int, tuple[tuple[type, str, Callable[..., Any]], ...]] = (-1, ())


def ensure_installed() -> None:
    installs, wrappers = _intact
    if installs == patching.installs:
        for owner, name, installed in wrappers:
            if getattr(owner, name) is not installed:
                break
        else:
            return
    _check_all()


def _check_all() -> None:
    global _intact
    installs = patching.installs
    if invalidation.hooks_intact() and transactions.hooks_intact():
        _intact = (installs, invalidation.expected_hooks() + transactions.expected_hooks())
        return
    gone = missing()
    logger.error(
        "cachefresh: %s no longer hooked (replaced by another library?); writes made since "
        "then went unseen and their rows may be served stale until CACHEFRESH['TIMEOUT']. "
        "The hooks are back now; run `manage.py cachefresh invalidate <model>` for the models "
        "written meanwhile.",
        ", ".join(gone),
    )
    invalidation.install()
    transactions.install()
