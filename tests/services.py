"""Reaching the real services tests need (Redis, PostgreSQL).

On a laptop without the service the test is skipped with the reason; under
CI=true an unreachable service fails the test instead, so CI can never go
green by skipping.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

import pytest

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
