"""The one parser of a caller's API key: ``Authorization: Bearer <key>`` or an ``api_key`` value."""

from __future__ import annotations

from typing import Any


def api_key_from(authorization: str | None, given: Any = None) -> str | None:
    """The key in force: a Bearer token wins over ``given`` (query or body ``api_key``).

    Both are stripped; a blank or non-string ``given`` counts as no key.
    Callers decide what a missing key means (401, or an anonymous call).
    """
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    if isinstance(given, str) and given.strip():
        return given.strip()
    return None
