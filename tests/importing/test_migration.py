"""Migration 0004 upgrades a database holding rows (batches stay in training) and downgrades."""

from __future__ import annotations

from sqlalchemy import inspect, text

from tests.apps import run_migration
from winnow.platform.db import make_engine
from winnow.settings import Settings


def test_0004_keeps_existing_batches_and_projects(import_settings: Settings) -> None:
    url = import_settings.resolved_database_url
    import_settings.data_dir.mkdir(parents=True, exist_ok=True)
    run_migration(url, "upgrade", "0003")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO workspace (id, name, created_at) VALUES (1, 'w', CURRENT_TIMESTAMP)"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO project (id, workspace_id, name, type, created_at) "
                    "VALUES (1, 1, 'p', 'object-detection', CURRENT_TIMESTAMP)"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO batch (id, project_id, name, created_at, image_count) "
                    "VALUES (1, 1, 'b', CURRENT_TIMESTAMP, 0)"
                )
            )
        run_migration(url, "upgrade", "head")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT held_out FROM batch")).scalar_one() in (False, 0)
            assert conn.execute(text("SELECT class_names FROM project")).scalar_one() is None
        run_migration(url, "downgrade", "0003")
        with engine.connect() as conn:
            columns = {c["name"] for c in inspect(conn).get_columns("batch")}
            assert "held_out" not in columns
            assert conn.execute(text("SELECT name FROM batch")).scalar_one() == "b"
    finally:
        engine.dispose()
