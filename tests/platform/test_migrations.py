"""The packaged migrations produce exactly the ORM metadata, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from winnow.platform.db import make_engine
from winnow.platform.migrate import migrate
from winnow.platform.schema import Base


def test_migrations_match_the_orm_metadata(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
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
