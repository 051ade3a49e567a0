"""The invalidation log in one process, on PostgreSQL, MariaDB and SQLite: its table, the
triggers' rows, the commands, the check.

What the triggers write is read back from the log table itself; the multi-process guarantees
(a listener retiring it all) are in ``test_dblog_processes.py``.
"""

import contextlib
import io

import pytest
from django.apps import apps
from django.core.checks import run_checks
from django.core.management import CommandError, call_command
from django.db import connections, transaction
from django.db.backends.dummy.base import DatabaseWrapper as DummyWrapper
from django.db.migrations.state import ProjectState
from django.test import override_settings

from cachefresh import cached_get
from cachefresh.dblog.dialect import Unsupported, dialect
from cachefresh.dblog.operations import InstallTriggers
from cachefresh.dblog.sql import row_trigger
from cachefresh.dblog.triggers import cached_tables, status
from tests.support.dblog_databases import AGED, UPSERT, count_log, other_connection
from tests.support.dblog_procs import log_rows, logged
from tests.support.unseen import unseen_cursor
from tests.testapp.models import Author, CharPk, Place, Restaurant

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

__all__ = ["logged"]  # the fixture


def run(*args):
    out = io.StringIO()
    call_command("cachefresh", *map(str, args), stdout=out, stderr=io.StringIO())
    return out.getvalue()


def execute(alias, sql, params=()):
    """Out of Django's sight: only the triggers and the listener can retire what it writes."""
    with unseen_cursor(alias) as cursor:
        cursor.execute(sql, params)


def vendor(alias):
    return connections[alias].vendor


def test_migrate_creates_the_log_table_on_every_database(backend):
    assert "cachefresh_log" in connections[backend].introspection.table_names()


def test_a_statement_logs_its_rows_in_the_writers_transaction(log_db):
    a, b = Author.objects.create(name="a"), Author.objects.create(name="b")
    execute(log_db, "DELETE FROM cachefresh_log")
    with transaction.atomic(using=log_db):
        execute(log_db, "UPDATE testapp_author SET age = age + 1")
        assert sorted(log_rows(log_db)) == [
            ("testapp_author", str(a.pk)),
            ("testapp_author", str(b.pk)),
        ]
        if vendor(log_db) != "sqlite":  # in memory: no other connection sees the database
            # Nobody else sees them before the commit: the listener cannot retire too early.
            with contextlib.closing(other_connection(log_db)) as other:
                assert count_log(other) == 0
    assert len(log_rows(log_db)) == 2

    execute(log_db, "DELETE FROM cachefresh_log")
    with pytest.raises(RuntimeError), transaction.atomic(using=log_db):
        execute(log_db, "UPDATE testapp_author SET age = 0")
        raise RuntimeError("roll back")
    assert log_rows(log_db) == []  # a rollback takes the log rows away with the write


def test_each_kind_of_statement_is_logged_once_per_row(log_db):
    a = Author.objects.create(name="a")
    CharPk.objects.create(code="k", value=1)
    execute(log_db, "DELETE FROM cachefresh_log")
    execute(log_db, "INSERT INTO testapp_author (id, name, age) VALUES (%s, 'n', 0)", [a.pk + 100])
    execute(log_db, "UPDATE testapp_author SET id = %s WHERE id = %s", [a.pk + 200, a.pk])
    execute(log_db, UPSERT[vendor(log_db)], [a.pk + 100])
    execute(log_db, "DELETE FROM testapp_author WHERE id = %s", [a.pk + 100])
    execute(log_db, "UPDATE testapp_author SET age = 1 WHERE 1 = 0")  # no row: no log row
    expected = [
        ("testapp_author", str(a.pk + 100)),
        # A key change retires the old key and the new one.
        *sorted([("testapp_author", str(a.pk)), ("testapp_author", str(a.pk + 200))]),
        ("testapp_author", str(a.pk + 100)),  # the upsert's update
        ("testapp_author", str(a.pk + 100)),
    ]
    if vendor(log_db) == "sqlite":
        # SQLite has no TRUNCATE; a DELETE without WHERE still runs the row triggers.
        execute(log_db, "DELETE FROM testapp_charpk")
        expected.append(("testapp_charpk", "k"))
    else:
        execute(log_db, "TRUNCATE testapp_charpk")
        if vendor(log_db) == "postgresql":
            expected.append(("testapp_charpk", None))  # every row of the table
        # MySQL/MariaDB: TRUNCATE fires no trigger (docs/limits.md); only Django sees its own.
    rows = log_rows(log_db)
    assert rows[:1] + sorted(rows[1:3]) + rows[3:] == expected


