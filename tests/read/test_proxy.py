"""The latency proxy forwards bytes intact and in order, both ways, and adds its delay."""

import os
import socket
import threading
import time
import uuid

import pytest
import redis

from benchmarks.env.proxy import LatencyProxy
from tests.settings import REDIS_URL
from tests.support.servers import require_servers

DELAY_MS = 5.0


def _echo_server() -> tuple[socket.socket, threading.Thread]:
    """A plain echo server on a free loopback port, one thread per connection."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(4096):
                conn.sendall(data)

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    return listener, thread


def _proxy_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("latency-proxy-")]


def test_bytes_keep_their_order_over_many_connections_and_close_cleanly():
    listener, _ = _echo_server()
    payloads = [os.urandom(200_000) for _ in range(20)]
    echoed: dict[int, bytes] = {}

    def talk(index: int, port: int) -> None:
        with socket.create_connection(("127.0.0.1", port)) as conn:
            payload = payloads[index]
            # Many small writes: the proxy sees many chunks and must keep them in order.
            sender = threading.Thread(
                target=lambda: [
                    conn.sendall(payload[i : i + 1000]) for i in range(0, len(payload), 1000)
                ]
            )
            sender.start()
            received = bytearray()
            while len(received) < len(payload):
                received += conn.recv(65536)
            sender.join()
            echoed[index] = bytes(received)

    # Jitter gives each chunk its own delay; the order must hold all the same.
    with LatencyProxy("127.0.0.1", listener.getsockname()[1], 1.0, jitter_ms=2.0) as proxy:
        talkers = [threading.Thread(target=talk, args=(i, proxy.port)) for i in range(20)]
        for thread in talkers:
            thread.start()
        for thread in talkers:
            thread.join(timeout=60)
    listener.close()
    assert echoed == dict(enumerate(payloads))
    assert _proxy_threads() == []
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", proxy.port), timeout=1).close()


def test_end_of_stream_is_passed_on_after_the_data():
    listener, _ = _echo_server()
    with (
        LatencyProxy("127.0.0.1", listener.getsockname()[1], 2.0) as proxy,
        socket.create_connection(("127.0.0.1", proxy.port)) as conn,
    ):
        conn.sendall(b"last words")
        conn.shutdown(socket.SHUT_WR)
        received = b""
        while data := conn.recv(1024):
            received += data
    listener.close()
    assert received == b"last words"


def _redis_target() -> tuple[str, int, int]:
    kwargs = redis.Redis.from_url(REDIS_URL).connection_pool.connection_kwargs
    return kwargs["host"], kwargs["port"], kwargs.get("db", 0)


def _redis_through(port: int) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=port, db=_redis_target()[2])


def test_real_redis_commands_pass_through_intact():
    require_servers()
    key = f"cachefresh-test-proxy-{uuid.uuid4().hex}"
    value = os.urandom(1_000_000)  # every byte value, larger than any socket buffer
    with LatencyProxy(*_redis_target()[:2], 1.0) as proxy:
        client = _redis_through(proxy.port)
        try:
            assert client.ping() is True
            assert client.set(key, value, ex=60) is True
            assert client.get(key) == value
            pipe = client.pipeline(transaction=False)
            for i in range(100):
                pipe.set(f"{key}:{i}", str(i), ex=60)
                pipe.get(f"{key}:{i}")
            replies = pipe.execute()
            assert replies[1::2] == [str(i).encode() for i in range(100)]
        finally:
            client.delete(key, *(f"{key}:{i}" for i in range(100)))
            client.close()


def test_the_delay_is_added_each_way():
    require_servers()
    direct = redis.Redis.from_url(REDIS_URL)
    with LatencyProxy(*_redis_target()[:2], DELAY_MS) as proxy:
        proxied = _redis_through(proxy.port)
        proxied.ping()  # connect outside the measurement

        def fastest_round_trip(client: redis.Redis) -> float:
            best = float("inf")
            for _ in range(5):
                start = time.perf_counter()
                client.ping()
                best = min(best, time.perf_counter() - start)
            return best

        with_proxy = fastest_round_trip(proxied)
        proxied.close()
    without = fastest_round_trip(direct)
    direct.close()
    # A lower bound only: the proxy holds each chunk for at least the delay, each way.
    assert with_proxy >= 2 * DELAY_MS / 1000, (with_proxy, without)
