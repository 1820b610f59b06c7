"""uvicorn HTTP protocols that drop clients too slow to send their request.

uvicorn times out idle keep-alive connections, but not a client that opens a
connection and then sends its request line and headers (or its body) a byte
at a time: such a client holds a connection, and the memory of its buffered
request, for as long as it likes. These protocols add two read deadlines:

- **headers**: from the moment the connection opens (or the first byte of the
  next request on a kept-alive connection) until the end of the headers, at
  most ``header_timeout`` seconds; past it the client gets ``408 Request
  Timeout`` and the connection is closed;
- **body**: from the end of the headers until the end of the body, at most
  ``body_timeout`` seconds; past it the connection is closed (the route sees a
  disconnect). Time during which the server itself stopped reading (uvicorn's
  flow control pauses reading while the app has not consumed what arrived) is
  not the client's fault: a deadline that expires then is extended.

``protocol_class(settings_like)`` builds the class to pass as uvicorn's
``http=`` argument, for httptools (uvicorn's default when installed) or h11.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from uvicorn.protocols.http.h11_impl import H11Protocol

try:  # httptools comes with uvicorn[standard]; h11 is always there.
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - depends on the installed extras
    HttpToolsProtocol = None  # type: ignore[assignment,misc]

REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"connection: close\r\ncontent-length: 42\r\n\r\n"
    b"request not received in time; send faster\n"
)


class Deadlines(Protocol):
    """The two settings the protocols read (``Settings`` has them)."""

    @property
    def header_timeout(self) -> float:
        """Seconds allowed for a request's line and headers."""
        ...

    @property
    def body_timeout(self) -> float:
        """Seconds allowed for a request's body after its headers."""
        ...


class _ReadDeadline(asyncio.Protocol):
    """One timer per connection, armed while the server waits for the client's bytes.

    Put first among the bases of a uvicorn protocol class: its connection
    hooks wrap the protocol's own (the header deadline starts on connect and
    is dropped with the connection).
    """

    header_timeout: float = 10.0
    body_timeout: float = 60.0
    _deadline: asyncio.TimerHandle | None = None
    _phase: str = "idle"  # "headers" | "body" | "idle"

    # Provided by uvicorn's protocol classes.
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    flow: Any

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the header deadline as soon as the client connects."""
        super().connection_made(transport)
        self._arm("headers")

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the deadline with the connection."""
        self._disarm()
        super().connection_lost(exc)

    def _arm(self, phase: str) -> None:
        self._disarm()
        self._phase = phase
        delay = self.header_timeout if phase == "headers" else self.body_timeout
        self._deadline = self.loop.call_later(delay, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._phase = "idle"

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self._phase == "body" and self.flow is not None and self.flow.read_paused:
            # The app has not read what arrived: the server is slow, not the client.
            self._deadline = self.loop.call_later(self.body_timeout, self._expired)
            return
        if self._phase == "headers":
            self.transport.write(REQUEST_TIMEOUT)
        self.transport.close()


if HttpToolsProtocol is not None:

    class DeadlineHttpToolsProtocol(_ReadDeadline, HttpToolsProtocol):
        """httptools with read deadlines for headers and body."""

        def on_message_begin(self) -> None:
            """A new request on this connection: its headers are due."""
            super().on_message_begin()
            if self._phase != "headers":
                self._arm("headers")

        def on_headers_complete(self) -> None:
            """Headers are in: the body is due."""
            super().on_headers_complete()
            self._arm("body")

        def on_message_complete(self) -> None:
            """The whole request is in: nothing more is due from the client."""
            super().on_message_complete()
            self._disarm()


class DeadlineH11Protocol(_ReadDeadline, H11Protocol):
    """h11 with read deadlines for headers and body."""

    def data_received(self, data: bytes) -> None:
        """Feed h11, then follow where the client is in its request."""
        super().data_received(data)
        self._follow()

    def on_response_complete(self) -> None:
        """A kept-alive connection waits for the next request (uvicorn's idle timer runs)."""
        super().on_response_complete()
        self._follow()

    def _follow(self) -> None:
        import h11

        if self.transport.is_closing():
            self._disarm()
            return
        state = self.conn.their_state
        if state is h11.IDLE:
            # Between requests uvicorn's keep-alive timeout applies; mid-headers ours does.
            if self.conn.trailing_data[0] and self._phase != "headers":
                self._arm("headers")
        elif state is h11.SEND_BODY:
            if self._phase != "body":
                self._arm("body")
        elif self._phase != "idle":
            self._disarm()


def protocol_class(deadlines: Deadlines, implementation: str = "auto") -> type[Any]:
    """The uvicorn ``http=`` protocol class with these deadlines (httptools when available)."""
    base: type[Any]
    if implementation in {"auto", "httptools"} and HttpToolsProtocol is not None:
        base = DeadlineHttpToolsProtocol
    else:
        base = DeadlineH11Protocol
    return type(
        base.__name__,
        (base,),
        {
            "header_timeout": float(deadlines.header_timeout),
            "body_timeout": float(deadlines.body_timeout),
        },
    )
