"""Endpoints the web pages call: image bytes and thumbnails, saving labels, review, config, export.

Authenticated by the session cookie (see :mod:`winnow.platform.sessions`); writes
also refuse cross-site requests. Errors are ``{"message": ...}`` with the
error's status, like the rest of the API.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from winnow.activelearning.config import ActiveLearningConfig, validate_config
from winnow.errors import (
    BadRequestError,
    InvalidConfigError,
    InvalidImageError,
    NotFoundError,
    PayloadTooLargeError,
    UnprocessableError,
)
from winnow.http.jsonbody import json_body
from winnow.images import decode_image, encode_jpeg, resize_to_fit
from winnow.platform import labeling, store
from winnow.platform.export.routes import export_response, make_query, parse_format
from winnow.platform.export.rows import project_classes
from winnow.platform.schema import Image, Project, Workspace
from winnow.platform.store.listing import get_batch, image_project
from winnow.web.context import WebContext, WebDep
from winnow.web.editor import saved_body

THUMB_SIZE = (320, 240)
THUMB_QUALITY = 75
DRY_RUN_WINDOWS = ("1h", "24h", "7d")
PRIVATE_CACHE = "private, max-age=86400"


def _image_and_project(
    ctx: WebContext, workspace: Workspace, image_id: str
) -> tuple[Image, Project]:
    with ctx.platform.db.read() as session:
        image = store.get_image(session=session, workspace=workspace, image_id=image_id)
        return image, image_project(session=session, image=image)


def thumbnail_bytes(ctx: WebContext, image: Image) -> bytes:
    """A small JPEG of the image, made once and kept in the blob store under ``thumbs/``."""
    key = f"thumbs/{image.blob_key}"
    blobs = ctx.platform.blobs
    try:
        return blobs.get(key)
    except NotFoundError:
        pass
    settings = ctx.platform.settings
    try:
        pixels = decode_image(
            blobs.get(image.blob_key),
            max_pixels=settings.max_image_pixels,
            max_bytes=settings.max_upload_bytes,
        )
    except (InvalidImageError, PayloadTooLargeError) as exc:
        # The blob is decoded again here: one that is corrupt, or was stored before today's
        # checks, is the same bounded refusal as at upload, never a 500.
        raise UnprocessableError(
            f"image {image.id} cannot be shown as a thumbnail: {exc.message}"
        ) from None
    data = encode_jpeg(resize_to_fit(pixels, THUMB_SIZE), THUMB_QUALITY)
    blobs.put(key, data)
    return data


router = APIRouter()


@router.get("/images/{image_id}/file", name="image_file")
def image_file(request: Request, ctx: WebDep, image_id: str) -> Response:
    workspace = ctx.require(request)
    data, content_type = ctx.platform.image_file(workspace, image_id)
    return Response(data, media_type=content_type, headers={"Cache-Control": PRIVATE_CACHE})


@router.get("/images/{image_id}/thumb", name="image_thumb")
def image_thumb(request: Request, ctx: WebDep, image_id: str) -> Response:
    workspace = ctx.require(request)
    image, _project = _image_and_project(ctx, workspace, image_id)
    return Response(
        thumbnail_bytes(ctx, image),
        media_type="image/jpeg",
        headers={"Cache-Control": PRIVATE_CACHE},
    )


@router.post("/images/{image_id}/annotation", name="image_annotation")
async def image_annotation(request: Request, ctx: WebDep, image_id: str) -> dict[str, Any]:
    workspace = ctx.require(request, write=True)
    payload = await json_body(request)

    def save() -> dict[str, Any]:
        with ctx.platform.db.write() as session:
            image = store.get_image(session=session, workspace=workspace, image_id=image_id)
            project = image_project(session=session, image=image)
            classes = project_classes(session=session, project=project)
            body = saved_body(
                project.type, payload, classes=classes, width=image.width, height=image.height
            )
            record = labeling.save_human_annotation(
                session=session, image=image, project=project, body=body.body, name=body.name
            )
            return {"success": True, "annotation_id": record.id, "status": image.status}

    return await run_in_threadpool(save)


@router.post("/images/{image_id}/status", name="image_status")
async def image_status(request: Request, ctx: WebDep, image_id: str) -> dict[str, Any]:
    workspace = ctx.require(request, write=True)
    payload = await json_body(request)
    status = payload.get("status") if isinstance(payload, dict) else None
    if not isinstance(status, str):
        raise BadRequestError("status: required, one of " + ", ".join(labeling.REVIEW_STATUSES))

    def apply() -> dict[str, Any]:
        with ctx.platform.db.write() as session:
            image = store.get_image(session=session, workspace=workspace, image_id=image_id)
            labeling.set_image_status(session=session, image=image, status=status)
            return {"success": True, "status": image.status}

    return await run_in_threadpool(apply)


@router.post("/projects/{project}/batches/{batch:batch}/review", name="batch_review")
def batch_review(
    request: Request, ctx: WebDep, project: str, batch: str, action: Annotated[str, Form()] = ""
) -> Response:
    workspace = ctx.require(request, write=True)
    with ctx.platform.db.write() as session:
        target = store.get_project(session=session, workspace=workspace, name=project)
        record = get_batch(session=session, project=target, name=batch)
        labeling.review_batch(session=session, batch=record, action=action)
    return RedirectResponse(
        request.url_for("batch", project=project, batch=batch).path, status_code=303
    )


@router.post("/projects/{project}/batches/{batch:batch}/held-out", name="batch_held_out")
def batch_held_out(
    request: Request, ctx: WebDep, project: str, batch: str, held_out: Annotated[str, Form()] = ""
) -> Response:
    workspace = ctx.require(request, write=True)
    if held_out not in ("true", "false"):
        raise BadRequestError(f"held_out: must be true or false; got {held_out!r}")
    with ctx.platform.db.write() as session:
        target = store.get_project(session=session, workspace=workspace, name=project)
        get_batch(session=session, project=target, name=batch).held_out = held_out == "true"
    return RedirectResponse(
        request.url_for("batch", project=project, batch=batch).path, status_code=303
    )


def _project(ctx: WebContext, workspace: Workspace, project: str) -> Project:
    with ctx.platform.db.read() as session:
        return store.get_project(session=session, workspace=workspace, name=project)


async def _config_of(request: Request) -> tuple[Any, dict[str, Any]]:
    payload = await json_body(request)
    if not isinstance(payload, dict) or "config" not in payload:
        raise BadRequestError('body: must be {"config": {...}}')
    return payload["config"], payload


@router.post("/projects/{project}/config/validate", name="config_validate")
async def config_validate(request: Request, ctx: WebDep, project: str) -> JSONResponse:
    workspace = ctx.require(request)
    _project(ctx, workspace, project)
    config, _ = await _config_of(request)
    try:
        model = validate_config(config)
    except InvalidConfigError as exc:
        return JSONResponse({"valid": False, "errors": exc.errors, "message": exc.message})
    return JSONResponse(
        {
            "valid": True,
            "errors": [],
            "warnings": list(model.warnings),
            "summary": model.summary(),
        }
    )


@router.post("/projects/{project}/config", name="config_save")
async def config_save(request: Request, ctx: WebDep, project: str) -> dict[str, Any]:
    workspace = ctx.require(request, write=True)
    config, _ = await _config_of(request)

    def save() -> dict[str, Any]:
        with ctx.platform.db.write() as session:
            target = store.get_project(session=session, workspace=workspace, name=project)
            record = store.save_al_config(
                session=session, project=target, config=config, created_by="web"
            )
            warnings = list(validate_config(config).warnings)
            return {"success": True, "version": record.version, "warnings": warnings}

    return await run_in_threadpool(save)


@router.post("/projects/{project}/config/dry-run", name="config_dry_run")
async def config_dry_run(request: Request, ctx: WebDep, project: str) -> dict[str, Any]:
    """The editor's dry run: the backtest of the text in the editor and of the saved version,
    over the last hour, day or week of logged predictions (``window``: 1h, 24h or 7d)."""
    from winnow.backtest import service

    workspace = ctx.require(request)
    config, payload = await _config_of(request)
    window = payload.get("window", "24h")
    if window not in DRY_RUN_WINDOWS:
        raise BadRequestError("window: must be one of " + ", ".join(DRY_RUN_WINDOWS))
    seed = service.seed_of(payload.get("seed"))
    draft = validate_config(config)
    since, until = service.window(window, None)

    def run() -> dict[str, Any]:
        with ctx.platform.db.read() as session:
            target = store.get_project(session=session, workspace=workspace, name=project)
            saved = store.get_al_config(session=session, project=target)

        def backtest(config: ActiveLearningConfig) -> dict[str, Any]:
            return service.run(
                ctx.platform,
                workspace=workspace,
                project=target,
                config=config,
                since=since,
                until=until,
                seed=seed,
            )

        result: dict[str, Any] = {
            "window": window,
            "draft": backtest(draft),
            "saved": None,
            "saved_version": None if saved is None else saved.version,
        }
        if saved is not None:
            try:
                model = validate_config(saved.config)
            except InvalidConfigError:
                return result
            result["saved"] = backtest(model)
        return result

    return await run_in_threadpool(run)


@router.get("/projects/{project}/export.zip", name="ui_export")
def ui_export(
    request: Request,
    ctx: WebDep,
    project: str,
    format: str = "coco",
    batch: Annotated[list[str] | None, Query()] = None,
    status: Annotated[list[str] | None, Query()] = None,
    split: str = "0.8,0.1,0.1",
    seed: int = 0,
) -> Response:
    workspace = ctx.require(request)
    query = make_query(batches=batch or (), statuses=status or (), split=split, seed=seed)
    return export_response(ctx.platform, workspace, project, parse_format(format), query)