def test_a_thousand_row_update_writes_one_row_each(log_db):
    Author.objects.bulk_create([Author(name=str(i)) for i in range(1000)])
    execute(log_db, "DELETE FROM cachefresh_log")
    execute(log_db, "UPDATE testapp_author SET age = age + 1")
    rows = log_rows(log_db)
    assert len(rows) == 1000
    assert {pk for _, pk in rows} == {str(pk) for pk in Author.objects.values_list("pk", flat=True)}


def test_string_keys_are_logged_as_written(log_db):
    CharPk.objects.create(code="it's ünï")
    execute(log_db, "DELETE FROM cachefresh_log")
    execute(log_db, "UPDATE testapp_charpk SET value = 1")
    assert log_rows(log_db) == [("testapp_charpk", "it's ünï")]


def test_install_is_idempotent_and_status_lists_every_cached_table(log_db):
    run("triggers", "install", "--database", log_db)  # again: nothing breaks, nothing doubles
    execute(log_db, "UPDATE testapp_author SET age = 1")
    Author.objects.create(name="x")
    execute(log_db, "DELETE FROM cachefresh_log")
    execute(log_db, "UPDATE testapp_author SET age = 2")
    assert len(log_rows(log_db)) == 1
    out = run("triggers", "status", "--database", log_db)
    wake = "notify" if vendor(log_db) == "postgresql" else "poll only"
    covered = cached_tables(connections[log_db])  # not a model Django skips there (6.1's Sticker)
    for table in covered:
        assert f"\n{table} " in out
    assert out.count(f"yes       {wake}") == len(covered)
    assert "testapp_notcached" not in out
    # Multi-table inheritance: the child's table is covered with its parent's.
    assert {Place._meta.db_table, Restaurant._meta.db_table} <= set(cached_tables())


def _drop_one_update_trigger(alias):
    if vendor(alias) == "postgresql":
        execute(alias, "DROP TRIGGER cachefresh_update ON testapp_article")
    else:
        execute(alias, f"DROP TRIGGER {row_trigger('update', 'testapp_article')}")


def test_status_and_the_check_name_tables_without_triggers(log_db):
    _drop_one_update_trigger(log_db)
    found = {s.table: s for s in status(log_db)}
    assert found["testapp_article"].events == dialect(connections[log_db]).events - {"update"}
    assert "partial" in run("triggers", "status", "--database", log_db)
    warnings = [m for m in run_checks(databases=[log_db]) if m.id == "cachefresh.W004"]
    assert len(warnings) == 1 and "testapp_article" in warnings[0].msg
    assert not [m for m in run_checks() if m.id == "cachefresh.W004"]  # only with databases

    run("triggers", "install", "--database", log_db)
    assert not [m for m in run_checks(databases=[log_db]) if m.id == "cachefresh.W004"]
    run("triggers", "drop", "--database", log_db)
    assert all(not s.events for s in status(log_db))
    assert not [m for m in run_checks(databases=[log_db]) if m.id == "cachefresh.W004"]


def test_poll_only_triggers_send_no_notification(logged, settings):
    with override_settings(CACHEFRESH={**settings.CACHEFRESH, "LOG_NOTIFY": False}):
        run("triggers", "install", "--database", "pg")
        assert "poll only" in run("triggers", "status", "--database", "pg")
    with connections["pg"].cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_proc WHERE proname LIKE 'cachefresh_log_%%' "
            "AND prosrc LIKE '%%pg_notify%%'"
        )
        assert cursor.fetchone() == (0,)


