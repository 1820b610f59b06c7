"""winnow's native API under ``/v1``: projects, datapoints, batches, images, AL configs."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from winnow.activelearning.config import config_json_schema
from winnow.activelearning.datapoint import DatapointMetadata, metadata_from_json
from winnow.errors import BadRequestError, WinnowError
from winnow.http.forms import Multipart, read_multipart
from winnow.http.jsonbody import json_body
from winnow.platform import store
from winnow.platform.deps import PlatformDep, WorkspaceDep
from winnow.platform.routes import openapi
from winnow.platform.routes.common import register_upload, store_al_config
from winnow.platform.service import RegisterItem
from winnow.platform.views import (
    batch_json,
    config_version_json,
    image_json,
    project_json,
)

router = APIRouter(prefix="/v1", tags=["native API"])


def datapoint_from_metadata(meta: dict[str, Any], prediction: Any) -> DatapointMetadata:
    """The datapoint described by the ``metadata`` part; 400 naming any field of a wrong type.

    The codec decodes it; ``Platform.register`` validates it (once, naming
    fields ``metadata.<field>``). The ``prediction`` part, when sent, is the
    prediction.
    """
    datapoint = metadata_from_json(meta, where="metadata")
    if prediction is None:
        return datapoint
    if not isinstance(prediction, dict):
        raise BadRequestError("prediction: must be a JSON object")
    return replace(datapoint, prediction=prediction)


def _etag_matches(header: str | None, etag: str) -> bool:
    """Whether an If-None-Match header names ``etag`` (weak or strong, in a list, or ``*``)."""
    if not header:
        return False
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    return "*" in tags or etag in tags or etag.strip('"') in tags


@router.post(
    "/projects", status_code=201, summary="Create a project", openapi_extra=openapi.PROJECT
)
async def create_project(
    request: Request, workspace: WorkspaceDep, platform: PlatformDep
) -> dict[str, Any]:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise BadRequestError('body: must be {"name": ..., "type": ...}')

    def create() -> dict[str, Any]:
        with platform.db.write() as session:
            project = store.create_project(
                session=session,
                workspace=workspace,
                name=body.get("name"),  # type: ignore[arg-type]  # validated inside
                type=body.get("type"),  # type: ignore[arg-type]
            )
            return project_json(project, workspace)

    return await run_in_threadpool(create)


@router.get(
    "/al-config/schema",
    summary="JSON Schema of the active learning configuration",
    response_model=None,
)
async def al_config_schema() -> dict[str, Any]:
    # The document format only, no workspace data: no key needed, like /openapi.json.
    return config_json_schema()


@router.get("/projects", summary="List projects")
def list_projects(workspace: WorkspaceDep, platform: PlatformDep) -> dict[str, Any]:
    with platform.db.read() as session:
        projects = store.list_projects(session=session, workspace=workspace)
    return {"projects": [project_json(p, workspace) for p in projects]}


@router.get("/projects/{project}", summary="One project")
def get_project(project: str, workspace: WorkspaceDep, platform: PlatformDep) -> dict[str, Any]:
    return project_json(platform.project(workspace, project), workspace)


@router.post(
    "/projects/{project}/datapoints",
    summary="Register a datapoint atomically",
    openapi_extra=openapi.DATAPOINT,
)
async def register(
    project: str, request: Request, workspace: WorkspaceDep, platform: PlatformDep
) -> JSONResponse:

    def datapoint(form: Multipart) -> DatapointMetadata:
        meta = form.json_object("metadata")
        if meta is None:
            raise BadRequestError("metadata: the JSON part 'metadata' is required")
        return datapoint_from_metadata(meta, form.json_object("prediction"))

    result = await register_upload(request, platform, workspace, project, datapoint)
    body = {
        "id": str(result.image.id),
        "duplicate": result.duplicate,
        "replayed": result.replayed,
    }
    created = not (result.duplicate or result.replayed)
    return JSONResponse(status_code=201 if created else 200, content=body)


DATAPOINT_BATCH_MAX = 64
"""Most datapoints one ``POST /v1/projects/{project}/datapoints/batch`` may carry."""


@router.post(
    "/projects/{project}/datapoints/batch",
    summary="Register many datapoints in one transaction",
    openapi_extra=openapi.DATAPOINT_BATCH,
)
async def register_batch(
    project: str, request: Request, workspace: WorkspaceDep, platform: PlatformDep
) -> JSONResponse:
    """Each datapoint as ``POST .../datapoints`` would register it, all in one transaction.

    The answer (200) has one result per datapoint, in order: ``{"id", "duplicate",
    "replayed"}`` or ``{"error": {"status", "message", "reason"}}`` for one the
    platform refused (the others are stored). A malformed request is a 400.
    """
    settings = platform.settings
    await run_in_threadpool(platform.project, workspace, project)  # 404 before the body is read
    form = await read_multipart(
        request,
        settings.max_upload_bytes,
        max_files=DATAPOINT_BATCH_MAX,
        max_fields=8,
        max_total=settings.max_upload_bytes * 4,
    )
    described = form.json("datapoints")
    if not isinstance(described, list) or not described:
        raise BadRequestError("datapoints: must be a non-empty JSON list")
    if len(described) > DATAPOINT_BATCH_MAX:
        raise BadRequestError(
            f"datapoints: {len(described)} datapoints, at most {DATAPOINT_BATCH_MAX} per request"
        )
    items: list[RegisterItem] = []
    for i, entry in enumerate(described):
        where = f"datapoints[{i}]"
        if not isinstance(entry, dict):
            raise BadRequestError(f"{where}: must be a JSON object")
        meta = entry.get("metadata")
        if not isinstance(meta, dict):
            raise BadRequestError(f"{where}.metadata: required, a JSON object")
        metadata = metadata_from_json(meta, where=f"{where}.metadata")
        prediction = entry.get("prediction")
        if prediction is not None:
            if not isinstance(prediction, dict):
                raise BadRequestError(f"{where}.prediction: must be a JSON object")
            metadata = replace(metadata, prediction=prediction)
        items.append(
            RegisterItem(
                workspace=workspace, project=project, data=form.file(f"file{i}"), datapoint=metadata
            )
        )
    registered = await run_in_threadpool(platform.register_many, items)
    results: list[dict[str, Any]] = []
    for result in registered:
        if isinstance(result, WinnowError):
            results.append({"error": {"status": result.status, **result.to_json()}})
        elif isinstance(result, Exception):
            raise result
        else:
            results.append(
                {
                    "id": str(result.image.id),
                    "duplicate": result.duplicate,
                    "replayed": result.replayed,
                }
            )
    return JSONResponse(content={"results": results})


@router.get("/projects/{project}/batches", summary="Labeling batches")
def batches(project: str, workspace: WorkspaceDep, platform: PlatformDep) -> dict[str, Any]:
    target = platform.project(workspace, project)
    with platform.db.read() as session:
        rows = store.list_batches(session=session, project=target)
    return {"batches": [batch_json(row) for row in rows]}


@router.get("/projects/{project}/images", summary="List images (cursor pagination)")
def images(
    project: str,
    workspace: WorkspaceDep,
    platform: PlatformDep,
    batch: str | None = None,
    tag: str | None = None,
    strategy: str | None = None,
    status: str | None = None,
    limit: int = Query(100),
    cursor: str | None = None,
    source: str | None = None,
) -> dict[str, Any]:
    target = platform.project(workspace, project)
    filters = store.ImageFilters(
        batch=batch, tag=tag, strategy=strategy, status=status, source=source
    )
    with platform.db.read() as session:
        page, next_cursor = store.list_images(
            session=session, project=target, filters=filters, limit=limit, cursor=cursor
        )
        names = {
            b.batch.id: b.batch.name for b in store.list_batches(session=session, project=target)
        }
        return {
            "images": [image_json(image, target.name, names) for image in page],
            "next_cursor": next_cursor,
        }


@router.get("/images/{image_id}", summary="An image with its annotations")
def image(image_id: str, workspace: WorkspaceDep, platform: PlatformDep) -> dict[str, Any]:
    return platform.image_details(workspace, image_id)


@router.get("/images/{image_id}/file", summary="The stored image bytes")
def image_file(image_id: str, workspace: WorkspaceDep, platform: PlatformDep) -> Response:
    data, content_type = platform.image_file(workspace, image_id)
    return Response(content=data, media_type=content_type)


@router.get("/projects/{project}/al-config", summary="The AL configuration in force")
def al_config(
    project: str, request: Request, workspace: WorkspaceDep, platform: PlatformDep
) -> Response:
    target = platform.project(workspace, project)
    with platform.db.read() as session:
        record = store.get_al_config(session=session, project=target)
    version = record.version if record is not None else 0
    etag = f'"{version}"'
    if _etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers={"ETag": etag})
    body = {
        "workspace": workspace.name,
        "project": target.name,
        "project_type": target.type,
        "version": record.version if record is not None else None,
        "config": record.config if record is not None else {"enabled": False},
    }
    return JSONResponse(content=body, headers={"ETag": etag})


@router.put(
    "/projects/{project}/al-config",
    summary="Save a new AL configuration version",
    openapi_extra=openapi.AL_CONFIG,
)
async def save_al_config(
    project: str, request: Request, workspace: WorkspaceDep, platform: PlatformDep
) -> dict[str, Any]:
    config = await json_body(request)
    return await store_al_config(
        request,
        platform,
        lambda: platform.project(workspace, project),
        config,
        config_version_json,
    )


@router.get("/projects/{project}/al-config/versions", summary="Configuration history")
def al_config_versions(
    project: str, workspace: WorkspaceDep, platform: PlatformDep
) -> dict[str, Any]:
    target = platform.project(workspace, project)
    with platform.db.read() as session:
        records = store.list_al_config_versions(session=session, project=target)
    return {"versions": [config_version_json(r) for r in records]}
