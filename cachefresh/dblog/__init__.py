"""A transactional invalidation log in the database, for writes Django cannot see.

Triggers on every cached table write ``(table, primary key)`` rows (on PostgreSQL a "whole
table" row for ``TRUNCATE``) into :data:`LOG_TABLE` in the writer's own transaction, so a
rollback takes them away and nothing that commits escapes them. ``manage.py cachefresh listen``
drains the log, retires what it names, then commits: a worker that dies before its commit leaves
the rows for the next one. In-process retirement stays the fast path; the log is the safety net.

What differs between databases (the triggers' SQL, how a worker claims rows and learns of new
ones) is one module each, chosen by :mod:`cachefresh.dblog.dialect`.
"""

LOG_TABLE = "cachefresh_log"
#: The ``pg_notify`` channel PostgreSQL's triggers wake listeners on; the payload is empty.
CHANNEL = "cachefresh"
