"""The invalidation log in one process: its table, the triggers' rows, the commands, the check.

What the triggers write is read back from the log table itself, on the per-run PostgreSQL test
database; the multi-process guarantees (a listener retiring it all) are in
``test_dblog_processes.py``.
"""

import io

import pytest
from django.apps import apps
from django.core.checks import run_checks
from django.core.management import CommandError, call_command
from django.db import connections, transaction
from django.db.migrations.state import ProjectState
from django.test import override_settings

from cachefresh.dblog.operations import InstallTriggers
from cachefresh.dblog.triggers import cached_tables, status
from tests.support.dblog_procs import log_rows, logged, raw_connection
from tests.support.servers import require_mysql
from tests.support.unseen import unseen_cursor
from tests.testapp.models import Author, CharPk, Place, Restaurant

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

__all__ = ["logged"]  # the fixture


def run(*args):
    out = io.StringIO()
    call_command("cachefresh", *map(str, args), stdout=out, stderr=io.StringIO())
    return out.getvalue()


def execute(sql, params=()):
    """Out of Django's sight: only the triggers and the listener can retire what it writes."""
    with unseen_cursor("pg") as cursor:
        cursor.execute(sql, params)


def test_migrate_creates_the_log_table_on_every_database(backend):
    assert "cachefresh_log" in connections[backend].introspection.table_names()


def test_a_statement_logs_its_rows_in_the_writers_transaction(logged):
    a, b = Author.objects.create(name="a"), Author.objects.create(name="b")
    execute("DELETE FROM cachefresh_log")
    with transaction.atomic(using="pg"):
        execute("UPDATE testapp_author SET age = age + 1")
        assert sorted(log_rows()) == [("testapp_author", str(a.pk)), ("testapp_author", str(b.pk))]
        # Nobody else sees them before the commit: the listener cannot retire too early.
        with raw_connection() as other:
            assert other.execute("SELECT count(*) FROM cachefresh_log").fetchone() == (0,)
    assert len(log_rows()) == 2

    execute("DELETE FROM cachefresh_log")
    with pytest.raises(RuntimeError), transaction.atomic(using="pg"):
        execute("UPDATE testapp_author SET age = 0")
        raise RuntimeError("roll back")
    assert log_rows() == []  # a rollback takes the log rows away with the write


def test_each_kind_of_statement_is_logged_once_per_row(logged):
    a = Author.objects.create(name="a")
    execute("DELETE FROM cachefresh_log")
    execute("INSERT INTO testapp_author (id, name, age) VALUES (%s, 'n', 0)", [a.pk + 100])
    execute("UPDATE testapp_author SET id = %s WHERE id = %s", [a.pk + 200, a.pk])
    execute(
        "INSERT INTO testapp_author (id, name, age) VALUES (%s, 'u', 0) "
        "ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name",
        [a.pk + 100],
    )
    execute("DELETE FROM testapp_author WHERE id = %s", [a.pk + 100])
    execute("UPDATE testapp_author SET age = 1 WHERE false")  # no row: no log row
    execute("TRUNCATE testapp_charpk")
    assert log_rows() == [
        ("testapp_author", str(a.pk + 100)),
        # A key change retires the old key and the new one.
        *sorted([("testapp_author", str(a.pk)), ("testapp_author", str(a.pk + 200))]),
        ("testapp_author", str(a.pk + 100)),  # the upsert's update
        ("testapp_author", str(a.pk + 100)),
        ("testapp_charpk", None),  # every row of the table
    ]


def test_a_thousand_row_update_writes_one_row_each(logged):
    Author.objects.bulk_create([Author(name=str(i)) for i in range(1000)])
    execute("DELETE FROM cachefresh_log")
    execute("UPDATE testapp_author SET age = age + 1")
    rows = log_rows()
    assert len(rows) == 1000
    assert {pk for _, pk in rows} == {str(pk) for pk in Author.objects.values_list("pk", flat=True)}


def test_string_keys_are_logged_as_written(logged):
    CharPk.objects.create(code="it's ünï")
    execute("DELETE FROM cachefresh_log")
    execute("UPDATE testapp_charpk SET value = 1")
    assert log_rows() == [("testapp_charpk", "it's ünï")]


def test_install_is_idempotent_and_status_lists_every_cached_table(logged):
    run("triggers", "install", "--database", "pg")  # again: nothing breaks, nothing doubles
    execute("UPDATE testapp_author SET age = 1")
    Author.objects.create(name="x")
    execute("DELETE FROM cachefresh_log")
    execute("UPDATE testapp_author SET age = 2")
    assert len(log_rows()) == 1
    out = run("triggers", "status", "--database", "pg")
    for table in cached_tables():
        assert f"\n{table} " in out and "yes       notify" in out
    assert "testapp_notcached" not in out
    # Multi-table inheritance: the child's table is covered with its parent's.
    assert {Place._meta.db_table, Restaurant._meta.db_table} <= set(cached_tables())


