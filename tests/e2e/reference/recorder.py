"""A recording reverse proxy: every call the reference server makes to "its platform".

The reference server's ``API_BASE_URL`` points here; each request is
forwarded unchanged to winnow and recorded with the status winnow gave, so
tests can list exactly which platform calls the reference made and check
that winnow answered every one of them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx

HOP_HEADERS = {"host", "content-length", "connection", "transfer-encoding", "accept-encoding"}


@dataclass(frozen=True, slots=True)
class Call:
    """One forwarded request and winnow's answer."""

    method: str
    path: str
    query: dict[str, list[str]]
    status: int
    body: bytes


class Recorder:
    """The calls seen so far, thread-safe."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self._calls: list[Call] = []
        self._lock = threading.Lock()

    def add(self, call: Call) -> None:
        """Record a call."""
        with self._lock:
            self._calls.append(call)

    def calls(self) -> list[Call]:
        """A snapshot of every call so far, oldest first."""
        with self._lock:
            return list(self._calls)


def _handler(recorder: Recorder, client: httpx.Client) -> type[BaseHTTPRequestHandler]:
    class Forward(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
            try:
                response = client.request(self.command, self.path, content=body, headers=headers)
                status, content = response.status_code, response.content
                content_type = response.headers.get("content-type", "application/json")
            except httpx.HTTPError as exc:
                status, content = 502, f'{{"message": "proxy: {exc}"}}'.encode()
                content_type = "application/json"
            split = urlsplit(self.path)
            recorder.add(Call(self.command, split.path, parse_qs(split.query), status, body))
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        def do_GET(self) -> None:
            self._forward()

        def do_POST(self) -> None:
            self._forward()

        def do_PUT(self) -> None:
            self._forward()

        def do_DELETE(self) -> None:
            self._forward()

        def log_message(self, format: str, *args: object) -> None:
            pass  # the recorder is the log

    return Forward


@contextmanager
def recording_proxy(upstream: str) -> Iterator[tuple[str, Recorder]]:
    """Serve a recording proxy to ``upstream`` on a free loopback port; yield (url, recorder)."""
    recorder = Recorder(upstream)
    with httpx.Client(base_url=upstream, timeout=60) as client:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(recorder, client))
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}", recorder
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=10)
