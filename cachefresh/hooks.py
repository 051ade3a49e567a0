"""Whether cachefresh still sees writes: its hooks on Django, checked on use.

Another library that patches the same methods can remove a hook (django-cachalot's settings
reload unwraps through ``__wrapped__``). Writes would then go unseen and reads serve stale rows
with no error, so every cached read checks the hooks (a few attribute reads), and a missing
one is logged as an error, put back, and reported by system check ``cachefresh.E005``.
"""

from __future__ import annotations

import logging

from cachefresh import invalidation, transactions

logger = logging.getLogger("cachefresh")


def missing() -> list[str]:
    return invalidation.missing_hooks() + transactions.missing_hooks()


def replacements() -> list[str]:
    """What replaced the missing hooks, as ``module.qualname``."""
    return invalidation.replacements() + transactions.replacements()


def ensure_installed() -> None:
    if invalidation.hooks_intact() and transactions.hooks_intact():
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
