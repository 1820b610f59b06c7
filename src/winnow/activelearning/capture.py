"""Captures: a datapoint that won its credit, written to the outbox before any image work.

The serving process writes the image's ORIGINAL encoded bytes (as the client
sent them), the prediction as served and a :class:`PrepareSpec` (how to make
the stored JPEG) to the outbox, and returns to serving. The node's collection
process later turns the capture into the prepared :class:`Datapoint` with
:func:`prepare_capture`: decode, resize, encode and rescale the prediction
(``winnow.activelearning.prepare``), exactly what the serving process did
itself before captures existed, so the platform stores the same thing.

A capture also carries the :class:`Credit` it was paid with, so whichever
process delivers it can give the credit back (an exact duplicate, a full
batch) through a limits backend shared by the node's processes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from winnow.activelearning.datapoint import Datapoint
from winnow.activelearning.limits.base import BatchCap, Budget, Credit, Window
from winnow.activelearning.prepare import prepare
from winnow.images import CapturedImage, decode_image
from winnow.predictions import prediction_from_json


@dataclass(slots=True, frozen=True)
class PrepareSpec:
    """How the collection process prepares a capture (the configuration's values at capture).

    ``max_image_size`` is (height, width) or None, ``jpeg_quality`` 1-100;
    ``persist_predictions`` False stores no pre-annotation; ``max_pixels`` and
    ``auto_orient`` are the decoder's settings the serving process used.
    """

    max_image_size: tuple[int, int] | None
    jpeg_quality: int
    persist_predictions: bool
    max_pixels: int
    auto_orient: bool = True


def spec_to_json(spec: PrepareSpec) -> dict[str, Any]:
    """The spec as JSON (the outbox row's ``capture`` key)."""
    size = spec.max_image_size
    return {
        "max_image_size": None if size is None else [size[0], size[1]],
        "jpeg_quality": spec.jpeg_quality,
        "persist_predictions": spec.persist_predictions,
        "max_pixels": spec.max_pixels,
        "auto_orient": spec.auto_orient,
    }


def spec_from_json(obj: dict[str, Any]) -> PrepareSpec:
    """The inverse of :func:`spec_to_json`."""
    size = obj.get("max_image_size")
    return PrepareSpec(
        max_image_size=None if size is None else (int(size[0]), int(size[1])),
        jpeg_quality=int(obj["jpeg_quality"]),
        persist_predictions=bool(obj["persist_predictions"]),
        max_pixels=int(obj["max_pixels"]),
        auto_orient=bool(obj.get("auto_orient", True)),
    )


def credit_to_json(credit: Credit) -> dict[str, Any]:
    """A credit as JSON, so another process can give it back."""
    batch = credit.batch
    return {
        "strategy": credit.strategy,
        "scope": credit.budget.scope,
        "limits": [[window.value, value] for window, value in credit.budget.limits],
        "source_limits": [[w.value, value] for w, value in credit.budget.source_limits],
        "source": credit.source,
        "batch": None
        if batch is None
        else {"scope": batch.scope, "name": batch.batch_name, "max": batch.max_images},
        "taken_at": credit.taken_at.isoformat(),
    }


def credit_from_json(obj: dict[str, Any]) -> Credit:
    """The inverse of :func:`credit_to_json`."""
    batch = obj.get("batch")
    return Credit(
        strategy=obj["strategy"],
        budget=Budget(
            scope=obj["scope"],
            strategy=obj["strategy"],
            limits=tuple((Window(w), int(v)) for w, v in obj["limits"]),
            source_limits=tuple((Window(w), int(v)) for w, v in obj.get("source_limits", ())),
        ),
        batch=None
        if batch is None
        else BatchCap(scope=batch["scope"], batch_name=batch["name"], max_images=batch["max"]),
        taken_at=datetime.fromisoformat(obj["taken_at"]),
        source=obj.get("source"),
    )


def prepare_capture(datapoint: Datapoint, spec: PrepareSpec) -> Datapoint:
    """The prepared datapoint of a capture: its JPEG, its size and the prediction rescaled to it.

    ``datapoint.image_jpeg`` holds the original bytes, ``width``/``height`` the
    served image's size and ``prediction`` the prediction as served. Raises
    ``InvalidImageError`` when the original does not decode (the serving
    process may not have decoded it: a stub answers from the header alone).
    """
    original = datapoint.image_jpeg

    def decode() -> Any:
        pixels = decode_image(original, max_pixels=spec.max_pixels, auto_orient=spec.auto_orient)
        if (pixels.shape[1], pixels.shape[0]) != (datapoint.width, datapoint.height):
            # Served without EXIF orientation (disable_preproc_auto_orient) and turned by it.
            pixels = decode_image(original, max_pixels=spec.max_pixels, auto_orient=False)
        return pixels

    image = CapturedImage.from_bytes(
        original, max_pixels=spec.max_pixels, auto_orient=spec.auto_orient
    )
    if (image.width, image.height) != (datapoint.width, datapoint.height):
        image = CapturedImage(
            width=datapoint.width, height=datapoint.height, original=original, decode=decode
        )
    served = datapoint.prediction
    prediction = prediction_from_json(
        served if served is not None else {"is_stub": True}, datapoint.task_type
    )
    # The CapturedImage itself: a JPEG that needs no work is kept as sent (prepare.py).
    prepared = prepare(
        image,
        prediction,
        max_image_size=spec.max_image_size,
        jpeg_quality=spec.jpeg_quality,
        persist_predictions=spec.persist_predictions,
    )
    return dataclasses.replace(
        datapoint,
        image_jpeg=prepared.jpeg,
        width=prepared.width,
        height=prepared.height,
        prediction=prepared.prediction_json,
    )
