"""Fixtures of the platform tests: a Platform on SQLite or PostgreSQL and a client on its routes."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.apps import platform_app
from tests.factories import KEY
from tests.server.asgi_client import ASGIClient
from tests.services import DATABASE_URL, fresh_schema, require
from winnow.platform.db import make_engine
from winnow.platform.migrate import migrate
from winnow.platform.schema import Base
from winnow.platform.service import Platform
from winnow.settings import Settings


@pytest.fixture(scope="session")
def pg_migrated_schema() -> Iterator[str]:
    """One migrated schema for the session (same skip/fail rule as ``postgres_url``)."""
    with fresh_schema(require(DATABASE_URL, "PostgreSQL")) as url:
        engine = make_engine(url)
        migrate(engine)
        engine.dispose()
        yield url


@pytest.fixture
def pg_schema_url(pg_migrated_schema: str) -> str:
    """The session's migrated schema, emptied (tables truncated, ids restarted) for this test."""
    engine = create_engine(pg_migrated_schema)
    with engine.begin() as conn:
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return pg_migrated_schema


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, empty SQLite file that tests copy (migrating each time is slow)."""
    path = tmp_path_factory.mktemp("template") / "winnow.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL: a migrated SQLite file in a temp dir, or an emptied PostgreSQL schema."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / "winnow.db"
        shutil.copyfile(template, target)
        return f"sqlite:///{target}"
    url: str = request.getfixturevalue("pg_schema_url")
    return url


@pytest.fixture
def platform(tmp_path: Path, db_url: str) -> Iterator[Platform]:
    """A Platform on ``db_url`` with local blobs and bootstrap key ``KEY``."""
    settings = Settings(
        data_dir=tmp_path / "data", api_key=KEY, database_url=db_url, max_upload_bytes=2_000_000
    )
    opened = Platform.open(settings)
    yield opened
    opened.close()


@pytest.fixture
def sqlite_platform(tmp_path: Path) -> Iterator[Platform]:
    """A Platform on embedded defaults only (for tests that need no database matrix)."""
    settings = Settings(data_dir=tmp_path / "data", api_key=KEY, max_upload_bytes=2_000_000)
    opened = Platform.open(settings)
    yield opened
    opened.close()


@pytest.fixture
def client(platform: Platform) -> Iterator[ASGIClient]:
    """An in-process HTTP client on the platform's routes (database matrix)."""
    with ASGIClient(platform_app(platform)) as test_client:
        yield test_client
