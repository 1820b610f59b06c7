"""Fixtures of the import tests: settings on SQLite, or on a fresh PostgreSQL schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.factories import KEY
from winnow.settings import Settings


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def import_settings(
    request: pytest.FixtureRequest, tmp_path: Path, max_import_bytes: int
) -> Iterator[Settings]:
    """Settings on a fresh data dir, with the database on SQLite or on PostgreSQL."""
    data_dir = tmp_path / "data"
    if request.param == "sqlite":
        yield Settings(data_dir=data_dir, api_key=KEY, max_import_bytes=max_import_bytes)
        return
    url: str = request.getfixturevalue("pg_fresh_schema_url")
    yield Settings(
        data_dir=data_dir, api_key=KEY, database_url=url, max_import_bytes=max_import_bytes
    )


@pytest.fixture
def max_import_bytes() -> int:
    """The import cap of ``import_settings`` (small, so that the caps can be tested)."""
    return 2_000_000
