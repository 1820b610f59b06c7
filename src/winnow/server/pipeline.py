"""The path every inference request takes: model, decode once, infer, respond, then collect.

``run_inference`` is synchronous: it resolves the model first (so a bad key
or model id costs no decoding), checks each image (format, declared lengths,
header size against the pixel cap: a body that is not an image is a 400),
runs the model, which decodes what it needs (the stub nothing; every pixel is
decoded at most once), and stamps each prediction with its ``inference_id``
and ``time``. Routes call it in the thread pool, except when
:func:`serves_inline` says the work is a few microseconds (the stub on
base64/bytes JPEGs, every lookup cached): then it runs on the event loop, with
no thread-pool hop. ``schedule_collection`` adds one
background task per image that hands the very same decoded array and
prediction to the collector after the response has been sent; whatever
goes wrong there is logged once per cause and counted, never seen by the
client.
"""

from __future__ import annotations

import base64
import logging
import time
import uuid
from dataclasses import dataclass

from fastapi import BackgroundTasks

from winnow.activelearning.datapoint import CollectionContext
from winnow.errors import BadRequestError, WinnowError
from winnow.images import CapturedImage
from winnow.models.base import Model
from winnow.models.stub import StubModel
from winnow.predictions import Prediction, StubPrediction, prediction_to_json
from winnow.server.annotate import annotated_jpeg
from winnow.server.image_loading import load_image
from winnow.server.inference_request import ImageKind, InferenceRequest
from winnow.server.services import CollectorLike, Services
from winnow.states import DatapointOutcome

log = logging.getLogger(__name__)

# The v1 route segment and the task type a model must have to be served there.
ROUTE_TASKS: dict[str, str] = {
    "object_detection": "object-detection",
    "instance_segmentation": "instance-segmentation",
    "classification": "classification",
    "keypoints_detection": "keypoint-detection",
}


# Base64 text of a JPEG starts with the encoding of its magic bytes FF D8 FF.
_JPEG_BASE64 = "/9j/"
_JPEG_MAGIC = b"\xff\xd8\xff"
# Above this much image text per request the base64 decode alone is worth a thread.
INLINE_MAX_CHARS = 2 * 1024 * 1024


def serves_inline(services: Services, request: InferenceRequest) -> bool:
    """Whether ``run_inference`` of this request does no blocking work and no pixel work,
    so it may run on the event loop: the model is a stub the registry holds (key and
    project type fresh: no platform lookup), every image is base64 text or bytes of a
    JPEG (its header is all that is read), and at most ``INLINE_MAX_CHARS`` in all."""
    registry = services.registry
    if registry is None or not isinstance(
        registry.ready(request.api_key, request.model_id), StubModel
    ):
        return False
    total = 0
    for item in request.images:
        value = item.value
        if item.kind is ImageKind.BASE64 and isinstance(value, str):
            if not value.startswith(_JPEG_BASE64):
                return False
        elif item.kind is ImageKind.BYTES and isinstance(value, bytes):
            if value[:3] != _JPEG_MAGIC:
                return False
        else:
            return False
        total += len(value)
    return total <= INLINE_MAX_CHARS


@dataclass(slots=True)
class Served:
    """One image's outcome: the image (pixels and, when it came encoded, its bytes), the
    prediction and its id."""

    image: CapturedImage
    prediction: Prediction
    inference_id: str


