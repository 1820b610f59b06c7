"""The v1 inference routes: ``POST /infer/{object_detection|instance_segmentation|classification|keypoints_detection}``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request
from starlette.concurrency import run_in_threadpool

from winnow.http.body import body_limit, read_body
from winnow.http.jsonbody import parse_json
from winnow.http.jsonresponse import FastJSONResponse
from winnow.server.inference_request import InferenceRequest, parse_v1
from winnow.server.pipeline import (
    ROUTE_TASKS,
    Served,
    response_json,
    run_inference,
    schedule_collection,
    serves_inline,
)
from winnow.server.services import Services, ServicesDep

router = APIRouter(tags=["inference"])

_IMAGE = {
    "type": "object",
    "required": ["type", "value"],
    "properties": {
        "type": {"type": "string", "enum": ["base64", "url"]},
        "value": {"type": "string"},
    },
}
# The body is parsed by hand (unknown fields ignored, messages naming the field);
# this schema only documents it in /docs.
REQUEST_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["model_id", "image"],
                    "properties": {
                        "api_key": {"type": "string"},
                        "model_id": {"type": "string", "example": "my-project/1"},
                        "image": {"oneOf": [_IMAGE, {"type": "array", "items": _IMAGE}]},
                        "confidence": {"type": "number"},
                        "iou_threshold": {"type": "number"},
                        "max_detections": {"type": "integer"},
                        "class_filter": {"type": "array", "items": {"type": "string"}},
                        "disable_active_learning": {"type": "boolean"},
                        "active_learning_target_dataset": {"type": "string"},
                        "source": {"type": "string", "maxLength": 128},
                        "source_info": {"type": "string", "maxLength": 256},
                        "active_learning_tags": {
                            "type": "array",
                            "items": {"type": "string"},
                            "maxItems": 32,
                        },
                        "active_learning_metadata": {"type": "object"},
                    },
                }
            }
        },
    }
}


async def infer_v1(
    route: str, request: Request, background: BackgroundTasks, services: ServicesDep
) -> FastJSONResponse:
    """Serve one v1 request for the task of ``route``: JSON object in, object or array out."""
    body = await read_body(request, body_limit(services.settings.max_upload_bytes))
    parsed = parse_v1(
        parse_json(body),
        request.headers.get("authorization"),
        metadata_max_bytes=services.settings.active_learning_metadata_max_bytes,
    )
    if serves_inline(services, parsed):
        served, bodies = _serve(services, parsed, ROUTE_TASKS[route])
    else:
        served, bodies = await run_in_threadpool(_serve, services, parsed, ROUTE_TASKS[route])
    schedule_collection(background, services, parsed, served)
    return FastJSONResponse(bodies if parsed.as_list else bodies[0])


def _serve(
    services: Services, parsed: InferenceRequest, task: str
) -> tuple[list[Served], list[dict[str, object]]]:
    # Bodies are built here, off the event loop: a visualization is a JPEG encode.
    _, served = run_inference(services, parsed, task)
    return served, [response_json(parsed, item) for item in served]


@router.post("/infer/object_detection", openapi_extra=REQUEST_DOC)
async def infer_object_detection(
    request: Request, background: BackgroundTasks, services: ServicesDep
) -> FastJSONResponse:
    """Object detection: ``{"api_key", "model_id", "image", ...params}``."""
    return await infer_v1("object_detection", request, background, services)


@router.post("/infer/instance_segmentation", openapi_extra=REQUEST_DOC)
async def infer_instance_segmentation(
    request: Request, background: BackgroundTasks, services: ServicesDep
) -> FastJSONResponse:
    """Instance segmentation: detections with polygon ``points``."""
    return await infer_v1("instance_segmentation", request, background, services)


@router.post("/infer/classification", openapi_extra=REQUEST_DOC)
async def infer_classification(
    request: Request, background: BackgroundTasks, services: ServicesDep
) -> FastJSONResponse:
    """Classification, single- or multi-label."""
    return await infer_v1("classification", request, background, services)


@router.post("/infer/keypoints_detection", openapi_extra=REQUEST_DOC)
async def infer_keypoints_detection(
    request: Request, background: BackgroundTasks, services: ServicesDep
) -> FastJSONResponse:
    """Keypoint detection: detections with ``keypoints``."""
    return await infer_v1("keypoints_detection", request, background, services)
