"""evaluation predictions and evaluation jobs

Revision ID: 0003
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "evaluation_prediction",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.String(length=128), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["image.id"],
            name=op.f("fk_evaluation_prediction_image_id_image"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_evaluation_prediction_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluation_prediction")),
        sa.UniqueConstraint(
            "project_id",
            "model_id",
            "image_id",
            name=op.f("uq_evaluation_prediction_project_id_model_id_image_id"),
        ),
    )
    with op.batch_alter_table("evaluation_prediction", schema=None) as batch_op:
        batch_op.create_index("ix_evaluation_prediction_image_id", ["image_id"], unique=False)

    op.create_table(
        "evaluation_job",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.String(length=128), nullable=False),
        sa.Column("batches", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_evaluation_job_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluation_job")),
    )
    with op.batch_alter_table("evaluation_job", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_evaluation_job_project_id"), ["project_id"], unique=False
        )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("evaluation_job", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evaluation_job_project_id"))
    op.drop_table("evaluation_job")
    with op.batch_alter_table("evaluation_prediction", schema=None) as batch_op:
        batch_op.drop_index("ix_evaluation_prediction_image_id")
    op.drop_table("evaluation_prediction")
