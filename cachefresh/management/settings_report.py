"""What ``manage.py cachefresh settings`` shows: every ``CACHEFRESH`` key with its default,
its meaning and the project's current value, then what is wrong with them.

The installed package ships no documentation pages, so this is where the system checks'
hints point: it needs nothing but the project the user already has.
"""

from __future__ import annotations

import textwrap
from typing import Any

from cachefresh.conf import REFERENCE

WIDTH = 92


def lines(raw: Any) -> list[str]:
    """The reference, each key with the value ``raw`` (``settings.CACHEFRESH``) gives it."""
    given = raw if isinstance(raw, dict) else {}
    out = ["CACHEFRESH in this project's settings (every key is optional):", ""]
    for entry in REFERENCE:
        if entry.key in given:
            out.append(f"{entry.key} = {given[entry.key]!r}    (set here; default {entry.default})")
        else:
            out.append(f"{entry.key} = {entry.default}    (the default)")
        out += textwrap.wrap(entry.meaning, WIDTH, initial_indent="    ", subsequent_indent="    ")
    return out
