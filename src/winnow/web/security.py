"""Browser-facing protections of the web UI, as one ASGI middleware.

For every request under the UI's prefix (``/app``):

- a state-changing request (any method but GET, HEAD, OPTIONS) whose ``Origin``
  header names another site is refused with 403 before any route runs. This
  covers sign-in and sign-out, which carry no session yet: without it an
  attacker's page could sign a victim into the attacker's workspace. Clients
  that send no ``Origin`` (curl, scripts) are not browsers acting for someone
  else and pass;
- every response carries a Content-Security-Policy (scripts and everything
  else only from this origin, no plugins, no framing), ``X-Frame-Options:
  DENY`` for older browsers, ``Referrer-Policy: same-origin`` (batch names and
  image ids in URLs do not leak to other sites) and ``X-Content-Type-Options:
  nosniff``.

Inline ``style`` attributes stay allowed (the templates and SVG charts use
them); inline scripts do not: page code lives in static files, and data for
scripts travels in ``<script type="application/json">`` blocks, which are not
executed.
"""

from __future__ import annotations

import json
from typing import Final

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from winnow.errors import ForbiddenError
from winnow.http.origin import cross_origin

CONTENT_SECURITY_POLICY: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS: Final[tuple[tuple[bytes, bytes], ...]] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"x-content-type-options", b"nosniff"),
)
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})


class WebSecurityMiddleware:
    """Refuse cross-origin writes and add the security headers under ``prefix``."""

    def __init__(self, app: ASGIApp, prefix: str = "/app") -> None:
        self.app = app
        self.prefix = prefix.rstrip("/")

    def _covers(self, path: str) -> bool:
        return path == self.prefix or path.startswith(self.prefix + "/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass through anything outside the prefix untouched."""
        if scope["type"] != "http" or not self._covers(scope["path"]):
            await self.app(scope, receive, send)
            return
        if scope["method"] not in SAFE_METHODS and cross_origin(
            Headers(scope=scope), scope.get("scheme", "http")
        ):
            await _refuse(send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _refuse(send: Send) -> None:
    error = ForbiddenError("cross-site request refused: the Origin header is not this site")
    body = json.dumps(error.to_json()).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *SECURITY_HEADERS,
    ]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
