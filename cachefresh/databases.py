"""Which database an alias points at, for the keys.

One alias can name different databases (the test database and the development one, staging
and production on one Redis), and one database can be reached by different routes (a proxy,
pgbouncer, another host name): keys must follow the database, not the route. So the identity
is asked of the server where it can say: PostgreSQL's cluster ``system_identifier`` with the
database name and schema search path; SQLite's file; on MySQL and MariaDB the random id
cachefresh's migration stores in :data:`ID_TABLE`, with the server's host name, port and the
database name. Other backends, and a MySQL database whose id table is absent (cachefresh not
migrated yet), are named by their settings (engine, name, host, port).

The question costs one query per process and database, on the raw driver connection (not
logged, not counted by ``assertNumQueries``), asked when Django opens a connection, so it never
runs inside a transaction. MySQL and MariaDB are asked at every new connection, in the same
one query, which isolation level the session runs (:func:`session_reads_committed`): Django
sets READ COMMITTED unless ``OPTIONS`` says otherwise, but an ``init_command`` or a ``None``
level (the server's default) can leave another.
"""

from __future__ import annotations

import os
import weakref
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from cachefresh import changes, keys

_PG_IDENTITY = (
    "SELECT system_identifier::text, current_database(), current_schemas(false)::text "
    "FROM pg_control_system()"
)

#: The table cachefresh's migration 0002 creates, holding one random id that names a
#: MySQL/MariaDB database whichever route (host, port, socket, proxy) reaches it.
ID_TABLE = "cachefresh_database"
_MYSQL_ID = f"(SELECT IF(COUNT(*) = 1, MIN(id), NULL) FROM {ID_TABLE})"

#: (alias, identity the settings declare) -> key segment
_segments: dict[tuple[str, tuple[str, ...]], str] = {}


#: alias -> (what its settings said when last compared, the segment then, the change count
#: then): every cached read asks, and until something changes (:mod:`cachefresh.changes`) the
#: answer stands without reading the settings again.
_recent: dict[str, tuple[tuple[Any, ...], str, int]] = {}


def database_segment(alias: str) -> str:
    """The key segment naming the database ``alias`` points at now, asking the server (once per
    process and database) if it was not learned yet.

    The test runner renames the database behind an alias (``test_<name>``) after start-up, in
    the live settings dict, after closing the connection: a close whose settings differ from
    the ones the segment was learned under (:func:`on_close`), and a connection made to another
    database (:func:`on_connection_created`), move :mod:`cachefresh.changes`, and the settings
    are compared again at the next read.
    """
    recent = _recent.get(alias)
    if recent is not None and recent[2] == changes.count:
        return recent[1]
    segment = learned_segment(alias)
    if segment is None:
        settings_dict = connections.settings[alias]
        segment = _segment_of(alias, keys.database_identity(settings_dict))
        _remember(alias, _said(settings_dict), segment)
    return segment


def learned_segment(alias: str) -> str | None:
    """:func:`database_segment` if this process learned it already, else ``None``: never a
    connection, so an event loop may ask (Django forbids connecting there)."""
    recent = _recent.get(alias)
    count = changes.count
    if recent is not None and recent[2] == count:
        return recent[1]
    settings_dict = connections.settings[alias]
    said = _said(settings_dict)
    if recent is not None and recent[0] == said:
        _recent[alias] = (recent[0], recent[1], count)
        return recent[1]
    segment = _segments.get((alias, keys.database_identity(settings_dict)))
    if segment is not None:
        _remember(alias, said, segment)
    return segment


def _said(settings_dict: dict[str, Any]) -> tuple[Any, ...]:
    return (
        settings_dict.get("ENGINE"),
        settings_dict.get("NAME"),
        settings_dict.get("HOST"),
        settings_dict.get("PORT"),
        settings_dict.get("OPTIONS"),
    )


def _remember(alias: str, said: tuple[Any, ...], segment: str) -> None:
    # A copy of OPTIONS, so that a change made in place to the live dict is seen.
    options = said[4]
    said = (*said[:4], dict(options) if isinstance(options, dict) else options)
    _recent[alias] = (said, segment, changes.count)


