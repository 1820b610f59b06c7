"""The prediction log's routes: segments in (``PUT``), one record out (``GET``).

``PUT /v1/prediction-segments/{name}``: an inference node ships one closed
segment (the Parquet file as the body, a key of the records' workspace).
Idempotent by name: 201 when stored, 200 when that name was already stored.

``GET /v1/predictions/{inference_id}``: the record of one served prediction in
the key's workspace, with its collection decision and ``image_id`` (the image
collected from it, or null); 404 when no shipped segment holds it (a record
appears once its segment has closed and shipped: see
``winnow.platform.predictions``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from winnow.errors import NotFoundError
from winnow.http.body import read_body
from winnow.platform.deps import PlatformDep, WorkspaceDep

router = APIRouter(prefix="/v1", tags=["prediction log"])

SEGMENT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/vnd.apache.parquet": {
                "schema": {"type": "string", "format": "binary"},
            }
        },
    }
}


@router.put(
    "/prediction-segments/{name}",
    summary="Store one prediction-log segment (idempotent by name)",
    openapi_extra=SEGMENT_BODY,
    response_model=None,
    responses={201: {"description": "stored"}, 200: {"description": "already stored"}},
)
async def put_segment(
    name: str, request: Request, workspace: WorkspaceDep, platform: PlatformDep
) -> Response:
    settings = platform.settings
    limit = max(2 * settings.predlog_segment_bytes, settings.max_upload_bytes)
    data = await read_body(request, limit)
    stored = await run_in_threadpool(
        platform.predictions.store_segment, workspace=workspace.name, name=name, data=data
    )
    return JSONResponse({"name": name, "stored": stored}, status_code=201 if stored else 200)


@router.get(
    "/predictions/{inference_id}",
    summary="The prediction record of an inference id, with its collection decision",
)
async def get_prediction(
    inference_id: str, workspace: WorkspaceDep, platform: PlatformDep
) -> dict[str, Any]:
    record = await run_in_threadpool(platform.predictions.find, workspace.name, inference_id)
    if record is None:
        raise NotFoundError(
            f"no prediction record with inference_id {inference_id!r} in this workspace "
            "(records appear once their node's segment has closed and shipped)"
        )
    return record
