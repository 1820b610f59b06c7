"""Model version routes under ``/v1/models``: register, list, describe, download."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from winnow.errors import BadRequestError
from winnow.http.forms import read_multipart
from winnow.platform import store
from winnow.platform.deps import PlatformDep, WorkspaceDep
from winnow.platform.routes import openapi
from winnow.platform.views import model_json

router = APIRouter(prefix="/v1/models", tags=["model versions"])
MAX_MODEL_BYTES = 2 * 1024 * 1024 * 1024


@router.post(
    "", status_code=201, summary="Register an ONNX model version", openapi_extra=openapi.MODEL
)
async def add_model(
    request: Request, workspace: WorkspaceDep, platform: PlatformDep
) -> JSONResponse:
    form = await read_multipart(request, MAX_MODEL_BYTES)
    model_id = form.text("model_id")
    if not model_id:
        raise BadRequestError("model_id: required, as <project>/<version>")
    data = form.file("file")
    class_names = form.json("class_names")
    if class_names is not None and not isinstance(class_names, list):
        raise BadRequestError("class_names: must be a JSON list of strings")
    metadata = form.json_object("metadata")
    task_type = form.text("task_type") or None
    project, record = await run_in_threadpool(
        lambda: platform.add_model(
            workspace=workspace,
            model_id=model_id,
            data=data,
            task_type=task_type,
            class_names=class_names,
            metadata=metadata,
        )
    )
    return JSONResponse(status_code=201, content=model_json(project, record, workspace))


@router.get("", summary="List model versions")
def list_models(
    workspace: WorkspaceDep, platform: PlatformDep, project: str | None = None
) -> dict[str, Any]:
    with platform.db.read() as session:
        target = (
            store.get_project(session=session, workspace=workspace, name=project)
            if project
            else None
        )
        rows = store.list_model_versions(session=session, workspace=workspace, project=target)
    return {"models": [model_json(p, m, workspace) for p, m in rows]}


@router.get("/{project}/{version}", summary="One model version")
def get_model(
    project: str, version: int, workspace: WorkspaceDep, platform: PlatformDep
) -> dict[str, Any]:
    target, record = platform.model_version(workspace, project, version)
    return model_json(target, record, workspace)


@router.delete("/{project}/{version}", status_code=204, summary="Unregister a model version")
def delete_model(
    project: str, version: int, workspace: WorkspaceDep, platform: PlatformDep
) -> Response:
    platform.delete_model(workspace, project, version)
    return Response(status_code=204)


@router.get("/{project}/{version}/file", summary="The ONNX file")
def model_file(
    project: str, version: int, workspace: WorkspaceDep, platform: PlatformDep
) -> Response:
    _target, record = platform.model_version(workspace, project, version)
    data = platform.blobs.get(record.blob_key)
    return Response(
        content=data,
        media_type="application/octet-stream",
        headers={"X-Model-Sha256": record.sha256},
    )