def on_close(connection: BaseDatabaseWrapper) -> None:
    """A connection closed: if its settings no longer say what the segment was learned under
    (the test runner closes, then renames), the next read must compare them again."""
    recent = _recent.get(connection.alias)
    if recent is not None and recent[0] != _said(connection.settings_dict):
        _recent.pop(connection.alias, None)
        changes.bump()


def _segment_of(alias: str, declared: tuple[str, ...]) -> str:
    segment = _segments.get((alias, declared))
    if segment is None:
        connection = connections[alias]
        connection.ensure_connection()  # learns it, through on_connection_created()
        segment = _segments.get((alias, declared))
        if segment is None:  # connected before cachefresh was ready
            segment = _learn(connection, declared)
    return segment


#: connection -> whether its session ran READ COMMITTED when it connected (MySQL/MariaDB)
_read_committed: weakref.WeakKeyDictionary[BaseDatabaseWrapper, bool] = weakref.WeakKeyDictionary()


def session_reads_committed(connection: BaseDatabaseWrapper) -> bool:
    """Whether the MySQL/MariaDB session of ``connection`` runs READ COMMITTED, as the server
    said when it connected. Never asks now (the caller may be inside a transaction); a
    connection made before cachefresh was ready counts as not READ COMMITTED."""
    return _read_committed.get(connection, False)


def on_connection_created(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    declared = keys.database_identity(connection.settings_dict)
    # MySQL is asked at every connection: its session's isolation level is the connection's
    # own, and its id table may have come (migrate) or gone since the last one.
    if connection.vendor == "mysql" or (connection.alias, declared) not in _segments:
        _learn(connection, declared)


def relearn(connection: BaseDatabaseWrapper) -> None:
    """Ask again which database ``connection`` is connected to: cachefresh's migration calls
    it once it has created or dropped :data:`ID_TABLE`."""
    _learn(connection, keys.database_identity(connection.settings_dict))


def _learn(connection: BaseDatabaseWrapper, declared: tuple[str, ...]) -> str:
    key = (connection.alias, declared)
    segment = keys.database_segment(_identity(connection, declared) or declared)
    if _segments.get(key) != segment:
        _segments[key] = segment
        _recent.pop(connection.alias, None)  # it may hold the segment learned before
        changes.bump()  # and reads resolved what they read under it
    return segment


def _ask_mysql(connection: BaseDatabaseWrapper) -> tuple[str, ...] | None:
    """Learn the session's isolation level; return the id cachefresh's migration stored, with
    the server's host name and port and the database's name (a dump restored elsewhere carries
    the id along), or ``None`` while the id table is absent or holds other than one row. One
    query."""
    raw = connection.connection
    # MariaDB (10.11 at least) only has tx_isolation; MySQL 8 removed it for
    # transaction_isolation.
    mariadb = "mariadb" in str(raw.get_server_info()).lower()
    session = "@@session.{}, @@hostname, @@port, DATABASE()".format(
        "tx_isolation" if mariadb else "transaction_isolation"
    )
    cursor = raw.cursor()
    try:
        try:
            cursor.execute(f"SELECT {session}, {_MYSQL_ID}")
        except connection.Database.DatabaseError:  # type: ignore[attr-defined]  # no id table
            cursor.execute(f"SELECT {session}, NULL")
        level, host, port, name, ident = (_text(value) for value in cursor.fetchone())
    finally:
        cursor.close()
    _read_committed[connection] = level.upper().replace(" ", "-") == "READ-COMMITTED"
    return None if ident is None else ("mysql", ident, str(host), str(port), str(name))


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def _identity(connection: BaseDatabaseWrapper, declared: tuple[str, ...]) -> tuple[str, ...] | None:
    if connection.vendor == "postgresql":
        with connection.connection.cursor() as cursor:
            cursor.execute(_PG_IDENTITY)
            return ("postgresql", *(str(value) for value in cursor.fetchone()))
    if connection.vendor == "sqlite":
        name = str(connection.settings_dict["NAME"])
        if connection.is_in_memory_db():  # type: ignore[attr-defined]
            return ("sqlite", name, str(os.getpid()))  # private to this process
        return ("sqlite", os.path.realpath(name))
    if connection.vendor == "mysql":
        return _ask_mysql(connection)
    return declared
