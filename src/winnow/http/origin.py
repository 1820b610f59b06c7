"""The one cross-origin test of state-changing browser requests (CSRF guard)."""

from __future__ import annotations

from starlette.datastructures import Headers


def cross_origin(headers: Headers, scheme: str) -> bool:
    """True when the request's ``Origin`` names a site other than the one it was sent to.

    A missing ``Origin`` is not cross-origin (non-browser clients send none);
    ``Origin: null`` (sandboxed frames, some redirects) is, since nothing
    vouches for it. The scheme may differ (a TLS-terminating proxy in front).
    """
    origin = headers.get("origin")
    if origin is None:
        return False
    if origin == "null":
        return True
    host = headers.get("host", "")
    other = "https" if scheme == "http" else "http"
    return origin not in {f"{scheme}://{host}", f"{other}://{host}"}
