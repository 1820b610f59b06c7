"""``POST /v1/projects/{project}/import`` (a zipped dataset) and ``PATCH .../batches/{batch}``.

The import is a multipart form: ``file`` (the zip), ``format`` (coco, yolo,
voc, folders), ``batch`` (default ``import``), ``split`` (only that split of
the dataset; default every split) and ``held_out`` (true marks the batch as a
held-out evaluation set). The zip is spooled to disk by the form parser, never
held in memory whole; it must declare its Content-Length (which the server
holds it to) and is refused with 413 over ``max_import_bytes``.
``PATCH`` takes ``{"held_out": true|false}``.

The routes are a module-level :data:`router`; the platform and the caller's
workspace come from :mod:`winnow.platform.deps`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from winnow.errors import BadRequestError, PayloadTooLargeError
from winnow.http.jsonbody import json_body
from winnow.platform import store
from winnow.platform.deps import PlatformDep, WorkspaceDep
from winnow.platform.importing.files import ZipFiles
from winnow.platform.importing.layout import parse_split_name
from winnow.platform.importing.load import (
    ImportOptions,
    ImportResult,
    import_dataset,
    parse_format,
)
from winnow.platform.routes import openapi
from winnow.platform.store.listing import get_batch, list_batches
from winnow.platform.views import batch_json

DEFAULT_BATCH = "import"
_FORM_OVERHEAD = 1024 * 1024

IMPORT_BODY = openapi.multipart(
    {
        "file": {**openapi.FILE, "description": "The dataset as a zip."},
        "format": {"type": "string", "enum": ["coco", "yolo", "voc", "folders"]},
        "batch": {"type": "string", "description": f"Target batch (default {DEFAULT_BATCH!r})."},
        "split": {
            "type": "string",
            "description": "Import only this split: train, valid (val) or test.",
        },
        "held_out": {
            "type": "boolean",
            "description": "Mark the batch as a held-out evaluation set (never exported for training).",
        },
    },
    ["file", "format"],
)
BATCH_PATCH = openapi.json_body(
    {
        "type": "object",
        "properties": {"held_out": {"type": "boolean"}},
        "required": ["held_out"],
    }
)


router = APIRouter(prefix="/v1", tags=["import"])


def result_json(result: ImportResult) -> dict[str, Any]:
    """An import's outcome as JSON."""
    return {
        "project": result.project,
        "batch": result.batch,
        "images": result.images,
        "duplicates": result.duplicates,
        "classes": list(result.classes),
        "new_classes": list(result.new_classes),
        "held_out": result.held_out,
    }


def parse_bool(name: str, value: str | None) -> bool:
    """A form flag: true/false, 1/0, yes/no, on/off (absent is false)."""
    if value is None or value.strip() == "":
        return False
    lowered = value.strip().lower()
    if lowered in {"true", "1", "yes", "on"}:
        return True
    if lowered in {"false", "0", "no", "off"}:
        return False
    raise BadRequestError(f"{name}: must be true or false; got {value!r}")


@router.post(
    "/projects/{project}/import",
    status_code=201,
    summary="Import a labeled dataset (zip: COCO, YOLO, Pascal VOC or classification folders)",
    openapi_extra=IMPORT_BODY,
)
async def import_zip(
    project: str, request: Request, platform: PlatformDep, workspace: WorkspaceDep
) -> JSONResponse:
    limit = platform.settings.max_import_bytes
    length = request.headers.get("content-length", "")
    if not (length.isascii() and length.isdigit()):
        # the form parser spools file parts to disk unbounded; a declared length bounds them
        raise BadRequestError("Content-Length: required for an import upload (no chunked bodies)")
    if int(length) > limit + _FORM_OVERHEAD:
        raise PayloadTooLargeError(f"upload is {length} bytes, over the limit of {limit} bytes")
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise BadRequestError("expected multipart/form-data with the zip in a 'file' part")
    async with request.form(max_files=1, max_fields=8, max_part_size=64 * 1024) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise BadRequestError("file: the multipart file part 'file' (the zip) is missing")
        if upload.size is not None and upload.size > limit:
            raise PayloadTooLargeError(f"file: the zip is over the limit of {limit} bytes")

        def text(name: str) -> str | None:
            value = form.get(name)
            return value if isinstance(value, str) else None

        fmt = text("format")
        if not fmt:
            raise BadRequestError("format: required, one of coco, yolo, voc, folders")
        split = text("split")
        options = ImportOptions(
            format=parse_format(fmt),
            batch=text("batch") or DEFAULT_BATCH,
            split=parse_split_name(split) if split else None,
            held_out=parse_bool("held_out", text("held_out")),
        )

        def run() -> ImportResult:
            files = ZipFiles(upload.file, max_bytes=limit)
            try:
                return import_dataset(
                    platform, workspace=workspace, project=project, files=files, options=options
                )
            finally:
                files.close()

        result = await run_in_threadpool(run)
    return JSONResponse(status_code=201, content=result_json(result))


@router.patch(
    "/projects/{project}/batches/{batch:path}",  # batch names may hold "/"
    summary="Mark a batch as a held-out evaluation set (or not)",
    openapi_extra=BATCH_PATCH,
)
async def patch_batch(
    project: str, batch: str, request: Request, platform: PlatformDep, workspace: WorkspaceDep
) -> dict[str, Any]:
    body = await json_body(request)
    if not isinstance(body, dict) or not isinstance(body.get("held_out"), bool):
        raise BadRequestError('body: must be {"held_out": true} or {"held_out": false}')
    unknown = sorted(set(body) - {"held_out"})
    if unknown:
        raise BadRequestError(f"body: unknown field {unknown[0]!r}; only held_out can be changed")
    held_out: bool = body["held_out"]

    def save() -> dict[str, Any]:
        with platform.db.write() as session:
            target = store.get_project(session=session, workspace=workspace, name=project)
            record = get_batch(session=session, project=target, name=batch)
            record.held_out = held_out
            session.flush()
            counts = next(
                c for c in list_batches(session=session, project=target) if c.batch.id == record.id
            )
            return batch_json(counts)

    return await run_in_threadpool(save)
