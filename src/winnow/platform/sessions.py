"""Browser sessions: an API key signs in once; a signed, HTTP-only cookie carries the session.

The cookie never holds the key itself: it holds the key's row id and the
issue time, signed with HMAC-SHA256 over those and the key's stored hash, with
a secret kept in ``<data_dir>/web-secret`` (mode 0600, created on first use).
Revoking the key ends every session made with it; a session lasts
``MAX_AGE`` seconds. The cookie is ``HttpOnly``, ``SameSite=Lax`` and
``Secure`` whenever the request came over HTTPS or to a loopback host
(browsers accept Secure cookies there).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path

from fastapi import Request, Response
from sqlalchemy import select

from winnow.platform.db import Database
from winnow.platform.schema import ApiKey, Workspace
from winnow.platform.store.workspaces import hash_key, resolve_key

COOKIE = "winnow_session"
MAX_AGE = 7 * 24 * 3600
LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


def load_secret(data_dir: Path) -> bytes:
    """The signing secret of this data dir, created (32 random bytes, mode 0600) when missing."""
    path = data_dir / "web-secret"
    try:
        return bytes.fromhex(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret.hex() + "\n")
    return secret


class Sessions:
    """Issues and checks session cookies for one database and secret."""

    def __init__(self, db: Database, secret: bytes, max_age: int = MAX_AGE) -> None:
        self.db = db
        self.secret = secret
        self.max_age = max_age

    def _mac(self, payload: str, key_hash: bytes) -> str:
        digest = hmac.new(self.secret, payload.encode() + b"|" + key_hash, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def sign_in(self, api_key: str) -> tuple[str, Workspace]:
        """A cookie value for a valid key and its workspace; UnauthorizedError otherwise."""
        with self.db.read() as session:
            workspace = resolve_key(session=session, api_key=api_key)
            record = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(api_key)))
            assert record is not None  # resolve_key found it
            payload = f"{record.id}.{int(time.time())}"
            return f"{payload}.{self._mac(payload, record.key_hash)}", workspace

    def workspace(self, value: str | None, now: float | None = None) -> Workspace | None:
        """The workspace of a cookie value, or None (missing, forged, expired, revoked)."""
        if not value or value.count(".") != 2:
            return None
        key_id, issued, mac = value.split(".")
        if len(key_id) > 18 or len(issued) > 18:
            return None
        # isascii: str.isdigit() also accepts digits int() refuses ("²").
        if not (key_id + issued).isascii() or not key_id.isdigit() or not issued.isdigit():
            return None
        if (now if now is not None else time.time()) - int(issued) > self.max_age:
            return None
        with self.db.read() as session:
            record = session.get(ApiKey, int(key_id))
            if record is None or record.revoked:
                return None
            expected = self._mac(f"{key_id}.{issued}", record.key_hash)
            if not hmac.compare_digest(expected, mac):
                return None
            return record.workspace


def is_secure(request: Request) -> bool:
    """Whether the Secure cookie attribute will be kept by the browser for this request."""
    return request.url.scheme == "https" or (request.url.hostname or "") in LOOPBACK


def set_cookie(request: Request, response: Response, value: str, max_age: int = MAX_AGE) -> None:
    """Put the session cookie on ``response`` (HttpOnly, SameSite=Lax, Secure when kept)."""
    response.set_cookie(
        COOKIE,
        value,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=is_secure(request),
        path="/",
    )


def clear_cookie(request: Request, response: Response) -> None:
    """Remove the session cookie."""
    response.delete_cookie(
        COOKIE, path="/", httponly=True, samesite="lax", secure=is_secure(request)
    )
