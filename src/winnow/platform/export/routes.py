"""``GET /v1/projects/{project}/export``: a zip of the project in COCO, YOLO, VOC or folders.

Query: ``format`` (coco, yolo, voc, folders; default coco), ``batch``
(repeatable; default every batch), ``status`` (repeatable; default labeled
and reviewed), ``split`` (train,valid,test fractions; default 0.8,0.1,0.1),
``seed`` (default 0), ``predictions`` (use predictions for images without a
human annotation; default true). The rows are read in one transaction, then
the zip is streamed file by file, reading each image from the blob store as
it goes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from winnow.errors import BadRequestError
from winnow.platform import store
from winnow.platform.deps import PlatformDep, WorkspaceDep
from winnow.platform.export.archive import iter_zip
from winnow.platform.export.formats import ExportFormat, export_files
from winnow.platform.export.model import parse_split
from winnow.platform.export.rows import ExportQuery, build_export, check_statuses
from winnow.platform.schema import Workspace
from winnow.platform.service import Platform

MAX_SEED = 2**31 - 1

# API-key authenticated like every ``/v1`` route.
router = APIRouter(tags=["export"])


def parse_format(value: str) -> ExportFormat:
    """The export format named ``value``; BadRequestError listing the choices otherwise."""
    try:
        return ExportFormat(value)
    except ValueError:
        choices = ", ".join(f.value for f in ExportFormat)
        raise BadRequestError(f"format: must be one of {choices}; got {value!r}") from None


def make_query(
    *,
    batches: Sequence[str] = (),
    statuses: Sequence[str] = (),
    split: str = "0.8,0.1,0.1",
    seed: int = 0,
    predictions: bool = True,
) -> ExportQuery:
    """Validate export options into an :class:`ExportQuery` (BadRequestError naming the option)."""
    if not 0 <= seed <= MAX_SEED:
        raise BadRequestError(f"seed: must be between 0 and {MAX_SEED}")
    return ExportQuery(
        batches=tuple(b for b in batches if b),
        statuses=check_statuses([s for s in statuses if s]),
        split=parse_split(split),
        seed=seed,
        use_predictions=predictions,
    )


def export_response(
    platform: Platform, workspace: Workspace, project: str, fmt: ExportFormat, query: ExportQuery
) -> StreamingResponse:
    """A streamed zip of the export, named ``<project>-<format>-<UTC time>.zip``."""
    with platform.db.read() as session:
        target = store.get_project(session=session, workspace=workspace, name=project)
        dataset = build_export(session=session, project=target, query=query)
    files = export_files(dataset, fmt)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    filename = f"{target.name}-{fmt.value}-{stamp}.zip"
    read: Callable[[str], bytes] = platform.blobs.get
    return StreamingResponse(
        iter_zip(files, read),
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "X-Winnow-Images": str(len(dataset.images)),
        },
    )


@router.get("/v1/projects/{project}/export")
def export(
    project: str,
    workspace: WorkspaceDep,
    platform: PlatformDep,
    format: str = "coco",
    batch: Annotated[list[str] | None, Query()] = None,
    status: Annotated[list[str] | None, Query()] = None,
    split: str = "0.8,0.1,0.1",
    seed: int = 0,
    predictions: bool = True,
) -> StreamingResponse:
    """Download the project as a zip in the requested format."""
    query = make_query(
        batches=batch or (),
        statuses=status or (),
        split=split,
        seed=seed,
        predictions=predictions,
    )
    return export_response(platform, workspace, project, parse_format(format), query)