def test_status_and_the_check_name_tables_without_triggers(logged):
    execute("DROP TRIGGER cachefresh_update ON testapp_article")
    found = {s.table: s for s in status("pg")}
    assert found["testapp_article"].events == {"insert", "delete", "truncate"}
    assert "partial" in run("triggers", "status", "--database", "pg")
    warnings = [m for m in run_checks(databases=["pg"]) if m.id == "cachefresh.W004"]
    assert len(warnings) == 1 and "testapp_article" in warnings[0].msg
    assert not [m for m in run_checks() if m.id == "cachefresh.W004"]  # only with databases

    run("triggers", "install", "--database", "pg")
    assert not [m for m in run_checks(databases=["pg"]) if m.id == "cachefresh.W004"]
    run("triggers", "drop", "--database", "pg")
    assert all(not s.events for s in status("pg"))
    assert not [m for m in run_checks(databases=["pg"]) if m.id == "cachefresh.W004"]


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


def test_the_commands_need_postgresql_and_a_known_alias():
    for args in (("triggers", "install"), ("triggers", "status"), ("listen",)):
        with pytest.raises(CommandError, match="need PostgreSQL; database 'default' is sqlite"):
            run(*args, "--database", "default")
    with pytest.raises(CommandError, match="No database alias 'nope'"):
        run("listen", "--database", "nope")


def test_listen_refuses_bad_options(servers):
    with pytest.raises(CommandError, match="--batch-size must be at least 1"):
        run("listen", "--database", "pg", "--batch-size", "0")
    with pytest.raises(CommandError, match="--poll-interval must be a positive"):
        run("listen", "--database", "pg", "--poll-interval", "0")


def test_stats_reports_the_backlog(servers):
    execute("DELETE FROM cachefresh_log")
    assert "Log backlog on 'pg' (cachefresh_log): 0 row(s)." in run("stats")
    execute(
        "INSERT INTO cachefresh_log (table_name, row_pk, logged_at) "
        "VALUES ('testapp_author', '1', now() - interval '90 seconds'), "
        "('testapp_author', NULL, now())"
    )
    try:
        out = run("stats")
    finally:
        execute("DELETE FROM cachefresh_log")
    assert "Log backlog on 'pg' (cachefresh_log): 2 row(s), oldest 9" in out


def test_the_migration_operation_covers_the_family_and_reverses(servers):
    state = ProjectState.from_apps(apps)
    operation = InstallTriggers("testapp.Restaurant")
    try:
        with connections["pg"].schema_editor() as editor:
            operation.database_forwards("testapp", editor, state, state)
        installed = {s.table for s in status("pg") if s.installed}
        assert installed == {Place._meta.db_table, Restaurant._meta.db_table}
        with connections["pg"].schema_editor() as editor:
            operation.database_backwards("testapp", editor, state, state)
        assert not [s for s in status("pg") if s.events]
    finally:
        run("triggers", "drop", "--database", "pg")
    assert operation.deconstruct() == ("InstallTriggers", ["testapp.Restaurant"], {})
    with connections["default"].schema_editor() as editor:  # SQLite: nothing to do
        operation.database_forwards("testapp", editor, state, state)
    with pytest.raises(ValueError, match="needs the labels"):
        InstallTriggers()


def test_install_names_a_cached_table_that_does_not_exist_yet(servers):
    """An app not migrated yet: the command names the table and what to run, instead of the
    database's own error on the first CREATE TRIGGER."""
    execute(f"ALTER TABLE {Author._meta.db_table} RENAME TO cachefresh_test_elsewhere")
    try:
        with pytest.raises(CommandError, match=r"testapp_author.*migrate --database pg"):
            run("triggers", "install", "--database", "pg")
        assert not [s for s in status("pg") if s.events]  # nothing half-installed
    finally:
        execute(f"ALTER TABLE cachefresh_test_elsewhere RENAME TO {Author._meta.db_table}")


@pytest.mark.parametrize("alias", ["default", "mysql"])
def test_triggers_and_listen_say_which_databases_they_support(alias):
    if alias == "mysql":
        require_mysql()
    for args in (("triggers", "install"), ("triggers", "status"), ("listen",)):
        with pytest.raises(CommandError, match=r"need PostgreSQL.*invalidate"):
            run(*args, "--database", alias)
