"""``manage.py cachefresh stats | invalidate | warm | audit | triggers | listen | settings``:
operate a cachefresh cache."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import router
from django.db.models import Model

from cachefresh import cached_get_many, conf, invalidate, invalidate_model, stats
from cachefresh.management import dblog, settings_report, stats_report
from cachefresh.management.audit import AuditReport, CacheUnavailable, audit
from cachefresh.management.progress import Stream, progress_bar
from cachefresh.registry import registry
from cachefresh.store import get_store
from cachefresh.store.errors import cache_errors

#: Exit status of ``audit`` when it finds stale entries (1 stays for usage and other errors).
STALE_EXIT = 3


class Command(BaseCommand):
    help = (
        "Inspect and operate the cachefresh cache: stats, invalidate, warm, audit, "
        "triggers, listen, settings."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="subcommand", required=True, metavar="subcommand")
        common = [_django_options()]

        stats_parser = sub.add_parser(
            "stats", parents=common, help="Hits, misses, fills, invalidations per model."
        )
        stats_parser.add_argument("--json", action="store_true", help="Print JSON.")
        stats_parser.add_argument(
            "--reset", action="store_true", help="Zero the shared counters after printing them."
        )

        inv = sub.add_parser(
            "invalidate", parents=common, help="Retire cached rows of a model (all, or by pk)."
        )
        inv.add_argument("model", help="app_label.Model")
        inv.add_argument("pks", nargs="*", help="Primary keys; none retires every row.")
        inv.add_argument("--database", help="Database alias (default: the router's for writes).")

        warm = sub.add_parser(
            "warm", parents=common, help="Read every row of a model through the cache."
        )
        warm.add_argument("model", help="app_label.Model")
        warm.add_argument("--batch-size", type=int, default=500)
        warm.add_argument("--limit", type=int, help="Warm at most this many rows (highest pks).")
        warm.add_argument("--database", help="Database alias (default: the router's for reads).")
        warm.add_argument(
            "--progress",
            action=argparse.BooleanOptionalAction,
            default=True,
            help="Show progress on stderr (default: on).",
        )

        check = sub.add_parser(
            "audit", parents=common, help="Compare cached rows with the database."
        )
        check.add_argument("model", help="app_label.Model")
        check.add_argument("pks", nargs="*", help="Check these primary keys, not a sample.")
        check.add_argument("--sample", type=int, default=1000, help="Rows to check.")
        check.add_argument("--random", action="store_true", help="Random rows, not highest pks.")
        check.add_argument("--database", help="Database alias (default: the router's for reads).")

        dblog.add_parsers(sub, common)

        sub.add_parser(
            "settings",
            parents=common,
            help="Every CACHEFRESH key: its default, meaning and this project's value.",
        )

    def execute(self, *args: Any, **options: Any) -> Any:
        if options.get("subcommand") == "settings":
            # The system checks' hints about a malformed CACHEFRESH point here: failing those
            # same checks first would leave the user with no way to read the reference.
            options["skip_checks"] = True
        return super().execute(*args, **options)

    def handle(self, *args: Any, **options: Any) -> None:
        handler = getattr(self, "handle_" + options["subcommand"])
        handler(**options)

    # settings

    def handle_settings(self, **options: Any) -> None:
        raw = getattr(settings, "CACHEFRESH", None)
        for line in settings_report.lines(raw):
            self.stdout.write(line)
        problems = conf.validate(raw)
        if problems:
            raise CommandError(
                f"CACHEFRESH has {len(problems)} problem(s):\n" + "\n".join(problems)
            )

    # stats

    def handle_stats(self, **options: Any) -> None:
        try:
            report = stats_report.gather()
        except cache_errors() as exc:
            raise CommandError(_unreachable(exc, "no statistics were read")) from exc
        if options["json"]:
            shown = {**report.as_json(), "log_backlog": dblog.backlog_json()}
            self.stdout.write(json.dumps(shown, indent=2, sort_keys=True))
        else:
            for line in report.lines():
                self.stdout.write(line)
            dblog.write_backlog(self.stdout)
        if options["reset"]:
            try:
                stats.clear_shared(report.names)
            except cache_errors() as exc:
                raise CommandError(_unreachable(exc, "the counters were not reset")) from exc
            self.stdout.write("Shared counters reset.")

    # invalidate

    def handle_invalidate(self, **options: Any) -> None:
        model = _cached_model(options["model"])
        using = options["database"] or router.db_for_write(model)
        pks = options["pks"]
        try:
            if pks:
                invalidate(model, *pks, using=using)
            else:
                invalidate_model(model, using=using)
        except (ValueError, TypeError, ValidationError) as exc:
            raise CommandError(f"Invalid primary key for {model._meta.label}: {exc}") from exc
        what = f"{len(pks)} row(s)" if pks else "every row"
        # A retirement the cache did not take waits in this process's outbox, which dies with
        # the command: one more attempt now, and only an emptied outbox means it was delivered.
        outbox = get_store().outbox
        if outbox and not outbox.deliver_now():
            raise CommandError(
                f"The cache did not answer, so retiring {what} of {model._meta.label} on "
                f"{using!r} was not confirmed: their cached entries may still be served. Run "
                "this command again once the cache answers."
            )
        self.stdout.write(f"Retired {what} of {model._meta.label} on {using!r}.")

    # triggers, listen: the invalidation log (cachefresh.dblog)

    def handle_triggers(self, **options: Any) -> None:
        dblog.handle_triggers(self, **options)

    def handle_listen(self, **options: Any) -> None:
        dblog.handle_listen(self, **options)

    # warm

    def handle_warm(self, **options: Any) -> None:
        model = _cached_model(options["model"])
        using = options["database"] or router.db_for_read(model)
        batch_size = options["batch_size"]
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        pks = model._base_manager.db_manager(using).order_by("-pk").values_list("pk", flat=True)
        if options["limit"] is not None:
            pks = pks[: options["limit"]]
        total = pks.count()
        label = model._meta.label
        before = stats.snapshot().get(label, {})
        bar = None
        if options["progress"]:
            # The raw stream: Django's OutputWrapper ends every write with a newline, which
            # would print each redraw of a terminal bar on a line of its own.
            raw: Stream = self.stderr._out  # type: ignore[assignment]  # stubs: a callable
            bar = progress_bar(total, f"warming {label}", raw)
        read = 0
        for batch in _batches(pks.iterator(chunk_size=batch_size), batch_size):
            read += len(cached_get_many(model, batch, using=using))
            if bar is not None:
                bar.update(len(batch))
        if bar is not None:
            bar.close()
        after = stats.snapshot().get(label, {})
        filled = after.get("fill", 0) - before.get("fill", 0)
        hits = after.get("hit", 0) - before.get("hit", 0)
        self.stdout.write(
            f"Warmed {label} on {using!r}: {read} rows read, {filled} stored, "
            f"{hits} already cached."
        )

    # audit

    def handle_audit(self, **options: Any) -> None:
        model = _cached_model(options["model"])
        using = options["database"] or router.db_for_read(model)
        if options["sample"] < 1:
            raise CommandError("--sample must be at least 1.")
        try:
            report = audit(
                model, using, options["sample"], randomly=options["random"], pks=options["pks"]
            )
        except CacheUnavailable as exc:
            raise CommandError("The cache did not answer; nothing was audited.") from exc
        except (ValueError, TypeError, ValidationError) as exc:
            raise CommandError(f"Invalid primary key for {model._meta.label}: {exc}") from exc
        self._print_audit(report)
        if report.stale:
            raise CommandError(
                f"{len(report.stale)} stale entr{'y' if len(report.stale) == 1 else 'ies'} "
                f"of {model._meta.label}: call cachefresh.invalidate() after writes cachefresh "
                "cannot see (other programs, psql, database triggers), or install the log "
                "triggers.",
                returncode=STALE_EXIT,
            )

    def _print_audit(self, report: AuditReport) -> None:
        label = report.model._meta.label
        self.stdout.write(
            f"Audited {label} on {report.using!r}: {report.checked} rows checked, "
            f"{report.cached} cached, {len(report.stale)} stale."
        )
        for difference in report.stale:
            self.stdout.write(f"  STALE {label} {difference.describe()}")


def _unreachable(exc: BaseException, consequence: str) -> str:
    return f"The cache did not answer ({type(exc).__name__}: {exc}); {consequence}."


def _django_options() -> CommandParser:
    """Django's own options, accepted after the subcommand too (``stats -v 0 --settings=…``).

    Defaults are suppressed so that options given before the subcommand are not overwritten.
    """
    options = CommandParser(add_help=False, argument_default=argparse.SUPPRESS)
    options.add_argument("-v", "--verbosity", type=int, choices=[0, 1, 2, 3])
    options.add_argument("--settings")
    options.add_argument("--pythonpath")
    for flag in ("--traceback", "--no-color", "--force-color", "--skip-checks"):
        options.add_argument(flag, action="store_true")
    return options


def _cached_model(label: str) -> type[Model]:
    try:
        model = apps.get_model(label)
    except (LookupError, ValueError) as exc:
        raise CommandError(f"No installed model {label!r}; use app_label.ModelName.") from exc
    try:
        registry.plan(model)
    except ImproperlyConfigured as exc:
        raise CommandError(str(exc)) from exc
    return model


def _batches(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
