"""Projects and their versioned active learning configurations."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from winnow.errors import BadRequestError, ConflictError, InvalidConfigError, NotFoundError
from winnow.platform.schema import PROJECT_TYPES, AlConfigVersion, Project, Workspace

PROJECT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def create_project(*, session: Session, workspace: Workspace, name: str, type: str) -> Project:
    """Create a project; name unique in the workspace, type one of ``PROJECT_TYPES``."""
    if not isinstance(name, str) or not PROJECT_NAME.match(name):
        raise BadRequestError(
            f"name: project name {name!r} must be 1-128 characters of A-Z a-z 0-9 . _ - "
            "starting with a letter or digit"
        )
    if type not in PROJECT_TYPES:
        raise BadRequestError(f"type: must be one of {', '.join(PROJECT_TYPES)}; got {type!r}")
    exists = session.scalar(
        select(Project.id).where(Project.workspace_id == workspace.id, Project.name == name)
    )
    if exists is not None:
        raise ConflictError(f"project {name!r} already exists")
    project = Project(workspace_id=workspace.id, name=name, type=type)
    session.add(project)
    session.flush()
    return project


def get_project(*, session: Session, workspace: Workspace, name: str) -> Project:
    """The workspace's project called ``name``; NotFoundError otherwise (also for other workspaces)."""
    if not isinstance(name, str) or not PROJECT_NAME.match(name):
        raise NotFoundError(f"project {name!r} not found")
    project = session.scalar(
        select(Project).where(Project.workspace_id == workspace.id, Project.name == name)
    )
    if project is None:
        raise NotFoundError(f"project {name!r} not found")
    return project


def list_projects(*, session: Session, workspace: Workspace) -> list[Project]:
    """The workspace's projects by name."""
    return list(
        session.scalars(
            select(Project).where(Project.workspace_id == workspace.id).order_by(Project.name)
        )
    )


def validate_al_config(config: Any) -> dict[str, Any]:
    """Validate a configuration document; InvalidConfigError listing ``path: problem``."""
    if not isinstance(config, dict):
        raise InvalidConfigError(["config: must be a JSON object"])
    from winnow.activelearning.config import validate_config

    validate_config(config)
    return config


def save_al_config(
    *, session: Session, project: Project, config: Any, created_by: str
) -> AlConfigVersion:
    """Validate and store ``config`` as the project's next version (the one in force)."""
    validate_al_config(config)
    latest = session.scalar(
        select(func.max(AlConfigVersion.version)).where(AlConfigVersion.project_id == project.id)
    )
    record = AlConfigVersion(
        project_id=project.id, version=(latest or 0) + 1, config=config, created_by=created_by
    )
    session.add(record)
    session.flush()
    return record


def get_al_config(*, session: Session, project: Project) -> AlConfigVersion | None:
    """The configuration version in force (the newest), or None when none was saved."""
    return session.scalar(
        select(AlConfigVersion)
        .where(AlConfigVersion.project_id == project.id)
        .order_by(AlConfigVersion.version.desc())
        .limit(1)
    )


def list_al_config_versions(*, session: Session, project: Project) -> list[AlConfigVersion]:
    """Every saved version, newest first."""
    return list(
        session.scalars(
            select(AlConfigVersion)
            .where(AlConfigVersion.project_id == project.id)
            .order_by(AlConfigVersion.version.desc())
        )
    )


def max_batch_images(config: AlConfigVersion | None) -> int | None:
    """``batching_strategy.max_batch_images`` of the configuration in force, if any."""
    if config is None:
        return None
    batching = config.config.get("batching_strategy")
    if not isinstance(batching, dict):
        return None
    value = batching.get("max_batch_images")
    return value if isinstance(value, int) and not isinstance(value, bool) else None
