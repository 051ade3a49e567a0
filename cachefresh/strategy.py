"""The names of ``smart_refresh()``'s strategies."""

from __future__ import annotations

import enum


class Strategy(enum.StrEnum):
    """How ``smart_refresh()`` reloads: ``AUTO`` lets the cost model choose among the others."""

    AUTO = "auto"
    CACHE = "cache"
    FULL = "full"
    COLUMNS = "columns"
