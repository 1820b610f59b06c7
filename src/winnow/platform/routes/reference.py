"""The reference platform API (compat.md section 2), exactly as inference servers call it.

The ``/{ws}/{project}...`` routes use :class:`ReferenceRoute`, which never
matches a path whose first segment is one of winnow's own prefixes
(``/v1``, ``/dataset``, ``/model``, ``/infer``...), so they cannot shadow
other routes however the app orders its routers. They answer GET (and POST
for ``active_learning``) only, leaving ``POST /{project}/{version}`` to the
inference server.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.routing import Match
from starlette.types import Scope

from winnow.errors import BadRequestError, NotFoundError
from winnow.http.body import read_body
from winnow.http.forms import Multipart
from winnow.http.jsonbody import json_body
from winnow.platform import store
from winnow.platform.deps import PlatformDep, WorkspaceDep, api_key_of
from winnow.platform.routes import openapi
from winnow.platform.routes.common import register_upload, store_al_config
from winnow.platform.schema import Project, Workspace
from winnow.platform.service import DatapointInput, Platform
from winnow.platform.store.workspaces import RESERVED_PREFIXES
from winnow.platform.views import as_utc, config_warnings

MAX_ANNOTATION_BYTES = 8 * 1024 * 1024


class ReferenceRoute(APIRoute):
    """An APIRoute that steps aside for paths under winnow's reserved first segments."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        """No match for reserved prefixes; otherwise the usual matching."""
        if scope.get("type") == "http":
            first = scope.get("path", "/").lstrip("/").split("/", 1)[0]
            if first in RESERVED_PREFIXES:
                return Match.NONE, {}
        return super().matches(scope)


def _timestamp(value: datetime) -> dict[str, int]:
    moment = as_utc(value)
    seconds = int(moment.timestamp())
    return {"_seconds": seconds, "_nanoseconds": moment.microsecond * 1000}


def _scaled(item: Any, sx: float, sy: float, keys: tuple[str, ...]) -> None:
    if not isinstance(item, dict):
        return
    for key in keys:
        value = item.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            item[key] = value * (sx if key in ("x", "width") else sy)


def fit_to_stored_image(body: str, width: int, height: int) -> str:
    """Prediction JSON whose declared ``image`` size differs from the stored image, rescaled.

    Coordinates are mapped per axis from the declared size onto the stored
    ``width`` x ``height`` (boxes, polygon points, keypoints). A reference
    server that shrinks images (``max_image_size``) divides its predictions
    and their image size by the scale where it should multiply, consistently,
    so this mapping puts its boxes exactly on the uploaded image. Anything
    else (text, no or matching size, malformed JSON) is returned unchanged
    for the store to accept or name what is wrong.
    """
    if not body.lstrip().startswith("{"):
        return body
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return body
    size = data.get("image") if isinstance(data, dict) else None
    if not isinstance(size, dict):
        return body
    declared_w, declared_h = size.get("width"), size.get("height")
    if not (isinstance(declared_w, int | float) and isinstance(declared_h, int | float)):
        return body
    if not (math.isfinite(declared_w) and math.isfinite(declared_h)):
        return body
    if declared_w <= 0 or declared_h <= 0 or (declared_w, declared_h) == (width, height):
        return body
    sx, sy = width / declared_w, height / declared_h
    detections = data.get("predictions")
    if isinstance(detections, list):
        for detection in detections:
            _scaled(detection, sx, sy, ("x", "y", "width", "height"))
            for nested in ("points", "keypoints"):
                points = detection.get(nested) if isinstance(detection, dict) else None
                for point in points if isinstance(points, list) else []:
                    _scaled(point, sx, sy, ("x", "y"))
    data["image"] = {"width": width, "height": height}
    return json.dumps(data)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"true", "1", "yes"}


fixed = APIRouter(tags=["reference platform API"])
catchall = APIRouter(tags=["reference platform API"], route_class=ReferenceRoute)


def own_project(platform: Platform, workspace: Workspace, ws: str, project: str) -> Project:
    """The caller's project ``ws/project``; 404 for another workspace's name, as for no project."""
    if ws != workspace.name:
        raise NotFoundError(f"project {ws}/{project} not found")
    return platform.project(workspace, project)


@fixed.get("/", summary="Workspace of an API key", response_model=None)
def workspace_of_key(request: Request, platform: PlatformDep) -> dict[str, Any] | RedirectResponse:
    # A person opening the server's address in a browser wants the web UI, not a 401.
    if api_key_of(request) is None and "text/html" in request.headers.get("accept", ""):
        return RedirectResponse("/app/", status_code=307)
    return {"workspace": platform.workspace(api_key_of(request)).name}


@fixed.post(
    "/dataset/{project}/upload",
    summary="Upload an image into a batch",
    openapi_extra=openapi.UPLOAD,
)
async def upload(
    project: str, request: Request, workspace: WorkspaceDep, platform: PlatformDep
) -> dict[str, Any]:
    query = request.query_params

    def datapoint(form: Multipart) -> DatapointInput:
        return DatapointInput(
            batch_name=query.get("batch") or f"uploaded-{datetime.now(UTC):%Y-%m-%d}",
            tags=tuple(query.getlist("tag")),
            inference_id=query.get("inference_id") or None,
            source="upload",
            name=form.text("name"),
            extra=form.json_object("metadata"),
        )

    result = await register_upload(request, platform, workspace, project, datapoint)
    if result.duplicate or result.replayed:
        return {"duplicate": True, "id": str(result.image.id)}
    return {"success": True, "id": str(result.image.id)}


