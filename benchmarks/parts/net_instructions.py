"""What the statement net costs, in instructions rather than seconds: ``python -m
benchmarks.parts.net_instructions`` (needs valgrind; about 20 minutes on 2 cores).

Wall-clock ratios of a few microseconds drown in the noise of a shared machine; callgrind counts
the instructions a process runs, the same whatever else the machine does. Each workload runs in
a process of its own under callgrind, with the net on the connection and with it taken off
(Django's ``execute_wrappers`` emptied), once with no timed calls and once with ``CALLS`` of
them: the difference over ``CALLS`` is the cost of one call, start-up and warm-up cancelled.
SQLite in memory and LocMemCache, so every instruction counted is the client's.
"""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

CALLS = 1000
WORKLOADS = ("get(pk)", "cached_get() miss", "ORM update, one row", "raw UPDATE, one row")


def _child(workload: str, net_on: bool, calls: int) -> None:
    import django
    from django.conf import settings

    settings.configure(
        INSTALLED_APPS=["cachefresh", "benchmarks.benchapp"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
        USE_TZ=True,
        SECRET_KEY="net-instructions",
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
    )
    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import F
    from django.utils import timezone

    from benchmarks.benchapp.models import Narrow
    from cachefresh import invalidate

    call_command("migrate", run_syncdb=True, verbosity=0)
    now = timezone.now()
    row = dict(title="t", updated=now, score=1.0, flag=True, amount=1, code="c", rank=1)
    Narrow.objects.bulk_create(Narrow(counter=i, born=now.date(), **row) for i in range(50))
    pks = list(Narrow.objects.values_list("pk", flat=True))
    connection.ensure_connection()
    if not net_on:
        connection.execute_wrappers[:] = []
    table = connection.ops.quote_name(Narrow._meta.db_table)
    raw = f"UPDATE {table} SET counter = counter + 1 WHERE id = %s"

    def one(i: int) -> Any:
        pk = pks[i % len(pks)]
        if workload == "get(pk)":
            return Narrow.objects.get(pk=pk)
        if workload == "cached_get() miss":
            invalidate(Narrow, pk)
            return Narrow.objects.cached_get(pk=pk)
        if workload == "ORM update, one row":
            return Narrow.objects.filter(pk=pk).update(counter=F("counter") + 1)
        with connection.cursor() as cursor:
            return cursor.execute(raw, [pk])

    for i in range(20 + calls):
        one(i)


def _instructions(workload: str, net_on: bool, calls: int) -> int:
    command = [
        "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
        "-m", "benchmarks.parts.net_instructions", workload, "on" if net_on else "off", str(calls),
    ]  # fmt: skip
    printed = subprocess.run(command, capture_output=True, text=True, check=True).stderr
    found = re.search(r"Collected : (\d+)", printed)
    if found is None:
        raise RuntimeError(f"callgrind printed no total:\n{printed}")
    return int(found.group(1))


def main() -> None:
    print("| workload | net on | net off | on / off |")
    print("|---|---|---|---|")
    for workload in WORKLOADS:
        per_call = {
            on: (_instructions(workload, on, CALLS) - _instructions(workload, on, 0)) / CALLS
            for on in (True, False)
        }
        ratio = per_call[True] / per_call[False]
        print(f"| {workload} | {per_call[True]:,.0f} | {per_call[False]:,.0f} | {ratio:.3f}x |")


if __name__ == "__main__":
    if len(sys.argv) == 4:
        _child(sys.argv[1], sys.argv[2] == "on", int(sys.argv[3]))
    else:
        main()
