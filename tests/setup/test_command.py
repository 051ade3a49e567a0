"""``manage.py cachefresh``: every subcommand on both backend pairs, through call_command."""

import io
import json
import os
import re
import socket
import subprocess
import sys
import textwrap

import pytest
from django.apps import apps
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connections
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from cachefresh import (
    Strategy,
    cached_get,
    cached_get_many,
    smart_refresh,
    smart_refresh_many,
    stats,
)
from cachefresh.keys import RowKeys
from cachefresh.management.commands.cachefresh import STALE_EXIT
from cachefresh.management.progress import progress_bar
from cachefresh.registry import registry
from cachefresh.store import get_store
from tests.support.unseen import unseen_cursor
from tests.testapp.models import Article, ArticleProxy, Author

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("cachefresh", *map(str, args), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def raw_sql(alias, sql, params):
    """A write cachefresh cannot see: another program's, so nothing retires anything."""
    with unseen_cursor(alias) as cursor:
        cursor.execute(sql, params)


def article_table():
    return Article._meta.db_table


def fresh_stats():
    """Zero this process's counts and the shared counters under the test's key prefix.

    The background flusher may have added earlier tests' counts under the new prefix between
    the fixture's switch to it and this call.
    """
    stats.reset()
    cached = registry.cached_models()
    labels = [m._meta.label for m in apps.get_models() if m._meta.concrete_model in cached]
    stats.clear_shared([*labels, *(m._meta.db_table for m in cached)])


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stored_keys(alias, pk, model=Article):
    """The entry and token of a row as they sit in the cache, read without filling."""
    plan = registry.plan(model)
    row = RowKeys(plan.table_tag(alias), pk)
    return get_store().get_many([row.entry, row.token])


# invalidate


def test_invalidate_pk_retires_a_row_changed_by_raw_sql(backend):
    kept, changed = Article.objects.create(title="kept"), Article.objects.create(title="old")
    cached_get_many(Article, [kept.pk, changed.pk])
    raw_sql(backend, f"UPDATE {article_table()} SET title = %s", ["raw"])
    assert cached_get(Article, changed.pk).title == "old"  # cachefresh could not see it

    out, _ = run("invalidate", "testapp.Article", changed.pk)

    assert "Retired 1 row(s) of testapp.Article" in out
    assert cached_get(Article, changed.pk).title == "raw"
    assert cached_get(Article, kept.pk).title == "kept"  # only the named pk was retired


def test_invalidate_without_pks_retires_the_whole_model(backend):
    first, second = Article.objects.create(title="a"), Article.objects.create(title="b")
    cached_get_many(Article, [first.pk, second.pk])
    raw_sql(backend, f"UPDATE {article_table()} SET title = %s", ["raw"])

    out, _ = run("invalidate", "testapp.Article")

    assert "every row" in out
    assert {a.title for a in cached_get_many(Article, [first.pk, second.pk]).values()} == {"raw"}


def test_invalidate_refuses_unknown_and_uncached_models(backend):
    with pytest.raises(CommandError, match="No installed model"):
        run("invalidate", "testapp.Nope")
    with pytest.raises(CommandError, match="not cached"):
        run("invalidate", "testapp.NotCached", 1)
    with pytest.raises(CommandError, match="Invalid primary key"):
        run("invalidate", "testapp.Article", "not-a-number")


# warm


def test_warm_fills_every_row_in_batches(backend):
    authors = Author.objects.bulk_create([Author(name=f"a{i}") for i in range(25)])
    pks = [a.pk for a in authors]

    with CaptureQueriesContext(connections[backend]) as queries:
        out, err = run("warm", "testapp.Author", "--batch-size", 10)

    # A count, the pk scan, and one SELECT per batch of 10: never one query per row.
    assert len(queries) <= 2 + 3
    assert "25 rows read, 25 stored, 0 already cached" in out
    assert "warming testapp.Author: 25/25" in err
    with CaptureQueriesContext(connections[backend]) as queries:
        assert len(cached_get_many(Author, pks)) == 25
    assert len(queries) == 0

    out, _ = run("warm", "testapp.Author", "--no-progress")
    assert "25 rows read, 0 stored, 25 already cached" in out


def test_warm_limit_takes_the_highest_pks(backend):
    authors = Author.objects.bulk_create([Author(name=f"a{i}") for i in range(5)])
    out, _ = run("warm", "testapp.Author", "--limit", 2, "--no-progress")
    assert "2 rows read, 2 stored" in out
    newest = sorted(a.pk for a in authors)[-2:]
    assert all(stored_keys(backend, pk, Author)[0] is not None for pk in newest)
    assert stored_keys(backend, min(a.pk for a in authors), Author) == [None, None]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("stream_kind", [io.StringIO, _Terminal])
def test_progress_bars_report_the_total(stream_kind):
    if stream_kind is _Terminal:
        pytest.importorskip("rich")  # optional: a terminal gets rich's bar when installed
    stream = stream_kind()
    bar = progress_bar(30, "warming x", stream)
    for _ in range(3):
        bar.update(10)
    bar.close()
    assert "30/30" in stream.getvalue()


# audit


def test_audit_finds_a_row_changed_behind_the_cache(backend):
    articles = Article.objects.bulk_create([Article(title=f"t{i}", views=i) for i in range(6)])
    cached_get_many(Article, [a.pk for a in articles])
    out, _ = run("audit", "testapp.Article", "--sample", 10)
    assert "6 rows checked, 6 cached, 0 stale" in out

    stale = articles[2]
    raw_sql(backend, f"UPDATE {article_table()} SET title = %s WHERE id = %s", ["raw", stale.pk])
    report = io.StringIO()
    with pytest.raises(CommandError) as excinfo:
        call_command("cachefresh", "audit", "testapp.Article", "--sample", "10", stdout=report)

    assert excinfo.value.returncode == STALE_EXIT
    assert "1 stale entry of testapp.Article" in str(excinfo.value)
    out = report.getvalue()
    assert "6 rows checked, 6 cached, 1 stale" in out
    assert f"STALE testapp.Article pk={stale.pk}: title: cache 't2' != db 'raw'" in out
    assert "views" not in out  # field by field: only the field that differs

    run("invalidate", "testapp.Article", stale.pk)
    out, _ = run("audit", "testapp.Article")
    assert "0 stale" in out


def test_audit_of_named_pks_finds_a_row_deleted_behind_the_cache(backend):
    gone, here = Article.objects.create(title="gone"), Article.objects.create(title="here")
    cached_get_many(Article, [gone.pk, here.pk])
    raw_sql(backend, f"DELETE FROM {article_table()} WHERE id = %s", [gone.pk])
    assert cached_get(Article, gone.pk).title == "gone"  # still served

    report = io.StringIO()
    with pytest.raises(CommandError):
        call_command("cachefresh", "audit", "testapp.Article", gone.pk, here.pk, stdout=report)

    out = report.getvalue()
    assert "2 rows checked, 2 cached, 1 stale" in out
    assert f"pk={gone.pk}: deleted from the database, still served from the cache" in out


def test_audit_reads_the_cache_without_filling_it(backend):
    article = Article.objects.create(title="never read")
    out, _ = run("audit", "testapp.Article", "--random")
    assert "1 rows checked, 0 cached, 0 stale" in out
    # Neither an entry nor a token was created: auditing changes nothing in the cache.
    assert stored_keys(backend, article.pk) == [None, None]


def test_audit_ignores_retired_entries(backend):
    article = Article.objects.create(title="a")
    cached_get(Article, article.pk)
    raw_sql(backend, f"UPDATE {article_table()} SET title = %s", ["raw"])
    run("invalidate", "testapp.Article", article.pk)
    # The old entry is still stored, but retired: it can never be served, so it is not stale.
    assert stored_keys(backend, article.pk)[0] is not None
    out, _ = run("audit", "testapp.Article")
    assert "1 rows checked, 0 cached, 0 stale" in out


# stats


@pytest.mark.every_database  # the stats command reads every database's log backlog
def test_stats_counts_reads_fills_and_invalidations(backend):
    fresh_stats()
    article = Article.objects.create(title="a")
    cached_get(Article, article.pk)  # miss + fill
    cached_get(Article, article.pk)  # hit
    cached_get_many(Article, [article.pk])  # hit
    Article.objects.filter(pk=article.pk).update(title="b")  # one row retired
    smart_refresh(article, ["title"], strategy="columns")
    smart_refresh_many([ArticleProxy.objects.get(pk=article.pk)], ["title"], strategy="columns")

    out, _ = run("stats", "--json")

    everything = json.loads(out)
    counts = everything["testapp.Article"]
    assert counts["hit"] == 2
    assert counts["miss"] == 1
    assert counts["fill"] == 1
    assert counts["invalidated_rows"] == 1
    # A proxy's refreshes count under its concrete model, as its reads do.
    assert counts["refresh_columns"] == 2
    assert counts["refresh_reason_forced"] == 2
    assert "testapp.ArticleProxy" not in everything
    out, _ = run("stats")
    line = next(line for line in out.splitlines() if line.startswith("testapp.Article"))
    assert line.split()[1:4] == ["2", "1", "1"]
    assert line.split()[-1] == "66.7"


@pytest.mark.every_database  # the stats command reads every database's log backlog
def test_every_strategy_smart_refresh_can_run_reaches_the_shared_counters(backend):
    """A strategy whose counter the flush dropped would vanish from ``stats`` unnoticed."""
    fresh_stats()
    article = Article.objects.create(title="a")
    ran = {smart_refresh(article, strategy=strategy) for strategy in Strategy}
    ran |= {smart_refresh(article, strategy=strategy) for strategy in Strategy}  # warm: a hit
    assert ran == set(Strategy) - {Strategy.AUTO}
    out, _ = run("stats", "--json")
    counts = json.loads(out)["testapp.Article"]
    for strategy in ran:
        assert counts[f"refresh_{strategy}"] >= 1, strategy


@pytest.mark.every_database  # the stats command reads every database's log backlog
def test_stats_reset_zeroes_the_shared_counters(backend):
    fresh_stats()
    article = Article.objects.create(title="a")
    cached_get(Article, article.pk)
    out, _ = run("stats", "--reset")
    assert "testapp.Article" in out
    out, _ = run("stats", "--json")
    assert "testapp.Article" not in json.loads(out)


@pytest.mark.every_database  # the stats command reads every database's log backlog
def test_stats_json_includes_the_log_backlog(backend):
    """What the table's last lines say of the invalidation log, ``--json`` says too."""
    out, _ = run("stats", "--json")
    backlog = json.loads(out)["log_backlog"]
    text, _ = run("stats")
    shown = re.findall(r"Log backlog on '(\w+)' \(cachefresh_log\): (\d+) row", text)
    assert [(found["alias"], str(found["rows"])) for found in backlog] == shown
    # Every database with the log (each test database has it: migrated), mirrors left out.
    primaries = [a for a, db in settings.DATABASES.items() if not db.get("TEST", {}).get("MIRROR")]
    assert [found["alias"] for found in backlog] == primaries


CHILD = textwrap.dedent(
    """
    import os, sys
    import django
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    django.setup()
    from django.conf import settings
    from django.db import connections
    from django.test import override_settings
    from tests.support.routers import ACTIVE

    connections.settings["pg"]["NAME"] = os.environ["CACHEFRESH_TEST_DB"]
    ACTIVE["alias"] = "pg"
    config = dict(settings.CACHEFRESH, CACHE="redis", KEY_PREFIX=sys.argv[1])
    override_settings(CACHEFRESH=config).enable()
    from cachefresh import cached_get
    from tests.testapp.models import Article
    if sys.argv[4] == "killed":
        from cachefresh import stats
        stats.FLUSH_INTERVAL = 0.05  # shortened from 10 s before the flusher starts
    for _ in range(int(sys.argv[3])):
        cached_get(Article, int(sys.argv[2]))
    if sys.argv[4] == "killed":
        # Exit without atexit handlers, as a killed worker would: only the periodic flush
        # can have delivered the counts. Wait (bounded) until it has run.
        import time
        deadline = time.monotonic() + 20
        while stats._flushed != stats._counts and time.monotonic() < deadline:
            time.sleep(0.02)
        os._exit(0)
    # No explicit flush: the counts must reach the shared cache through the exit flush.
    """
)


def test_stats_add_up_across_processes(servers):
    fresh_stats()
    article = Article.objects.create(title="shared")
    prefix = settings.CACHEFRESH["KEY_PREFIX"]
    # One after the other: the first process fills, the others only hit.
    for reads, end in ((4, "exits"), (3, "exits"), (2, "killed")):
        subprocess.run(
            [sys.executable, "-c", CHILD, prefix, str(article.pk), str(reads), end],
            check=True,
            env={**os.environ, "PYTHONPATH": os.getcwd()},
            timeout=60,
        )

    out, _ = run("stats", "--json")

    counts = json.loads(out)["testapp.Article"]
    assert counts == {"hit": 8, "miss": 1, "miss_absent": 1, "fill": 1}


@pytest.mark.every_database  # the stats command reads every database's log backlog
def test_stats_kept_while_the_cache_is_down_are_flushed_later(backend):
    """A failed flush loses nothing: the counts go with the next flush that succeeds."""
    fresh_stats()
    article = Article.objects.create(title="a")
    cached_get(Article, article.pk)
    cached_get(Article, article.pk)
    dead = {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
    }
    config = dict(settings.CACHEFRESH, CACHE="dead")
    with override_settings(CACHES={**settings.CACHES, "dead": dead}, CACHEFRESH=config):
        assert stats.flush() is False
    out, _ = run("stats", "--json")
    assert json.loads(out)["testapp.Article"] == {"hit": 1, "miss": 1, "miss_absent": 1, "fill": 1}


CLI_SETTINGS = textwrap.dedent(
    """
    from tests.settings import *  # noqa: F403

    DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": {db!r}}}}}
    DATABASE_ROUTERS = []
    CACHES = {{**CACHES, "default": CACHES["redis"]}}  # noqa: F405
    CACHEFRESH = {{"TIMEOUT": 60, "KEY_PREFIX": {prefix!r}}}
    """
)

PLANT_STALE = textwrap.dedent(
    """
    import django
    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from cachefresh import cached_get
    from tests.testapp.models import Article
    call_command("migrate", run_syncdb=True, verbosity=0)
    article = Article.objects.create(title="cached")
    cached_get(Article, article.pk)
    connection.ensure_connection()  # the driver's own connection: out of Django's sight
    connection.connection.execute("UPDATE testapp_article SET title = 'raw'")
    """
)


def test_the_command_line_exits_with_3_on_stale_entries_and_accepts_django_options(tmp_path):
    """``manage.py cachefresh`` as a deploy check would run it: separate processes, exit codes."""
    from tests.support.servers import require_servers

    require_servers()
    module = f"cli_settings_{os.getpid()}"
    prefix = f"cli{os.getpid()}"
    (tmp_path / f"{module}.py").write_text(
        CLI_SETTINGS.format(db=str(tmp_path / "db.sqlite3"), prefix=prefix)
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.getcwd(), str(tmp_path)])}
    env["DJANGO_SETTINGS_MODULE"] = module

    def cli(*args):
        command = [sys.executable, "-m", "django", "cachefresh", *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)

    subprocess.run([sys.executable, "-c", PLANT_STALE], env=env, check=True, timeout=60)

    audit = cli("audit", "testapp.Article", "-v", "0", f"--settings={module}")
    assert audit.returncode == STALE_EXIT, audit.stderr
    assert "title: cache 'cached' != db 'raw'" in audit.stdout
    assert cli("invalidate", "testapp.Article", "--traceback").returncode == 0
    assert cli("audit", "testapp.Article").returncode == 0