def run_inference(
    services: Services, request: InferenceRequest, route_task: str | None
) -> tuple[Model, list[Served]]:
    """Resolve the model, check the route's task, decode every image once and predict.

    Raises ``BadRequestError`` when the model's task does not match
    ``route_task`` (naming both), and whatever the registry, decoder or URL
    fetcher raise (all 4xx ``WinnowError``).
    """
    registry = services.registry
    if registry is None:
        raise BadRequestError("this node does not serve models (role platform)")
    model = registry.get(request.api_key, request.model_id)
    if route_task is not None and model.task_type != route_task:
        right = next((seg for seg, task in ROUTE_TASKS.items() if task == model.task_type), None)
        hint = f"; use /infer/{right}" if right else ""
        raise BadRequestError(
            f"model {request.model_id} is a {model.task_type} model, but this route serves "
            f"{route_task}{hint}"
        )
    settings = services.settings
    images = []
    for index, item in enumerate(request.images):
        try:
            images.append(
                load_image(
                    item,
                    fetch_url=services.fetch_url,
                    max_bytes=settings.max_upload_bytes,
                    max_pixels=settings.max_image_pixels,
                    auto_orient=request.auto_orient,
                )
            )
        except WinnowError as exc:
            if request.as_list:  # say which image of the list; class and status stay
                exc.message = f"image[{index}]: {exc.message}"
            raise
    started = time.perf_counter()
    # The model decodes what it needs (the stub nothing; a detector maybe a reduced scale).
    predictions = model.infer(images, request.params)
    elapsed = time.perf_counter() - started
    if len(predictions) != len(images):
        raise RuntimeError(f"model {model.model_id} returned {len(predictions)} for {len(images)}")
    served = []
    for image, prediction in zip(images, predictions, strict=True):
        inference_id = str(uuid.uuid4())
        prediction.time = elapsed
        if not isinstance(prediction, StubPrediction):
            prediction.inference_id = inference_id
        served.append(Served(image=image, prediction=prediction, inference_id=inference_id))
    return model, served


def response_json(request: InferenceRequest, item: Served) -> dict[str, object]:
    """The reference-shaped body of one image; ``visualization`` added when asked for."""
    body: dict[str, object] = prediction_to_json(item.prediction)
    if request.visualize and not isinstance(item.prediction, StubPrediction):
        jpeg = annotated_jpeg(item.image.pixels(), item.prediction)
        body["visualization"] = base64.b64encode(jpeg).decode("ascii")
    return body


async def _submit(
    services: Services,
    collector: CollectorLike,
    image: CapturedImage,
    prediction: Prediction,
    context: CollectionContext,
) -> None:
    # ``submit`` only enqueues (never blocks), so it runs on the event loop after the
    # response: no thread-pool hop per request.
    try:
        if not collector.submit(image, prediction, context) and services.predlog is not None:
            _record(services, image, prediction, context, DatapointOutcome.DROPPED)
    except Exception as exc:  # collection must never reach the client
        cause = type(exc).__name__
        services.metrics.collection_errors.labels(cause=cause).inc()
        if cause not in services.logged_causes:
            services.logged_causes.add(cause)
            log.warning("collection failed (%s): %s; further failures are only counted", cause, exc)


def _record(
    services: Services,
    image: CapturedImage,
    prediction: Prediction,
    context: CollectionContext,
    outcome: DatapointOutcome,
) -> None:
    """One prediction-log record of an image the collector did not decide on."""
    assert services.predlog is not None
    services.predlog.served(
        image,
        prediction,
        api_key=context.api_key,
        project=context.project,
        model_id=context.model_id,
        inference_id=context.inference_id or "",
        outcome=outcome,
        source=context.source,
    )


async def _record_all(
    services: Services, items: list[tuple[Served, CollectionContext]], outcome: DatapointOutcome
) -> None:
    for item, context in items:
        _record(services, item.image, item.prediction, context, outcome)


def schedule_collection(
    background: BackgroundTasks,
    services: Services,
    request: InferenceRequest,
    served: list[Served],
) -> int:
    """Queue collection of every served image to run after the response; return how many.

    Images the collector never sees (collection off, or ``disable_active_learning``) are
    still recorded in the prediction log (``disabled``) after the response; an image the
    collector's full queue dropped is recorded ``dropped``.
    """
    collector = services.collector
    off = (
        collector is None
        or not services.settings.active_learning_enabled
        or request.disable_active_learning
    )
    if off and services.predlog is None:
        return 0
    project = request.target_dataset or request.project
    contexts = [
        CollectionContext(
            api_key=request.api_key,
            project=project,
            model_id=request.model_id,
            inference_id=item.inference_id,
            source=request.source or "http",
            source_info=request.source_info,
            tags=request.tags,
            extra=dict(request.metadata) if request.metadata else {},
        )
        for item in served
    ]
    if off or collector is None:
        pairs = list(zip(served, contexts, strict=True))
        background.add_task(_record_all, services, pairs, DatapointOutcome.DISABLED)
        return 0
    if services.shadow is not None:  # the shadow model runs, off the request path, for a share
        collector = services.shadow.for_request(collector, request.params)
    for item, context in zip(served, contexts, strict=True):
        background.add_task(_submit, services, collector, item.image, item.prediction, context)
    return len(served)
