"""Model versions of a project: ONNX files registered for inference nodes to load."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from winnow.errors import BadRequestError, ConflictError, NotFoundError
from winnow.models.source import PROJECT_TASK_TYPES
from winnow.platform.schema import ModelVersion, Project, Workspace

TASK_TYPES = ("object-detection", "instance-segmentation", "keypoint-detection", "classification")


def parse_model_id(model_id: str) -> tuple[str, int]:
    """Split ``project/version`` (version a positive integer); BadRequestError otherwise."""
    project, sep, version = str(model_id).partition("/")
    if (
        not sep
        or not project
        or not (version.isascii() and version.isdigit())
        or len(version) > 10
        or not 1 <= int(version) < 2**31
    ):
        raise BadRequestError(
            f"model_id: {model_id!r} must be <project>/<version> with a version >= 1"
        )
    return project, int(version)


def model_blob_key(project: Project, version: int) -> str:
    """A fresh key for the ONNX file of a version (unique per attempt, so a failed
    registration can delete its own blob without touching a concurrent winner's)."""
    return f"models/{project.workspace_id}/{project.id}/{version}-{uuid.uuid4().hex}.onnx"


def add_model_version(
    *,
    session: Session,
    project: Project,
    version: int,
    data: bytes,
    blob_key: str,
    task_type: str | None = None,
    class_names: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
) -> ModelVersion:
    """Register a version whose bytes are already stored under ``blob_key``.

    ``task_type`` defaults to the project's; ConflictError if the version exists.
    """
    task = task_type or PROJECT_TASK_TYPES[project.type]
    if task not in TASK_TYPES:
        raise BadRequestError(f"task_type: must be one of {', '.join(TASK_TYPES)}; got {task!r}")
    if task != PROJECT_TASK_TYPES[project.type]:
        raise BadRequestError(
            f"task_type: a {project.type} project takes {PROJECT_TASK_TYPES[project.type]} "
            f"models, not {task}"
        )
    names = list(class_names or [])
    if not all(isinstance(n, str) and n for n in names):
        raise BadRequestError("class_names: must be a list of non-empty strings")
    exists = session.scalar(
        select(ModelVersion.id).where(
            ModelVersion.project_id == project.id, ModelVersion.version == version
        )
    )
    if exists is not None:
        raise ConflictError(f"model {project.name}/{version} is already registered")
    record = ModelVersion(
        project_id=project.id,
        version=version,
        task_type=task,
        class_names=names,
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        blob_key=blob_key,
        metadata_json=dict(metadata or {}),
    )
    session.add(record)
    session.flush()
    return record


def get_model_version(*, session: Session, project: Project, version: int) -> ModelVersion:
    """The registered version; NotFoundError naming it otherwise."""
    if not 1 <= version < 2**31:
        raise NotFoundError(f"model {project.name}/{version} not found")
    record = session.scalar(
        select(ModelVersion).where(
            ModelVersion.project_id == project.id, ModelVersion.version == version
        )
    )
    if record is None:
        raise NotFoundError(f"model {project.name}/{version} not found")
    return record


def list_model_versions(
    *, session: Session, workspace: Workspace, project: Project | None = None
) -> list[tuple[Project, ModelVersion]]:
    """The workspace's model versions (optionally of one project), by project then version."""
    query = (
        select(Project, ModelVersion)
        .join(ModelVersion, ModelVersion.project_id == Project.id)
        .where(Project.workspace_id == workspace.id)
    )
    if project is not None:
        query = query.where(Project.id == project.id)
    rows = session.execute(query.order_by(Project.name, ModelVersion.version)).all()
    return [(p, m) for p, m in rows]
