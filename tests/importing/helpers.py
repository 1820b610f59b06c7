"""A platform with human-annotated projects of every type, and export/import round-trip steps."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from tests.factories import KEY, make_jpeg
from winnow.platform import store
from winnow.platform.export.archive import write_directory
from winnow.platform.export.formats import ExportFormat, export_files
from winnow.platform.export.rows import ExportQuery, build_export
from winnow.platform.importing import ImportFormat, ImportOptions, ImportResult, import_dataset
from winnow.platform.importing.files import DirectoryFiles
from winnow.platform.service import DatapointInput, Platform


def jpeg(width: int, height: int, seed: int = 0) -> bytes:
    """A JPEG of random pixels: distinct bytes per seed."""
    return make_jpeg(width, height, seed=seed, quality=85)


def det(cls: str, x1: float, y1: float, x2: float, y2: float, **extra: Any) -> dict[str, Any]:
    """A reference-shaped detection from corners."""
    return {
        "x": (x1 + x2) / 2,
        "y": (y1 + y2) / 2,
        "width": x2 - x1,
        "height": y2 - y1,
        "confidence": 1.0,
        "class": cls,
        "class_id": 0,
        **extra,
    }


def labeled(
    platform: Platform,
    project: str,
    type_: str,
    items: list[tuple[tuple[int, int], Any]],
    *,
    batch: str = "labeled",
) -> list[int]:
    """Create ``project`` with one human-annotated image per item ((width, height), annotation).

    The annotation is a list of detections (detection family) or a list of class names.
    """
    workspace = platform.workspace(KEY)
    with platform.db.write() as session:
        store.create_project(session=session, workspace=workspace, name=project, type=type_)
    ids = []
    for seed, ((width, height), annotation) in enumerate(items):
        result = platform.register(
            workspace=workspace,
            project=project,
            data=jpeg(width, height, seed + 100 * len(project)),
            datapoint=DatapointInput(batch_name=batch),
        )
        if "classification" in type_:
            body, name = "\n".join(annotation), "label.txt"
        else:
            body = json.dumps(
                {"image": {"width": width, "height": height}, "predictions": annotation}
            )
            name = "label.json"
        platform.annotate(
            workspace=workspace,
            project=project,
            image_id=str(result.image.id),
            body=body,
            name=name,
            prediction=False,
        )
        ids.append(int(result.image.id))
    return ids


def export_to(
    platform: Platform,
    project: str,
    fmt: ExportFormat,
    out: Path,
    split: tuple[float, float, float],
) -> Path:
    """Write ``project``'s export in ``fmt`` under ``out``."""
    workspace = platform.workspace(KEY)
    with platform.db.read() as session:
        target = store.get_project(session=session, workspace=workspace, name=project)
        dataset = build_export(
            session=session, project=target, query=ExportQuery(split=split, use_predictions=False)
        )
    write_directory(export_files(dataset, fmt), platform.blobs.get, out)
    return out


def import_from(
    platform: Platform, project: str, fmt: str, folder: Path, **options: Any
) -> ImportResult:
    """Import ``folder`` into ``project`` (batch ``imported`` unless given)."""
    return import_dataset(
        platform,
        workspace=platform.workspace(KEY),
        project=project,
        files=DirectoryFiles(folder, max_bytes=10**9),
        options=ImportOptions(
            format=ImportFormat(fmt), batch=options.pop("batch", "imported"), **options
        ),
    )


def create_empty(platform: Platform, project: str, type_: str) -> None:
    """An empty project of ``type_``."""
    with platform.db.write() as session:
        store.create_project(
            session=session, workspace=platform.workspace(KEY), name=project, type=type_
        )


def digest(path: Path) -> str:
    """The sha256 of a file (images are matched by bytes, since ids differ between projects)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()