def test_log_notify_must_be_a_boolean(settings):
    from cachefresh.checks import check_settings

    messages = check_settings({**settings.CACHEFRESH, "LOG_NOTIFY": "no"})
    assert [m.id for m in messages] == ["cachefresh.E001"]
    assert "LOG_NOTIFY" in messages[0].msg and "poll-only" in messages[0].msg


def test_a_database_without_a_log_module_is_named_and_a_bad_alias_refused():
    # Django's dummy backend: a real connection object of a vendor the log has no module for.
    with pytest.raises(Unsupported, match=r"does not support unknown \(database 'x'\).*invalidate"):
        dialect(DummyWrapper({"ENGINE": "django.db.backends.dummy"}, alias="x"))
    with pytest.raises(CommandError, match="No database alias 'nope'"):
        run("listen", "--database", "nope")
    with pytest.raises(CommandError, match="No database alias 'nope'"):
        run("triggers", "status", "--database", "nope")


def test_listen_on_sqlite_needs_a_database_file():
    with pytest.raises(CommandError, match="'default' is an in-memory SQLite database"):
        run("listen", "--database", "default")


def test_listen_refuses_bad_options(servers):
    with pytest.raises(CommandError, match="--batch-size must be at least 1"):
        run("listen", "--database", "pg", "--batch-size", "0")
    with pytest.raises(CommandError, match="--poll-interval must be a positive"):
        run("listen", "--database", "pg", "--poll-interval", "0")


def test_stats_reports_the_backlog(log_db):
    line = f"Log backlog on {log_db!r} (cachefresh_log): "
    assert line + "0 row(s)." in run("stats")
    execute(
        log_db,
        "INSERT INTO cachefresh_log (table_name, row_pk, logged_at) VALUES "
        f"('testapp_author', '1', {AGED[vendor(log_db)]})",
    )
    execute(log_db, "INSERT INTO cachefresh_log (table_name) VALUES ('testapp_author')")
    assert line + "2 row(s), oldest 9" in run("stats")


def test_the_migration_operation_covers_the_family_and_reverses(log_db):
    run("triggers", "drop", "--database", log_db)
    state = ProjectState.from_apps(apps)
    operation = InstallTriggers("testapp.Restaurant")
    with connections[log_db].schema_editor() as editor:
        operation.database_forwards("testapp", editor, state, state)
    installed = {s.table for s in status(log_db) if s.installed}
    assert installed == {Place._meta.db_table, Restaurant._meta.db_table}
    with connections[log_db].schema_editor() as editor:
        operation.database_backwards("testapp", editor, state, state)
    assert not [s for s in status(log_db) if s.events]
    assert operation.deconstruct() == ("InstallTriggers", ["testapp.Restaurant"], {})
    with pytest.raises(ValueError, match="needs the labels"):
        InstallTriggers()


def test_install_names_a_cached_table_that_does_not_exist_yet(log_db):
    """An app not migrated yet: the command names the table and what to run, instead of the
    database's own error on the first CREATE TRIGGER."""
    run("triggers", "drop", "--database", log_db)
    execute(log_db, f"ALTER TABLE {Author._meta.db_table} RENAME TO cachefresh_test_elsewhere")
    try:
        with pytest.raises(CommandError, match=rf"testapp_author.*migrate --database {log_db}"):
            run("triggers", "install", "--database", log_db)
        assert not [s for s in status(log_db) if s.events]  # nothing half-installed
    finally:
        execute(log_db, f"ALTER TABLE cachefresh_test_elsewhere RENAME TO {Author._meta.db_table}")


@pytest.mark.parametrize("log_db", ["mysql"], indirect=True)
def test_a_truncate_on_mariadb_logs_nothing_but_one_through_django_is_seen(log_db):
    """TRUNCATE fires no trigger on MySQL/MariaDB (docs/limits.md); the statement net still
    retires the table when the TRUNCATE goes through Django."""
    CharPk.objects.create(code="k", value=1)
    assert cached_get(CharPk, "k").value == 1
    execute(log_db, "DELETE FROM cachefresh_log")
    with connections[log_db].cursor() as cursor:
        cursor.execute("TRUNCATE testapp_charpk")
    assert log_rows(log_db) == []
    with pytest.raises(CharPk.DoesNotExist):
        cached_get(CharPk, "k")