@fixed.post(
    "/dataset/{project}/annotate/{image_id}",
    summary="Annotate an image",
    openapi_extra=openapi.ANNOTATION,
)
async def annotate(
    project: str, image_id: str, request: Request, workspace: WorkspaceDep, platform: PlatformDep
) -> dict[str, Any]:
    raw = await read_body(request, MAX_ANNOTATION_BYTES)
    try:
        body = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequestError("body: annotation must be UTF-8 text") from None
    if not body.strip():
        raise BadRequestError("body: the annotation is empty")
    query = request.query_params

    def save() -> None:
        with platform.db.read() as session:
            stored = store.get_image(session=session, workspace=workspace, image_id=image_id)
            size = (stored.width, stored.height)
        platform.annotate(
            workspace=workspace,
            project=project,
            image_id=image_id,
            body=fit_to_stored_image(body, *size),
            name=query.get("name"),
            prediction=_truthy(query.get("prediction")),
        )

    await run_in_threadpool(save)
    return {"success": True}


@fixed.get("/usage/plan", summary="Plan of an API key: never over quota")
def usage_plan(workspace: WorkspaceDep) -> dict[str, Any]:
    # A reference server asks for the key's plan (Bearer header) and, on any 4xx,
    # treats the key as over quota, which refuses its stream and WebRTC requests.
    # winnow has no plans or quotas: a valid key is never over quota.
    return {"over_quota": False}


@fixed.post("/inference-stats", summary="Accepted and ignored")
@fixed.post("/usage/inference", summary="Accepted and ignored")
def ignored() -> dict[str, Any]:
    return {}


@catchall.post("/{ws}/inference-stats", summary="Accepted and ignored")
@catchall.post("/{ws}/inference-stats/metadata", summary="Accepted and ignored")
def ignored_in_workspace(ws: str) -> dict[str, Any]:
    # Newer reference servers post model-monitoring data under the workspace.
    return {}


@catchall.get("/{ws}/{project}", summary="Project type")
def project_info(
    ws: str, project: str, workspace: WorkspaceDep, platform: PlatformDep
) -> dict[str, Any]:
    target = own_project(platform, workspace, ws, project)
    with platform.db.read() as session:
        batches = store.list_batches(session=session, project=target)
    return {
        "workspace": workspace.name,
        "project": {
            "id": f"{workspace.name}/{target.name}",
            "name": target.name,
            "type": target.type,
            "images": sum(b.images for b in batches),
            "unannotated": sum(b.images - b.annotated for b in batches),
        },
    }


@catchall.get("/{ws}/{project}/active_learning", summary="Read the AL configuration")
def read_config(
    ws: str, project: str, workspace: WorkspaceDep, platform: PlatformDep
) -> dict[str, Any]:
    target = own_project(platform, workspace, ws, project)
    with platform.db.read() as session:
        record = store.get_al_config(session=session, project=target)
    return dict(record.config) if record is not None else {"enabled": False}


@catchall.post(
    "/{ws}/{project}/active_learning",
    summary="Write the AL configuration",
    openapi_extra=openapi.AL_CONFIG_WRAPPED,
)
async def write_config(
    ws: str, project: str, request: Request, workspace: WorkspaceDep, platform: PlatformDep
) -> dict[str, Any]:
    body = await json_body(request)
    if not isinstance(body, dict) or "config" not in body:
        raise BadRequestError('body: must be {"config": {...}}')
    return await store_al_config(
        request,
        platform,
        lambda: own_project(platform, workspace, ws, project),
        body["config"],
        lambda record: {
            "success": True,
            "version": record.version,
            "config": record.config,
            "warnings": config_warnings(record.config),
        },
    )


@catchall.get("/{ws}/{project}/batches", summary="Labeling batches")
def batches(
    ws: str, project: str, workspace: WorkspaceDep, platform: PlatformDep
) -> dict[str, Any]:
    target = own_project(platform, workspace, ws, project)
    with platform.db.read() as session:
        rows = store.list_batches(session=session, project=target)
    return {
        "batches": [
            {
                "name": row.batch.name,
                "id": str(row.batch.id),
                "images": row.images,
                # Images never leave a winnow batch for a labeling job, so no job
                # holds images on top of ``images``: a reference server's batch cap
                # adds job images to batch images when numJobs > 0 (it counted each
                # image twice and stopped at half of max_batch_images).
                "numJobs": 0,
                "uploaded": _timestamp(row.batch.created_at),
            }
            for row in rows
        ]
    }


@catchall.get("/{ws}/{project}/jobs", summary="Labeling jobs (one per non-empty batch)")
def jobs(ws: str, project: str, workspace: WorkspaceDep, platform: PlatformDep) -> dict[str, Any]:
    target = own_project(platform, workspace, ws, project)
    with platform.db.read() as session:
        rows = store.list_batches(session=session, project=target)
    out = []
    for row in rows:
        if not row.images:
            continue
        unannotated = row.images - row.annotated
        out.append(
            {
                "id": str(row.batch.id),
                "name": row.batch.name,
                "sourceBatch": f"{workspace.name}/{row.batch.id}",
                "numImages": row.images,
                "status": "complete" if unannotated == 0 else "assigned",
                "annotated": row.annotated,
                "unannotated": unannotated,
            }
        )
    return {"jobs": out}
