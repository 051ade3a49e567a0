"""The ``triggers`` and ``listen`` subcommands, and the log's backlog line in ``stats``."""

from __future__ import annotations

import logging
import signal
from argparse import _SubParsersAction
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper
from django.db import DEFAULT_DB_ALIAS, connections

from cachefresh.dblog import LOG_TABLE, triggers
from cachefresh.dblog.backlog import backlogs
from cachefresh.dblog.dialect import for_alias
from cachefresh.dblog.listener import Listener

LEVELS = {0: logging.WARNING, 1: logging.INFO}


def add_parsers(sub: _SubParsersAction[CommandParser], common: list[CommandParser]) -> None:
    parser = sub.add_parser(
        "triggers",
        parents=common,
        help="Install, drop or list the log triggers (PostgreSQL, MySQL/MariaDB, SQLite).",
    )
    parser.add_argument("action", choices=("install", "drop", "status"))
    parser.add_argument("--database", default=DEFAULT_DB_ALIAS, help="Database alias.")

    listen = sub.add_parser(
        "listen", parents=common, help="Retire what the log records, until SIGTERM."
    )
    listen.add_argument("--database", default=DEFAULT_DB_ALIAS, help="Database alias.")
    listen.add_argument("--batch-size", type=int, default=500, help="Log rows per commit.")
    listen.add_argument(
        "--poll-interval", type=float, default=1.0, help="Seconds between polls of the log."
    )


def _alias(options: dict[str, Any]) -> str:
    alias: str = options["database"]
    if alias not in connections:
        raise CommandError(f"No database alias {alias!r} in DATABASES.")
    return alias


def handle_triggers(command: BaseCommand, **options: Any) -> None:
    alias = _alias(options)
    try:
        if options["action"] == "install":
            tables = triggers.install(alias)
            command.stdout.write(f"Triggers installed on {len(tables)} table(s) of {alias!r}.")
        elif options["action"] == "drop":
            tables = triggers.drop(alias)
            command.stdout.write(f"Triggers dropped from {len(tables)} table(s) of {alias!r}.")
        else:
            _print_status(command.stdout, triggers.status(alias))
    except ImproperlyConfigured as exc:
        raise CommandError(str(exc)) from exc


def _print_status(out: OutputWrapper, found: list[triggers.TableStatus]) -> None:
    width = max((len(s.table) for s in found), default=5)
    out.write(f"{'table'.ljust(width)}  triggers  wake-up")
    for s in found:
        if s.installed:
            state, wake = "yes", "notify" if s.notifies else "poll only"
        elif s.events:
            state, wake = "partial", f"has {', '.join(sorted(s.events))}"
        else:
            state, wake = "no", "-"
        note = "" if s.cached else "  (not cached: `triggers drop` removes it)"
        out.write(f"{s.table.ljust(width)}  {state.ljust(8)}  {wake}{note}")


def handle_listen(command: BaseCommand, **options: Any) -> None:
    alias = _alias(options)
    if options["batch_size"] < 1:
        raise CommandError("--batch-size must be at least 1.")
    if not options["poll_interval"] > 0:
        raise CommandError("--poll-interval must be a positive number of seconds.")
    try:
        triggers.require_log(for_alias(alias)[0])
    except ImproperlyConfigured as exc:
        raise CommandError(str(exc)) from exc
    listener = Listener(alias, options["batch_size"], options["poll_interval"])
    logger = logging.getLogger("cachefresh.dblog")
    # A project that configured LOGGING for cachefresh keeps it; otherwise log to stderr.
    handler = None if logger.hasHandlers() else logging.StreamHandler(command.stderr)
    level = logger.level
    if handler is not None:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(LEVELS.get(options.get("verbosity", 1), logging.DEBUG))

    def stop(signum: int, frame: Any) -> None:
        listener.stopping.set()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        listener.run()
    except ImproperlyConfigured as exc:  # a second listener where only one may run
        raise CommandError(str(exc)) from exc
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        if handler is not None:
            logger.removeHandler(handler)
            logger.setLevel(level)


def backlog_json() -> list[dict[str, Any]]:
    """The log's backlog per database, for ``stats --json``."""
    return [
        {"alias": found.alias, "rows": found.rows, "oldest_seconds": found.oldest_seconds}
        for found in backlogs()
    ]


def write_backlog(out: OutputWrapper) -> None:
    for found in backlogs():
        age = "" if found.oldest_seconds is None else f", oldest {found.oldest_seconds:.1f} s"
        out.write(f"Log backlog on {found.alias!r} ({LOG_TABLE}): {found.rows} row(s){age}.")
