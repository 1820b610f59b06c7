"""The legacy (v0) route ``POST /{project}/{version}``.

The image arrives as the raw base64 body (whatever the Content-Type says,
``application/json`` and ``x-www-form-urlencoded`` included), as the part
``file`` of a multipart body, or as ``?image=<url>``; parameters come in
the query string. ``format=image`` answers with an annotated JPEG. Mounted
last, and only for integer versions, so it never shadows other routes.
"""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from winnow.errors import BadRequestError, PayloadTooLargeError
from winnow.http.body import body_limit, read_body
from winnow.http.jsonresponse import FastJSONResponse
from winnow.server.annotate import annotated_jpeg
from winnow.server.inference_request import (
    ImageInput,
    ImageKind,
    legacy_body_image,
    parse_legacy_query,
)
from winnow.server.pipeline import (
    response_json,
    run_inference,
    schedule_collection,
    serves_inline,
)
from winnow.server.services import ServicesDep

router = APIRouter(tags=["inference"])


async def _multipart_image(request: Request, max_bytes: int) -> ImageInput:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > body_limit(max_bytes):
        raise PayloadTooLargeError(f"request body is {declared} bytes, over the upload limit")
    try:
        form = await request.form(max_files=4, max_fields=64)
    except Exception as exc:  # python-multipart raises several types for broken bodies
        raise BadRequestError(f"multipart body cannot be parsed: {exc}") from None
    try:
        part = form.get("file")
        if not isinstance(part, UploadFile):
            raise BadRequestError("multipart body has no file part named 'file'")
        data = await part.read(max_bytes + 1)
    finally:
        await form.close()
    if len(data) > max_bytes:
        raise PayloadTooLargeError(f"image is over the upload limit of {max_bytes} bytes")
    if not data:
        raise BadRequestError("multipart part 'file' is empty")
    return ImageInput(ImageKind.BYTES, data)


@router.post("/{project}/{version:int}", response_model=None)
async def infer_legacy(
    project: str,
    version: int,
    request: Request,
    background: BackgroundTasks,
    services: ServicesDep,
) -> Response:
    """Legacy inference: base64 body, multipart ``file`` or ``?image=`` URL."""
    query = dict(request.query_params)
    # repeated ?active_learning_tags=a&active_learning_tags=b count as well as a,b
    query["active_learning_tags"] = ",".join(request.query_params.getlist("active_learning_tags"))
    parsed = parse_legacy_query(
        project,
        str(version),
        query,
        request.headers.get("authorization"),
        metadata_max_bytes=services.settings.active_learning_metadata_max_bytes,
    )
    max_bytes = services.settings.max_upload_bytes
    content_type = request.headers.get("content-type", "").lower()
    if query.get("image"):
        parsed.images = [ImageInput(ImageKind.URL, query["image"])]
    elif not content_type:
        raise BadRequestError(
            "Content-Type header is missing; send the base64 image with Content-Type "
            "application/json or application/x-www-form-urlencoded, multipart/form-data "
            "with a 'file' part, or pass ?image=<url>"
        )
    elif content_type.startswith("multipart/form-data"):
        parsed.images = [await _multipart_image(request, max_bytes)]
    else:
        parsed.images = [legacy_body_image(await read_body(request, body_limit(max_bytes)))]
    if serves_inline(services, parsed) and parsed.response_format == "json":
        _, served = run_inference(services, parsed, None)
    else:
        _, served = await run_in_threadpool(run_inference, services, parsed, None)
    schedule_collection(background, services, parsed, served)
    item = served[0]
    if parsed.response_format == "image":
        jpeg = await run_in_threadpool(annotated_jpeg, item.image.pixels(), item.prediction)
        return Response(content=jpeg, media_type="image/jpeg", background=background)
    return FastJSONResponse(response_json(parsed, item), background=background)
