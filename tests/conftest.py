"""Shared fixtures: real service URLs, settings on a temporary data dir."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.factories import KEY
from tests.services import DATABASE_URL, REDIS_URL, require
from winnow.settings import Settings


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis URL (database 15), flushed before and after the test."""
    url = require(REDIS_URL, "Redis")
    import redis

    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


@pytest.fixture
def postgres_url() -> str:
    """The PostgreSQL URL of the test database."""
    return require(DATABASE_URL, "PostgreSQL")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings on embedded defaults in a fresh data dir."""
    return Settings(data_dir=tmp_path / "data", api_key=KEY)
