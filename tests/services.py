"""Reaching the real services tests need (Redis, PostgreSQL).

On a laptop without the service the test is skipped with the reason; under
CI=true an unreachable service fails the test instead, so CI can never go
green by skipping.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlparse

import pytest
from sqlalchemy import create_engine, text

REDIS_URL = os.environ.get("WINNOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
DATABASE_URL = os.environ.get(
    "WINNOW_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def in_ci() -> bool:
    """True when running under CI (CI=true)."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def reachable(url: str) -> bool:
    """Whether a TCP connection to the URL's host and port succeeds."""
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 0), 1.0):
            return True
    except OSError:
        return False


def require(url: str, what: str) -> str:
    """Return ``url`` if reachable; else skip (laptop) or fail (CI)."""
    if reachable(url):
        return url
    message = f"{what} is not reachable at {url}"
    if in_ci():
        pytest.fail(f"{message} (CI=true: services are required, not optional)")
    pytest.skip(f"{message}; start it to run this test")


@contextmanager
def fresh_schema(base: str) -> Iterator[str]:
    """A URL on PostgreSQL ``base`` whose search_path is a new, empty schema, dropped on exit."""
    schema = f"winnow_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        admin = create_engine(base)
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
