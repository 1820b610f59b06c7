"""The prediction record page (``/app/predictions?inference_id=...``) and the labeling page's "why".

The search box in the header of every signed-in page asks this page for an
inference id; it shows the record of the prediction in the signed-in workspace
(``PredictionStore.find``: DuckDB over the shipped segments) with its collection
decision explained in words, and links the collected image when there is one.
An id no shipped segment of the workspace holds is a 404 page.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from winnow.errors import NotFoundError
from winnow.platform.schema import Image, Workspace
from winnow.web.context import WebContext, WebDep

_WHY = {
    "disabled": "not collected: active learning was off for this prediction (switched off, "
    "the project's configuration disabled, or the request said disable_active_learning)",
    "not_sampled": "not collected: no sampling strategy matched",
    "duplicate": "not collected: a near-duplicate of a recent image of the same source",
    "limited": "not collected: every matching strategy had spent its limit",
    "batch_full": "not collected: the batch was full (max_batch_images)",
    "dropped": "not collected: the node's collection queue was full",
    "refused": "not collected: refused (wrong task for the project, or the outbox was full)",
    "queued": "collected",
    "error": "not collected: collection failed (see winnow_collection_errors)",
}


def add_predictions_page(router: APIRouter) -> None:
    """Register the prediction record page on the web UI's router."""
    router.get("/predictions", name="prediction")(prediction_page)


def why(record: dict[str, Any]) -> str:
    """The decision of a record in one sentence."""
    outcome = str(record.get("outcome"))
    text = _WHY.get(outcome, outcome)
    if outcome == "queued" and record.get("paid"):
        text += f" by strategy {record['paid']}"
    if record.get("limited_by"):
        text += f" ({record['limited_by']})"
    return text


async def lookup(ctx: WebContext, workspace: Workspace, inference_id: str) -> dict[str, Any] | None:
    """The record of ``inference_id`` in ``workspace`` with ``why`` added, or None."""
    record = await run_in_threadpool(ctx.platform.predictions.find, workspace.name, inference_id)
    if record is not None:
        record["why"] = why(record)
    return record


async def prediction_page(
    request: Request, ctx: WebDep, inference_id: str | None = None
) -> Response:
    workspace = ctx.require(request)
    inference_id = (inference_id or "").strip()
    record = None
    image_url = None
    if inference_id:
        record = await lookup(ctx, workspace, inference_id)
        if record is None:
            raise NotFoundError(
                f"prediction {inference_id!r} not found in this workspace (records appear "
                "once their node's segment has closed and shipped)"
            )
        if record["image_id"] is not None:
            image_url = _image_url(request, ctx, record["image_id"])
    return ctx.render(
        request,
        "prediction.html",
        workspace=workspace,
        inference_id=inference_id,
        record=record,
        image_url=image_url,
    )


def _image_url(request: Request, ctx: WebContext, image_id: str) -> str | None:
    from winnow.platform.schema import Project

    with ctx.platform.db.read() as session:
        image = session.get(Image, int(image_id))
        project = session.get(Project, image.project_id) if image is not None else None
    if image is None or project is None:
        return None
    return request.url_for("label", project=project.name, image_id=image_id).path
