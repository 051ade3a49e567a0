"""One counter of the changes that make what a read resolved once stale.

A read resolves per model and database alias what does not change from call to call: the
plan, the keys' prefixes, the database's identity, the tier, the primary a replica reads
through (:mod:`cachefresh.routes`). It keeps that until this counter moves, which it does when
anything those depend on may have changed: a setting (Django's ``setting_changed``), the
database behind an alias (:mod:`cachefresh.databases`), the registry of cached models, a fork
(the child has no listener thread and no store of its own yet). A read compares one integer.
"""

from __future__ import annotations

import os

#: Moves on every change; readers compare it with the value they resolved under.
count = 0


def bump() -> None:
    """Something a resolved read depends on may have changed. Two racing bumps may write the
    same value, but it differs from the one before both, which is all a reader compares."""
    global count
    count += 1


os.register_at_fork(after_in_child=bump)
