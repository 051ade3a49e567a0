"""A loopback TCP proxy that adds a fixed one-way delay to every byte it forwards.

Used to make a local PostgreSQL or Redis behave like one across a network, so that races
whose window is a network round trip (the stale-set race) become wide enough to hit, and so
that benchmarks can show where each strategy wins as latency grows.

Each direction of each connection has a reader thread and a sender thread joined by a FIFO
queue: the reader stamps every chunk with the time it may leave, the sender waits for that
time and forwards it. Chunks are never reordered, and a burst of pipelined requests is
delayed once, not once per request (the delay is latency, not bandwidth). A round trip
through the proxy therefore takes at least twice ``delay_ms`` longer than a direct one.

``jitter_ms`` adds a random extra delay, up to that much, to each chunk (order is still kept),
as real networks do: it is what makes two processes disagree about when things happened.
"""

from __future__ import annotations

import contextlib
import functools
import queue
import random
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType

CHUNK = 65536
# How often blocked threads look at the stop flag; closing sockets wakes most of them sooner.
POLL = 0.2


class LatencyProxy:
    """Forward ``127.0.0.1:<port>`` to ``target_host:target_port``, ``delay_ms`` each way
    (plus up to ``jitter_ms`` more, at random, per chunk).

    Use as a context manager, or call ``start()`` and ``close()``.
    """

    def __init__(
        self,
        target_host: str,
        target_port: int,
        delay_ms: float,
        *,
        jitter_ms: float = 0.0,
        seed: int | None = None,
    ) -> None:
        if delay_ms < 0 or jitter_ms < 0:
            raise ValueError(f"delays must be >= 0, not {delay_ms!r} and {jitter_ms!r}")
        self.target = (target_host, target_port)
        self.delay = delay_ms / 1000.0
        self.jitter = jitter_ms / 1000.0
        self._random = random.Random(seed)
        self.host = "127.0.0.1"
        self.port = 0
        self._listener: socket.socket | None = None
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()

    def start(self) -> LatencyProxy:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, 0))
        listener.listen(256)
        listener.settimeout(POLL)
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._spawn(self._accept_loop, "accept")
        return self

    def close(self) -> None:
        """Stop accepting, cut every live connection, and wait for the threads to end."""
        self._stopping.set()
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            live = list(self._sockets)
        for sock in live:
            _shutdown(sock)
        for thread in list(self._threads):
            thread.join(timeout=2.0)

    def __enter__(self) -> LatencyProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _spawn(self, target: Callable[..., None], name: str, *args: object) -> None:
        thread = threading.Thread(
            target=target,
            args=args,
            name=f"latency-proxy-{self.port}-{name}",
            daemon=True,
        )
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # the listener was closed
            try:
                upstream = socket.create_connection(self.target, timeout=5.0)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            client.settimeout(None)
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._sockets.update((client, upstream))
            done = _Countdown(2, functools.partial(self._forget, client, upstream))
            self._pipe(client, upstream, done, "up")
            self._pipe(upstream, client, done, "down")

    def _pipe(
        self, source: socket.socket, sink: socket.socket, done: _Countdown, name: str
    ) -> None:
        chunks: queue.Queue[tuple[float, bytes]] = queue.Queue()
        self._spawn(self._read, f"{name}-read", source, chunks)
        self._spawn(self._send, f"{name}-send", sink, chunks, done)

    def _read(self, source: socket.socket, chunks: queue.Queue[tuple[float, bytes]]) -> None:
        while True:
            try:
                data = source.recv(CHUNK)
            except OSError:
                data = b""
            extra = self._random.uniform(0.0, self.jitter) if self.jitter else 0.0
            chunks.put((time.monotonic() + self.delay + extra, data))
            if not data:
                return

    def _send(
        self, sink: socket.socket, chunks: queue.Queue[tuple[float, bytes]], done: _Countdown
    ) -> None:
        try:
            while True:
                due, data = chunks.get()
                if not data:
                    # The source closed: pass the end of stream on, after what came before it.
                    sink.shutdown(socket.SHUT_WR)
                    return
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                sink.sendall(data)
        except OSError:
            _shutdown(sink)
        finally:
            done.tick()

    def _forget(self, *socks: socket.socket) -> None:
        with self._lock:
            self._sockets.difference_update(socks)
        for sock in socks:
            _shutdown(sock)
            sock.close()


class _Countdown:
    """Runs ``action`` once both directions of a connection have finished."""

    def __init__(self, count: int, action: Callable[[], None]) -> None:
        self.count = count
        self.action = action
        self.lock = threading.Lock()

    def tick(self) -> None:
        with self.lock:
            self.count -= 1
            last = self.count == 0
        if last:
            self.action()


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
