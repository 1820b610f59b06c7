"""dataset import: project class list, held-out batches

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("project") as batch:
        batch.add_column(sa.Column("class_names", sa.JSON(), nullable=True))
    with op.batch_alter_table("batch") as batch:
        batch.add_column(
            sa.Column("held_out", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("batch") as batch:
        batch.drop_column("held_out")
    with op.batch_alter_table("project") as batch:
        batch.drop_column("class_names")
