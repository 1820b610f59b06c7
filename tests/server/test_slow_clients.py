"""A client that does not send its headers or body in time is dropped (real sockets, uvicorn)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
import uvicorn
from fastapi import FastAPI, Request

from tests.live_server import free_port
from winnow.http.protocols import protocol_class

IMPLEMENTATIONS = ["httptools", "h11"]


@dataclass
class Deadlines:
    header_timeout: float = 0.5
    body_timeout: float = 0.5


def _app() -> FastAPI:
    app = FastAPI()

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    @app.post("/late")
    async def late(request: Request) -> dict[str, int]:
        # The app reads its body only after longer than the body deadline: the server paused
        # reading meanwhile, which is not the client's fault.
        await asyncio.sleep(1.5)
        return {"bytes": len(await request.body())}

    return app


@contextmanager
def _server(implementation: str) -> Iterator[int]:
    port = free_port()
    config = uvicorn.Config(
        _app(),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        ws="none",
        http=protocol_class(Deadlines(), implementation),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)


def _read_until_closed(sock: socket.socket, limit: float = 5.0) -> tuple[bytes, float]:
    """Everything the server sends until it closes, and how long that took."""
    start = time.monotonic()
    sock.settimeout(limit)
    received = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            pytest.fail(f"the server kept the connection open for over {limit} s")
        if not chunk:
            return received, time.monotonic() - start
        received += chunk


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_silent_client_is_dropped_with_408(implementation: str) -> None:
    with _server(implementation) as port, socket.create_connection(("127.0.0.1", port)) as sock:
        received, took = _read_until_closed(sock)
    assert received.startswith(b"HTTP/1.1 408")
    assert took < 3


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_half_sent_headers_are_dropped_with_408(implementation: str) -> None:
    with _server(implementation) as port, socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-")
        received, took = _read_until_closed(sock)
    assert received.startswith(b"HTTP/1.1 408")
    assert took < 3


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_half_sent_body_is_dropped(implementation: str) -> None:
    with _server(implementation) as port, socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + b"a" * 10)
        received, took = _read_until_closed(sock)
    assert b"200 OK" not in received
    assert took < 3


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_prompt_clients_are_served_on_kept_alive_connections(implementation: str) -> None:
    request = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
    with _server(implementation) as port, socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(5)
        for _ in range(3):
            sock.sendall(request)
            response = sock.recv(65536)
            assert response.startswith(b"HTTP/1.1 200")
            assert response.endswith(b'{"bytes":5}')
            # Idle between requests for longer than the header deadline: uvicorn's keep-alive
            # timeout (5 s) governs that gap, not the header deadline.
            time.sleep(0.8)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_a_slow_app_does_not_count_against_the_client(implementation: str) -> None:
    body = b"b" * (1024 * 1024)
    head = f"POST /late HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    with _server(implementation) as port, socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(10)
        sock.sendall(head + body)
        response = b""
        while not response.endswith(b"}"):
            chunk = sock.recv(65536)
            assert chunk, f"closed early: {response!r}"
            response += chunk
    assert response.startswith(b"HTTP/1.1 200")
    assert response.endswith(f'{{"bytes":{len(body)}}}'.encode())
