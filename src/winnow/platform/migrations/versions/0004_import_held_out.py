"""dataset import: project class list, held-out batches

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    # Plain ADD COLUMN (no table copy on SQLite, so no foreign-key cascade can touch rows).
    op.add_column("project", sa.Column("class_names", sa.JSON(), nullable=True))
    op.add_column(
        "batch", sa.Column("held_out", sa.Boolean(), server_default=sa.false(), nullable=False)
    )


def downgrade() -> None:
    """Revert this revision."""
    # ALTER TABLE ... DROP COLUMN (SQLite >= 3.35, PostgreSQL): batch mode would copy and drop
    # the tables, and dropping ``project`` cascades to every batch and image under it.
    op.execute("ALTER TABLE batch DROP COLUMN held_out")
    op.execute("ALTER TABLE project DROP COLUMN class_names")
