"""JSON shapes of platform records, for the native API (the reference shapes live in its routes)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from winnow.activelearning.datapoint import PROVENANCE_COLUMNS
from winnow.platform.schema import (
    AlConfigVersion,
    Annotation,
    Image,
    ModelVersion,
    Project,
    Workspace,
)
from winnow.platform.store.listing import BatchCounts


def as_utc(value: datetime) -> datetime:
    """``value`` as aware UTC (SQLite hands back naive datetimes that were stored as UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def iso(value: datetime) -> str:
    """ISO 8601 in UTC."""
    return as_utc(value).isoformat().replace("+00:00", "Z")


def project_json(project: Project, workspace: Workspace) -> dict[str, Any]:
    """A project: name, type, workspace, created_at."""
    return {
        "id": project.name,
        "name": project.name,
        "type": project.type,
        "workspace": workspace.name,
        "created_at": iso(project.created_at),
    }


def batch_json(counts: BatchCounts) -> dict[str, Any]:
    """A batch with its counts."""
    return {
        "id": str(counts.batch.id),
        "name": counts.batch.name,
        "images": counts.images,
        "annotated": counts.annotated,
        "held_out": counts.batch.held_out,
        "created_at": iso(counts.batch.created_at),
    }


def image_json(image: Image, project: str, batches: dict[int, str]) -> dict[str, Any]:
    """An image's metadata and provenance."""
    return {
        "id": str(image.id),
        "project": project,
        "batch": batches.get(image.batch_id),
        "sha256": image.sha256,
        "width": image.width,
        "height": image.height,
        "size_bytes": image.size_bytes,
        "content_type": image.content_type,
        "tags": [t.tag for t in image.tags],
        # name, source, strategy, model_id, inference_id, config_version, idempotency_key, ...
        **{column: getattr(image, column) for column in PROVENANCE_COLUMNS},
        "metadata": image.metadata_json,
        "status": image.status,
        "received_at": iso(image.received_at),
    }


def annotation_json(annotation: Annotation) -> dict[str, Any]:
    """An annotation; JSON bodies are returned parsed."""
    import json

    body: Any = annotation.body
    if annotation.format == "json":
        body = json.loads(annotation.body)
    return {
        "id": str(annotation.id),
        "kind": annotation.kind,
        "format": annotation.format,
        "name": annotation.name,
        "body": body,
        "created_at": iso(annotation.created_at),
    }


def config_version_json(record: AlConfigVersion) -> dict[str, Any]:
    """One saved configuration version, with the validator's warnings about it."""
    return {
        "version": record.version,
        "config": record.config,
        "created_by": record.created_by,
        "created_at": iso(record.created_at),
        "warnings": config_warnings(record.config),
    }


def config_warnings(config: Any) -> list[str]:
    """What the validator accepted in ``config`` but warns about ([] if it no longer validates)."""
    from winnow.activelearning.config import validate_config
    from winnow.errors import InvalidConfigError

    try:
        return list(validate_config(config).warnings)
    except InvalidConfigError:
        return []


def model_json(project: Project, record: ModelVersion, workspace: Workspace) -> dict[str, Any]:
    """A registered model version (the fields of ``winnow.models.source.ModelInfo``)."""
    return {
        "model_id": f"{project.name}/{record.version}",
        "workspace": workspace.name,
        "project": project.name,
        "version": record.version,
        "task_type": record.task_type,
        "class_names": list(record.class_names),
        "sha256": record.sha256,
        "size_bytes": record.size_bytes,
        "metadata": record.metadata_json,
        "created_at": iso(record.created_at),
    }
