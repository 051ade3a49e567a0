"""Keys name the database, not the alias: two databases behind one alias never share rows.

The test runner renames the database behind an alias (``test_<name>``) after start-up, and two
deployments can point one alias at different databases on one Redis. The test below does what
the test runner does, on two SQLite files sharing one Redis.
"""

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connections
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from cachefresh import cached_get
from cachefresh.databases import database_segment
from tests.support.servers import require_servers
from tests.support.unseen import unseen_cursor
from tests.testapp.models import Author

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


SWAPPED = "swappable"


@pytest.fixture
def swappable(tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    """The alias ``swappable``, pointed at either of two files as the test runner renames
    NAME."""
    files = (tmp_path / "development.sqlite3", tmp_path / "test_development.sqlite3")
    original = connections[SWAPPED].settings_dict["NAME"]
    try:
        for path, name in zip(files, ("development row", "test row"), strict=True):
            point(path)
            with connections[SWAPPED].schema_editor() as editor:
                editor.create_model(Author)
            Author.objects.using(SWAPPED).create(pk=1, name=name)
        yield SWAPPED, *files
    finally:
        connections[SWAPPED].close()
        connections[SWAPPED].settings_dict["NAME"] = original


def point(path: Path) -> None:
    # NAME first: SQLite's close() keeps an in-memory database open, and it names a file now.
    connections[SWAPPED].settings_dict["NAME"] = str(path)
    connections[SWAPPED].close()


def test_two_databases_behind_one_alias_on_one_redis_never_share_rows(swappable):
    require_servers()
    alias, development, test = swappable
    config = dict(settings.CACHEFRESH, CACHE="redis", KEY_PREFIX=f"t{uuid.uuid4().hex[:12]}")
    with override_settings(CACHEFRESH=config):
        point(development)
        assert cached_get(Author, 1, using=alias).name == "development row"  # fills
        assert cached_get(Author, 1, using=alias).name == "development row"  # hits
        point(test)
        assert cached_get(Author, 1, using=alias).name == "test row"
        point(development)
        assert cached_get(Author, 1, using=alias).name == "development row"


def test_flush_retires_every_cached_table(backend):
    author = Author.objects.create(name="before flush")
    assert cached_get(Author, author.pk).name == "before flush"
    call_command("flush", database=backend, interactive=False, verbosity=0)
    with unseen_cursor(backend) as cursor:  # the same pk again, out of Django's sight
        cursor.execute(
            f"INSERT INTO {Author._meta.db_table} (id, name, age) VALUES (%s, %s, 0)",
            [author.pk, "after flush"],
        )
    assert cached_get(Author, author.pk).name == "after flush"


def test_two_routes_to_one_mariadb_see_each_others_invalidations(mysql_servers):
    """TCP to 127.0.0.1 and the Unix socket by "localhost": the settings differ, the database
    is one. Before the database named itself (host and port from the settings), the socket
    route kept serving "before" after the write through TCP."""
    for alias in ("mysql", "mysqlsocket"):
        connections[alias].ensure_connection()
    assert "socket" in connections["mysqlsocket"].connection.get_host_info().lower()
    assert "tcp" in connections["mysql"].connection.get_host_info().lower()
    assert database_segment("mysql") == database_segment("mysqlsocket")
    author = Author.objects.using("mysql").create(name="before")
    assert cached_get(Author, author.pk, using="mysqlsocket").name == "before"  # fills
    with CaptureQueriesContext(connections["mysqlsocket"]) as queries:
        assert cached_get(Author, author.pk, using="mysqlsocket").name == "before"
    assert len(queries) == 0
    Author.objects.using("mysql").filter(pk=author.pk).update(name="after")
    assert cached_get(Author, author.pk, using="mysqlsocket").name == "after"
    assert cached_get(Author, author.pk, using="mysql").name == "after"
    Author.objects.using("mysqlsocket").filter(pk=author.pk).update(name="again")
    assert cached_get(Author, author.pk, using="mysql").name == "again"


def test_without_its_id_table_a_mariadb_is_named_by_its_settings(mysql_servers):
    """cachefresh not migrated: each route is named by its settings (documented), and once the
    migration has run every connection made after it names the database itself."""
    try:
        call_command("migrate", "cachefresh", "0001", database="mysql", verbosity=0)
        connections["mysqlsocket"].close()
        connections["mysqlsocket"].ensure_connection()
        assert database_segment("mysql") != database_segment("mysqlsocket")
    finally:
        call_command("migrate", "cachefresh", database="mysql", verbosity=0)
    connections["mysqlsocket"].close()
    connections["mysqlsocket"].ensure_connection()
    assert database_segment("mysql") == database_segment("mysqlsocket")
