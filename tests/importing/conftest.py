"""Fixtures of the import tests: settings on SQLite, or on a fresh PostgreSQL schema."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.factories import KEY
from winnow.settings import Settings


def _create_schema(base: str) -> tuple[str, str]:
    """A new schema on ``base`` and a URL whose search_path is it."""
    schema = f"winnow_import_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    sep = "&" if "?" in base else "?"
    return schema, f"{base}{sep}options=-csearch_path%3D{schema}"


def _drop_schema(base: str, schema: str) -> None:
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def import_settings(
    request: pytest.FixtureRequest, tmp_path: Path, max_import_bytes: int
) -> Iterator[Settings]:
    """Settings on a fresh data dir, with the database on SQLite or on PostgreSQL."""
    data_dir = tmp_path / "data"
    if request.param == "sqlite":
        yield Settings(data_dir=data_dir, api_key=KEY, max_import_bytes=max_import_bytes)
        return
    base: str = request.getfixturevalue("postgres_url")
    schema, url = _create_schema(base)
    try:
        yield Settings(
            data_dir=data_dir, api_key=KEY, database_url=url, max_import_bytes=max_import_bytes
        )
    finally:
        _drop_schema(base, schema)


@pytest.fixture
def max_import_bytes() -> int:
    """The import cap of ``import_settings`` (small, so that the caps can be tested)."""
    return 2_000_000
