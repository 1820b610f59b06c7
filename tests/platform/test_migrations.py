"""The packaged migrations produce exactly the ORM metadata, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from winnow.platform.db import make_engine
from winnow.platform.migrate import migrate
from winnow.platform.schema import Base


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: a new SQLite file, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'm.db'}"
    url: str = request.getfixturevalue("pg_fresh_schema_url")
    return url


def test_migrations_match_the_orm_metadata(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)
    try:
        with engine.connect() as conn:
            assert inspect(conn).get_table_names() == []
        migrate(engine)
        migrate(engine)  # running again on every start is a no-op
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, Base.metadata)
            tables = set(inspect(conn).get_table_names())
        assert diff == []
        assert {"workspace", "api_key", "project", "image", "image_tag", "annotation"} <= tables
        assert "alembic_version" in tables
    finally:
        engine.dispose()
