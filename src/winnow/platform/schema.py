"""The platform's tables as SQLAlchemy 2 typed ORM models.

Migrations in ``winnow/platform/migrations`` must produce exactly this
metadata (a test compares them with alembic's autogenerate on SQLite and
PostgreSQL). Indexes follow the listing filters of the web UI and the API:
images by (project, batch), (project, status), (project, strategy),
(project, source), tags by (project, tag); every listing pages by id.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from winnow.states import ImageStatus

PROJECT_TYPES = (
    "object-detection",
    "instance-segmentation",
    "keypoint-detection",
    "classification",
    "multi-label-classification",
)
IMAGE_STATUSES = tuple(ImageStatus)  # in the order the UI lists them

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base holding the platform metadata."""

    metadata = MetaData(naming_convention=NAMING)


class Workspace(Base):
    """A tenant: everything below belongs to exactly one workspace."""

    __tablename__ = "workspace"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiKey(Base):
    """An API key, stored as its sha256; ``prefix`` is shown in listings."""

    __tablename__ = "api_key"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspace.id", ondelete="CASCADE"), index=True
    )
    key_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    workspace: Mapped[Workspace] = relationship(lazy="joined")


class Project(Base):
    """A project: name unique in its workspace, one task type."""

    __tablename__ = "project"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # class names merged in by dataset imports, in order (model versions list their own)
    class_names: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    workspace: Mapped[Workspace] = relationship(lazy="joined")


class AlConfigVersion(Base):
    """One saved version of a project's active learning configuration; the newest is in force."""

    __tablename__ = "al_config_version"
    __table_args__ = (UniqueConstraint("project_id", "version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Batch(Base):
    """A labeling batch: created on first use, name unique per project."""

    __tablename__ = "batch"
    __table_args__ = (UniqueConstraint("project_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    image_count: Mapped[int] = mapped_column(Integer, default=0)
    # a held-out evaluation set: exports never put its images in the training split
    held_out: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Image(Base):
    """A stored image with its provenance. Bytes live in the blob store under ``blob_key``."""

    __tablename__ = "image"
    __table_args__ = (
        UniqueConstraint("project_id", "sha256"),
        UniqueConstraint("project_id", "idempotency_key"),
        Index("ix_image_project_batch", "project_id", "batch_id", "id"),
        Index("ix_image_project_status", "project_id", "status", "id"),
        Index("ix_image_project_strategy", "project_id", "strategy", "id"),
        Index("ix_image_project_source", "project_id", "source", "id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    batch_id: Mapped[int] = mapped_column(ForeignKey("batch.id", ondelete="CASCADE"))
    sha256: Mapped[str] = mapped_column(String(64))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(Integer)
    content_type: Mapped[str] = mapped_column(String(32))
    blob_key: Mapped[str] = mapped_column(String(256))
    name: Mapped[str | None] = mapped_column(String(256), nullable=True)
    source: Mapped[str | None] = mapped_column(String(128), nullable=True)
    source_info: Mapped[str | None] = mapped_column(String(256), nullable=True)
    strategy: Mapped[str | None] = mapped_column(String(128), nullable=True)
    model_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    inference_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    config_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(128), nullable=True)
    metadata_json: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # Plain strings in the database (the enum values); compare them with ImageStatus members.
    status: Mapped[str] = mapped_column(String(16), default=ImageStatus.UNLABELED.value)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    tags: Mapped[list[ImageTag]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="ImageTag.id"
    )


class ImageTag(Base):
    """One tag of an image; ``project_id`` is repeated so tag filters use one index."""

    __tablename__ = "image_tag"
    __table_args__ = (
        UniqueConstraint("image_id", "tag"),
        Index("ix_image_tag_project_tag", "project_id", "tag", "image_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("image.id", ondelete="CASCADE"))
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    tag: Mapped[str] = mapped_column(String(64))


class Annotation(Base):
    """A prediction (pre-annotation) or a human annotation of an image."""

    __tablename__ = "annotation"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("image.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # an AnnotationKind value
    format: Mapped[str] = mapped_column(String(8))
    body: Mapped[str] = mapped_column(Text)
    name: Mapped[str | None] = mapped_column(String(256), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ModelVersion(Base):
    """A registered ONNX model version of a project; the file lives in the blob store."""

    __tablename__ = "model_version"
    __table_args__ = (UniqueConstraint("project_id", "version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    task_type: Mapped[str] = mapped_column(String(32))
    class_names: Mapped[list[Any]] = mapped_column(JSON)
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    blob_key: Mapped[str] = mapped_column(String(256))
    metadata_json: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class EvaluationPrediction(Base):
    """A prediction of a model version made to evaluate it (``winnow eval --run``).

    Kept apart from ``annotation`` on purpose: these are never pre-annotations
    and never exported as labels. One per (model version, image); a new run
    replaces it.
    """

    __tablename__ = "evaluation_prediction"
    __table_args__ = (
        UniqueConstraint("project_id", "model_id", "image_id"),
        Index("ix_evaluation_prediction_image_id", "image_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    image_id: Mapped[int] = mapped_column(ForeignKey("image.id", ondelete="CASCADE"))
    model_id: Mapped[str] = mapped_column(String(128))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class EvaluationJob(Base):
    """A background run of a model version over the labeled images of some batches."""

    __tablename__ = "evaluation_job"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), index=True
    )
    model_id: Mapped[str] = mapped_column(String(128))
    batches: Mapped[list[Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="queued")  # an EvaluationStatus value
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ShadowCount(Base):
    """Shadow model runs and disagreements of a project on one UTC day, per inference process.

    ``node`` is the reporting process (a fresh id per start) and the counts are
    its totals of the day: a report keeps the larger of stored and sent, so
    repeats and reordering change nothing. The overview sums the nodes.
    """

    __tablename__ = "shadow_count"
    project_id: Mapped[int] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD
    node: Mapped[str] = mapped_column(String(64), primary_key=True)
    model_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    runs: Mapped[int] = mapped_column(BigInteger)
    disagreements: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
