"""Workspaces and API keys. Keys are stored as sha256; the plaintext is returned once."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from winnow.errors import BadRequestError, ConflictError, NotFoundError, UnauthorizedError
from winnow.platform.schema import ApiKey, Workspace

WORKSPACE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
MIN_KEY_LENGTH = 8
# First path segments that belong to winnow's own routes: the reference's ``/{ws}/{project}``
# routes step aside for them, so no workspace may be called like one.
RESERVED_PREFIXES = frozenset(
    {
        "v1",
        "dataset",
        "infer",
        "model",
        "info",
        "healthz",
        "metrics",
        "docs",
        "redoc",
        "openapi.json",
        "static",
        "app",
        "ui",
        "web",
        "api",
        "inference-stats",
        "usage",
        "favicon.ico",
    }
)


def hash_key(api_key: str) -> bytes:
    """The sha256 digest under which a key is stored."""
    return hashlib.sha256(api_key.encode("utf-8")).digest()


def generate_key() -> str:
    """A new random API key (32 url-safe characters)."""
    return secrets.token_urlsafe(24)


def create_workspace(*, session: Session, name: str) -> Workspace:
    """Create a workspace; ConflictError when the name is taken, BadRequestError when malformed."""
    if not WORKSPACE_NAME.match(name):
        raise BadRequestError(
            f"workspace name {name!r} must match ^[A-Za-z0-9][A-Za-z0-9_-]*$ (at most 64 characters)"
        )
    if name in RESERVED_PREFIXES:
        raise BadRequestError(f"workspace name {name!r} is reserved for winnow's own routes")
    if session.scalar(select(Workspace).where(Workspace.name == name)) is not None:
        raise ConflictError(f"workspace {name!r} already exists")
    workspace = Workspace(name=name)
    session.add(workspace)
    session.flush()
    return workspace


def get_workspace(*, session: Session, name: str) -> Workspace:
    """The workspace called ``name``; NotFoundError otherwise."""
    workspace = session.scalar(select(Workspace).where(Workspace.name == name))
    if workspace is None:
        raise NotFoundError(f"workspace {name!r} not found")
    return workspace


def create_api_key(
    *, session: Session, workspace: Workspace, plaintext: str | None = None
) -> tuple[ApiKey, str]:
    """Create a key for ``workspace``; returns the record and the plaintext (shown once).

    ``plaintext`` lets the bootstrap use ``WINNOW_API_KEY``; otherwise a key is generated.
    """
    value = plaintext if plaintext is not None else generate_key()
    if len(value) < MIN_KEY_LENGTH:
        raise BadRequestError(f"an API key must have at least {MIN_KEY_LENGTH} characters")
    digest = hash_key(value)
    if session.scalar(select(ApiKey).where(ApiKey.key_hash == digest)) is not None:
        raise ConflictError("this API key is already in use")
    record = ApiKey(workspace_id=workspace.id, key_hash=digest, prefix=value[:6], revoked=False)
    session.add(record)
    session.flush()
    return record, value


def resolve_key(*, session: Session, api_key: str | None) -> Workspace:
    """The workspace of a valid, unrevoked key; UnauthorizedError otherwise.

    Lookup is by hash (an index seek), then the stored digest is compared
    with ``hmac.compare_digest`` so the comparison takes constant time.
    """
    if not api_key:
        raise UnauthorizedError("an API key is required (api_key query parameter or Bearer token)")
    digest = hash_key(api_key)
    record = session.scalar(select(ApiKey).where(ApiKey.key_hash == digest))
    if record is None or record.revoked or not hmac.compare_digest(record.key_hash, digest):
        raise UnauthorizedError("unknown or revoked API key")
    return record.workspace


def list_api_keys(*, session: Session, workspace: Workspace) -> list[ApiKey]:
    """The workspace's keys, oldest first (prefixes only; plaintexts are never stored)."""
    return list(
        session.scalars(
            select(ApiKey).where(ApiKey.workspace_id == workspace.id).order_by(ApiKey.id)
        )
    )


def revoke_api_key(*, session: Session, workspace: Workspace, key_id: int) -> ApiKey:
    """Revoke one key of the workspace; NotFoundError for another workspace's or unknown id."""
    record = session.get(ApiKey, key_id) if 1 <= key_id < 2**31 else None
    if record is None or record.workspace_id != workspace.id:
        raise NotFoundError(f"API key {key_id} not found")
    record.revoked = True
    session.flush()
    return record


def count_workspaces(*, session: Session) -> int:
    """How many workspaces exist (0 means a fresh database)."""
    return len(list(session.scalars(select(Workspace.id).limit(1))))
