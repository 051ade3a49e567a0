"""``manage.py cachefresh`` while the cache does not answer: it says what was not done, and
exits non-zero. Against a real unreachable Redis: a private ``redis-server`` paused with
SIGSTOP (connections accepted, nothing answered), or a closed local port."""

import io
import os
import subprocess
import sys
import textwrap
import uuid

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test import override_settings

from cachefresh import cached_get
from cachefresh.store import get_store
from tests.support.redis_servers import cache_entry, free_port, redis_server
from tests.support.unseen import unseen_cursor
from tests.testapp.models import Article

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("cachefresh", *map(str, args), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def paused_redis(backend):
    """cachefresh's cache is a private redis-server; the test pauses it when it wants."""
    with redis_server() as server:
        caches = {**settings.CACHES, "private": cache_entry(server.url, 0.2)}
        config = dict(settings.CACHEFRESH, CACHE="private", KEY_PREFIX=f"t{uuid.uuid4().hex[:8]}")
        with override_settings(CACHES=caches, CACHEFRESH=config):
            try:
                yield server
            finally:
                server.resume()


@pytest.fixture
def closed_port(backend):
    """cachefresh's cache is a Redis URL on a local port nothing listens on."""
    caches = {
        **settings.CACHES,
        "closed": cache_entry(f"redis://127.0.0.1:{free_port()}/0", 0.2),
    }
    config = dict(settings.CACHEFRESH, CACHE="closed")
    with override_settings(CACHES=caches, CACHEFRESH=config):
        yield


def raw_update(alias, pk, title):
    """A write out of Django's sight (another program's), which only invalidate() retires."""
    with unseen_cursor(alias) as cursor:
        cursor.execute(f"UPDATE {Article._meta.db_table} SET title = %s WHERE id = %s", [title, pk])


@pytest.mark.parametrize("by_pk", [True, False], ids=["pks", "model"])
def test_invalidate_fails_loudly_when_the_cache_does_not_answer(backend, paused_redis, by_pk):
    article = Article.objects.create(title="old")
    cached_get(Article, article.pk)
    raw_update(backend, article.pk, "raw")
    assert cached_get(Article, article.pk).title == "old"  # stale until retired
    paused_redis.pause()

    args = ["invalidate", "testapp.Article", *([article.pk] if by_pk else [])]
    out = io.StringIO()
    with pytest.raises(CommandError) as excinfo:
        call_command("cachefresh", *map(str, args), stdout=out)

    assert excinfo.value.returncode != 0
    what = "1 row(s)" if by_pk else "every row"
    assert (
        f"The cache did not answer, so retiring {what} of testapp.Article on {backend!r} was "
        "not confirmed" in str(excinfo.value)
    )
    assert "Retired" not in out.getvalue()
    assert get_store().outbox  # held in this process: not delivered

    # Once the cache answers, the same command retires the rows and says so.
    paused_redis.resume()
    get_store().breaker.close()
    out, _ = run(*args)
    assert f"Retired {what} of testapp.Article" in out
    assert cached_get(Article, article.pk).title == "raw"


def test_invalidate_into_a_closed_port_fails(backend, closed_port):
    article = Article.objects.create(title="a")
    with pytest.raises(CommandError, match="so retiring 1 row"):
        run("invalidate", "testapp.Article", article.pk)


@pytest.mark.parametrize("flags", [[], ["--json"], ["--reset"]], ids=["table", "json", "reset"])
def test_stats_without_a_cache_is_a_command_error(backend, closed_port, flags):
    with pytest.raises(CommandError, match=r"The cache did not answer \(ConnectionError"):
        run("stats", *flags)


CLI_SETTINGS = textwrap.dedent(
    """
    from tests.settings import *  # noqa: F403

    DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": {db!r}}}}}
    DATABASE_ROUTERS = []
    CACHES = {{"default": {{
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": {url!r},
        "OPTIONS": {{"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2}},
    }}}}
    CACHEFRESH = {{"TIMEOUT": 60}}
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


def test_a_deploy_script_sees_the_failure_in_the_exit_status(tmp_path):
    """The command line, in processes of its own, as a deploy script runs it."""
    with redis_server() as server:
        module = f"outage_settings_{os.getpid()}"
        (tmp_path / f"{module}.py").write_text(
            CLI_SETTINGS.format(db=str(tmp_path / "db.sqlite3"), url=server.url)
        )
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.getcwd(), str(tmp_path)])}
        env["DJANGO_SETTINGS_MODULE"] = module

        def cli(*args):
            command = [sys.executable, "-m", "django", "cachefresh", *args]
            return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)

        subprocess.run([sys.executable, "-c", PLANT_STALE], env=env, check=True, timeout=60)
        assert cli("audit", "testapp.Article").returncode == 3  # a stale row to retire
        server.pause()
        try:
            failed = cli("invalidate", "testapp.Article", "1")
            stats = cli("stats")
        finally:
            server.resume()
        assert failed.returncode == 1, failed.stdout
        assert "retiring 1 row(s) of testapp.Article on 'default' was not" in failed.stderr
        assert "Retired" not in failed.stdout
        assert stats.returncode == 1
        assert "CommandError: The cache did not answer" in stats.stderr
        assert "Traceback" not in stats.stderr

        done = cli("invalidate", "testapp.Article", "1")
        assert done.returncode == 0, done.stderr
        assert "Retired 1 row(s)" in done.stdout
        assert cli("audit", "testapp.Article").returncode == 0
