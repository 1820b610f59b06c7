"""Preparing a datapoint once it has won its budget: resize, encode, rescale, tag.

Nothing here runs for an image that was not sampled and given a credit: the
collector calls :func:`prepare` only after ``limits.take`` succeeded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from winnow.images import ImageArray, encode_jpeg, resize_to_fit
from winnow.predictions import (
    Prediction,
    StubPrediction,
    prediction_to_json,
    rescale_prediction,
)


@dataclass(slots=True, frozen=True)
class Prepared:
    """The encoded image and the prediction mapped onto it.

    ``width`` and ``height`` are those of the encoded JPEG. ``prediction_json``
    is the reference-shaped prediction rescaled to them, or None when
    predictions are not persisted or the prediction is a stub (nothing to
    annotate).
    """

    jpeg: bytes
    width: int
    height: int
    prediction_json: dict[str, Any] | None


def prepare(
    image: ImageArray,
    prediction: Prediction,
    *,
    max_image_size: tuple[int, int] | None,
    jpeg_quality: int,
    persist_predictions: bool,
) -> Prepared:
    """Downscale ``image`` to fit ``max_image_size`` (height, width), JPEG-encode it, rescale.

    The image is never upscaled and keeps its aspect ratio. The prediction is
    rescaled per axis from the size it declares to the encoded size, so every
    box, polygon point and keypoint lands on the same pixels of the JPEG.
    The input image and prediction are not modified.
    """
    resized = resize_to_fit(image, max_image_size)
    height, width = int(resized.shape[0]), int(resized.shape[1])
    jpeg = encode_jpeg(resized, jpeg_quality)
    prediction_json: dict[str, Any] | None = None
    if persist_predictions and not isinstance(prediction, StubPrediction):
        prediction_json = prediction_to_json(rescale_prediction(prediction, width, height))
    return Prepared(jpeg=jpeg, width=width, height=height, prediction_json=prediction_json)


def build_tags(
    settings_tags: Iterable[str],
    config_tags: Iterable[str],
    strategy_tags: Iterable[str],
    source_tags: Iterable[str],
    model_id: str,
    persist_predictions: bool,
) -> tuple[str, ...]:
    """The tags of a datapoint, in order, each once (the first occurrence wins).

    ``ACTIVE_LEARNING_TAGS`` (settings), then the configuration's tags, the
    strategy's tags, the source's tags, then the model id with ``/`` replaced
    by ``-`` when predictions are persisted (so the pre-annotation's origin
    can be filtered on). Empty tags are skipped.
    """
    ordered: list[str] = [*settings_tags, *config_tags, *strategy_tags, *source_tags]
    if persist_predictions and model_id:
        ordered.append(model_id.replace("/", "-"))
    return tuple(dict.fromkeys(tag for tag in ordered if tag))
