"""What ``manage.py cachefresh settings`` shows: every ``CACHEFRESH`` key with its default,
its meaning and the project's current value, then what is wrong with them.

The installed package ships no documentation pages, so this is where the system checks'
hints point: it needs nothing but the project the user already has.
"""

from __future__ import annotations

import textwrap
from typing import Any

from cachefresh.setting_keys import KEYS, spelled

WIDTH = 92


def lines(raw: Any) -> list[str]:
    """The reference, each key with the value ``raw`` (``settings.CACHEFRESH``) gives it."""
    given = raw if isinstance(raw, dict) else {}
    out = ["CACHEFRESH in this project's settings (every key is optional):", ""]
    for key in KEYS:
        default = spelled(key.default)
        if key.name in given:
            out.append(f"{key.name} = {spelled(given[key.name])}    (set here; default {default})")
        else:
            out.append(f"{key.name} = {default}    (the default)")
        out += textwrap.wrap(key.meaning, WIDTH, initial_indent="    ", subsequent_indent="    ")
    return out
