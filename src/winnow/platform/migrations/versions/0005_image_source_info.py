"""image identity: source_info column, images indexed by (project, source)

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    # Plain ADD COLUMN (no table copy on SQLite, so no foreign-key cascade can touch rows).
    op.add_column("image", sa.Column("source_info", sa.String(length=256), nullable=True))
    op.create_index("ix_image_project_source", "image", ["project_id", "source", "id"])


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_image_project_source", table_name="image")
    # ALTER TABLE ... DROP COLUMN (SQLite >= 3.35, PostgreSQL), as 0004 does.
    op.execute("ALTER TABLE image DROP COLUMN source_info")
