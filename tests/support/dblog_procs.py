"""Processes for the invalidation-log tests: listeners, raw-SQL writers, a cuttable TCP proxy.

Every process reaches the per-run test database (``connection.settings_dict``), never the
shared ``test`` database, and the test's own cache settings and key prefix.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from django.conf import settings
from django.core.management import call_command
from django.db import connections

ROOT = Path(__file__).resolve().parents[2]

#: Django in a child process: the per-run test database, the test's own cache settings.
DJANGO_CHILD = """
import json, os, sys
import django
django.setup()
from django.conf import settings
from django.test import override_settings
from tests.support.routers import ACTIVE
alias = os.environ.get("CF_ALIAS", "pg")
db = settings.DATABASES[alias]
# The per-run test database, or the SQLite file a test made.
db["NAME"] = os.environ.get("CF_SQLITE_FILE") or db["TEST"]["NAME"]
if os.environ.get("CF_PG_PORT"):
    db["PORT"] = int(os.environ["CF_PG_PORT"])
override_settings(**json.loads(os.environ["CF_SETTINGS"])).enable()
ACTIVE["alias"] = alias
"""

LISTENER = (
    DJANGO_CHILD
    + """
from django.core.management import call_command
call_command("cachefresh", "listen", "--database", alias, "-v", "2", *sys.argv[1:])
"""
)

COMMITTED = re.compile(r"committed log rows \[([0-9, ]*)\]")


def conninfo(alias: str = "pg") -> str:
    """The test database, as a plain libpq connection string."""
    s = connections[alias].settings_dict
    return f"host={s['HOST']} port={s['PORT']} dbname={s['NAME']} user={s['USER']}"


def child_env(
    cachefresh: dict[str, Any], caches: dict[str, Any] | None = None, alias: str = "pg"
) -> dict[str, str]:
    overrides: dict[str, Any] = {"CACHEFRESH": cachefresh}
    if caches is not None:
        overrides["CACHES"] = caches
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="tests.settings", CF_ALIAS=alias)
    if connections[alias].vendor == "sqlite":
        env["CF_SQLITE_FILE"] = str(connections[alias].settings_dict["NAME"])
    env["CF_SETTINGS"] = json.dumps(overrides)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


def run_raw_sql(*statements: str) -> None:
    """Run statements in another process, on a plain psycopg connection, in autocommit."""
    script = "import psycopg, sys\nc = psycopg.connect(sys.argv[1], autocommit=True)\n"
    script += "for s in sys.argv[2:]:\n    c.execute(s)\n"
    subprocess.run([sys.executable, "-c", script, conninfo(), *statements], check=True)


class ListenerProcess:
    """``manage.py cachefresh listen`` in a process of its own, its log kept in a file."""

    def __init__(self, cachefresh: dict[str, Any], caches: dict[str, Any] | None = None,
                 pg_port: int | None = None, *args: str, alias: str = "pg") -> None:  # fmt: skip
        self.env = child_env(cachefresh, caches, alias)
        if pg_port is not None:
            self.env["CF_PG_PORT"] = str(pg_port)
        self.args = args
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 -- closed by close()
            prefix="cf-listener-", suffix=".log", delete=False
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, wait: bool = True) -> ListenerProcess:
        offset = len(self.output())
        self.process = subprocess.Popen(
            [sys.executable, "-c", LISTENER, *self.args],
            env=self.env, cwd=ROOT, stdout=self.log, stderr=self.log,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while wait and "connected, " not in self.output()[offset:]:
            assert self.process.poll() is None, self.output()
            assert time.monotonic() < deadline, "listener did not start:\n" + self.output()
            time.sleep(0.05)
        return self

    def output(self) -> str:
        return Path(self.log.name).read_text()

    def committed_ids(self) -> list[int]:
        return [int(i) for m in COMMITTED.finditer(self.output()) for i in m[1].split(",") if i]

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> int:
        """SIGTERM, and the exit status once it stopped."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.log.close()
        os.unlink(self.log.name)


@contextlib.contextmanager
def listener(cachefresh: dict[str, Any], **kwargs: Any) -> Iterator[ListenerProcess]:
    process = ListenerProcess(cachefresh, **kwargs).start()
    try:
        yield process
    finally:
        process.close()


def django_child(
    body: str,
    cachefresh: dict[str, Any],
    caches: dict[str, Any] | None = None,
    *args: str,
    alias: str = "pg",
) -> subprocess.Popen[bytes]:
    """Run ``body`` in a Django child process (see :data:`DJANGO_CHILD`)."""
    return subprocess.Popen(
        [sys.executable, "-c", DJANGO_CHILD + body, *args],
        env=child_env(cachefresh, caches, alias),
        cwd=ROOT,
    )


def _call(*args: str) -> None:
    call_command("cachefresh", *args, stdout=io.StringIO(), stderr=io.StringIO())


@pytest.fixture
def logged(servers: str, settings: Any) -> Iterator[str]:
    """Triggers on every cached table of the test database; all of it removed afterwards."""
    _call("triggers", "install", "--database", "pg")
    clear_log()
    yield "pg"
    _call("triggers", "drop", "--database", "pg")
    clear_log()
    delete_cache_keys(settings.CACHEFRESH["KEY_PREFIX"])


def clear_log(alias: str = "pg") -> None:
    with connections[alias].cursor() as cursor:
        cursor.execute("DELETE FROM cachefresh_log")


def delete_cache_keys(key_prefix: str, url: str | None = None) -> None:
    """Remove every key a test wrote under its own ``KEY_PREFIX`` (on the shared Redis too)."""
    client = redis.Redis.from_url(url or settings.CACHES["redis"]["LOCATION"])
    with contextlib.closing(client):
        doomed = list(client.scan_iter(match=f"*{key_prefix}:*", count=1000))
        if doomed:
            client.delete(*doomed)


def log_rows(alias: str = "pg") -> list[tuple[str, str | None]]:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT table_name, row_pk FROM cachefresh_log ORDER BY id")
        return list(cursor.fetchall())


def raw_connection() -> psycopg.Connection[Any]:
    return psycopg.connect(conninfo(), autocommit=True)


class CuttableProxy:
    """A loopback TCP proxy to the shared PostgreSQL whose connections can all be cut at once:
    to a listener behind it, that is a database restart. The server itself is never touched."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.server.getsockname()[1]
        self.refusing = threading.Event()
        self.lock = threading.Lock()
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if self.refusing.is_set():
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for s in (source, sink):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """Drop every connection and refuse new ones until :meth:`restore`."""
        self.refusing.set()
        with self.lock:
            for s in self.sockets:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            self.sockets = []

    def restore(self) -> None:
        self.refusing.clear()

    def close(self) -> None:
        self.cut()
        self.server.close()


#: How long a retirement may take through a running listener before a test calls it lost.
DEADLINE = 10.0


def eventually(check: Any, deadline: float = DEADLINE) -> bool:
    """Poll ``check`` until it holds; its last answer (False if it never held)."""
    end = time.monotonic() + deadline
    while not (ok := check()) and time.monotonic() < end:
        time.sleep(0.02)
    return ok


def title_is(pk: int, title: str) -> Any:
    from cachefresh import cached_get
    from tests.testapp.models import Article

    return lambda: cached_get(Article, pk).title == title


def gone(model: Any, pk: Any) -> Any:
    from cachefresh import cached_get

    def check() -> bool:
        try:
            cached_get(model, pk)
        except model.DoesNotExist:
            return True
        return False

    return check
