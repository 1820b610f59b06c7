"""The URL fetcher refuses private targets, pins the checked address and caps size and time."""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from winnow.errors import BadRequestError, ForbiddenURLError, PayloadTooLargeError
from winnow.server.url_fetch import IPAddress, UrlFetchPolicy, fetch_url, refusal_reason

BODY = b"\xff\xd8\xff" + b"x" * 1000


class _Handler(BaseHTTPRequestHandler):
    hosts_seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        _Handler.hosts_seen.append(self.headers.get("Host", ""))
        if self.path == "/img.jpg":
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)
        elif self.path == "/big":
            self.send_response(200)
            self.send_header("Content-Length", "5000")
            self.end_headers()
            self.wfile.write(b"y" * 5000)
        elif self.path == "/big-chunked":
            # No Content-Length: the cap must hold while streaming.
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"z" * 5000)
        elif self.path == "/slow":
            self.send_response(200)
            self.send_header("Content-Length", "10")
            self.end_headers()
            time.sleep(1.5)
            self.wfile.write(b"0123456789")
        elif self.path == "/to-metadata":
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/to-img":
            self.send_response(302)
            self.send_header("Location", "/img.jpg")
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture(scope="module")
def server_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


LOCAL = UrlFetchPolicy(allow_private=True, max_bytes=2000, timeout=5.0)


def test_downloads_from_allowed_private_host(server_port: int) -> None:
    assert fetch_url(f"http://127.0.0.1:{server_port}/img.jpg", LOCAL) == BODY


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/x.jpg", "loopback"),
        ("http://localhost/x.jpg", "loopback"),
        ("http://10.1.2.3/x.jpg", "private"),
        ("http://192.168.0.7/x.jpg", "private"),
        ("http://[::1]/x.jpg", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://169.254.10.10/x.jpg", "link-local"),
        ("http://224.0.0.1/x.jpg", "multicast"),
        ("http://0.0.0.0/x.jpg", "unspecified"),
        ("http://[::ffff:127.0.0.1]/x.jpg", "loopback"),
        ("http://metadata.google.internal/x", "metadata"),
    ],
)
def test_refuses_non_public_targets_by_default(url: str, reason: str) -> None:
    with pytest.raises(ForbiddenURLError) as info:
        fetch_url(url, UrlFetchPolicy())
    assert reason in info.value.message
    assert info.value.status == 400


def test_metadata_address_refused_even_when_private_allowed() -> None:
    with pytest.raises(ForbiddenURLError, match="metadata"):
        fetch_url("http://169.254.169.254/", UrlFetchPolicy(allow_private=True))


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x", "gopher://x/"])
def test_refuses_other_schemes(url: str) -> None:
    with pytest.raises(ForbiddenURLError, match="scheme"):
        fetch_url(url, UrlFetchPolicy())


def test_allow_listed_host_may_be_private(server_port: int) -> None:
    policy = UrlFetchPolicy(allow_hosts=frozenset({"127.0.0.1"}), max_bytes=2000)
    assert fetch_url(f"http://127.0.0.1:{server_port}/img.jpg", policy) == BODY


def test_connects_to_the_checked_address_with_original_host_header(server_port: int) -> None:
    # The resolver is consulted once; the connection goes to that address and the
    # original name travels in the Host header (no second lookup to rebind).
    calls: list[str] = []

    def resolver(host: str, port: int) -> list[IPAddress]:
        calls.append(host)
        return [ipaddress.ip_address("127.0.0.1")]

    policy = UrlFetchPolicy(allow_hosts=frozenset({"images.example"}), max_bytes=2000)
    _Handler.hosts_seen.clear()
    data = fetch_url(f"http://images.example:{server_port}/img.jpg", policy, resolver=resolver)
    assert data == BODY
    assert calls == ["images.example"]
    assert _Handler.hosts_seen == [f"images.example:{server_port}"]


def test_refuses_when_any_resolved_address_is_private() -> None:
    def resolver(host: str, port: int) -> list[IPAddress]:
        return [ipaddress.ip_address("93.184.216.34"), ipaddress.ip_address("10.0.0.5")]

    with pytest.raises(ForbiddenURLError, match=r"10\.0\.0\.5"):
        fetch_url("http://rebind.example/x.jpg", UrlFetchPolicy(), resolver=resolver)


def test_declared_oversize_is_413(server_port: int) -> None:
    with pytest.raises(PayloadTooLargeError) as info:
        fetch_url(f"http://127.0.0.1:{server_port}/big", LOCAL)
    assert info.value.status == 413


def test_streamed_oversize_is_413(server_port: int) -> None:
    with pytest.raises(PayloadTooLargeError):
        fetch_url(f"http://127.0.0.1:{server_port}/big-chunked", LOCAL)


def test_slow_download_times_out(server_port: int) -> None:
    policy = UrlFetchPolicy(allow_private=True, timeout=0.5)
    with pytest.raises(BadRequestError, match="timed out"):
        fetch_url(f"http://127.0.0.1:{server_port}/slow", policy)


def test_http_error_status_is_400(server_port: int) -> None:
    with pytest.raises(BadRequestError, match="HTTP 404"):
        fetch_url(f"http://127.0.0.1:{server_port}/missing", LOCAL)


def test_redirect_is_followed_and_rechecked(server_port: int) -> None:
    assert fetch_url(f"http://127.0.0.1:{server_port}/to-img", LOCAL) == BODY
    with pytest.raises(ForbiddenURLError, match="metadata"):
        fetch_url(f"http://127.0.0.1:{server_port}/to-metadata", LOCAL)


def test_unresolvable_host_is_400() -> None:
    with pytest.raises(BadRequestError, match="cannot be resolved"):
        fetch_url("http://no-such-host.invalid/x.jpg", UrlFetchPolicy())


def test_public_address_has_no_refusal() -> None:
    assert refusal_reason(ipaddress.ip_address("8.8.8.8"), allow_private=False) is None
    assert refusal_reason(ipaddress.ip_address("10.0.0.1"), allow_private=True) is None
