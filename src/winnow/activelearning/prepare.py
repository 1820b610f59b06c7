"""Preparing a datapoint once it has won its budget: resize, encode, rescale, tag.

Nothing here runs for an image that was not sampled and given a credit: the
collector calls :func:`prepare` only after ``limits.take`` succeeded.

A JPEG that needs no work is stored as it was sent (see :func:`prepare`): no
decode and re-encode, no second generation of JPEG loss, and the stored bytes
are the served ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from winnow.images import CapturedImage, ImageArray, encode_jpeg, resize_to_fit
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
    annotate). ``as_sent`` is True when ``jpeg`` is the image's original bytes.
    """

    jpeg: bytes
    width: int
    height: int
    prediction_json: dict[str, Any] | None
    as_sent: bool = False


def prepare(
    image: ImageArray | CapturedImage,
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

    Kept as sent: a :class:`CapturedImage` whose original bytes are a JPEG with no EXIF
    rotation (:attr:`~CapturedImage.original_decodes_as_pixels`) that already fits
    ``max_image_size`` is stored byte for byte, once libjpeg-turbo has checked that they
    decode (``InvalidImageError`` when nothing decodes them; a JPEG only the fallback
    decoders read, such as CMYK, is encoded again): it decodes to exactly the pixels that were
    served, and ``jpeg_quality`` does not apply to it (it keeps the quality it was
    sent with). Every other image (resized, rotated, another format, a video frame)
    is encoded at ``jpeg_quality``.
    """
    kept = _as_sent(image, max_image_size) if isinstance(image, CapturedImage) else None
    if kept is not None:
        jpeg, width, height = kept
    else:
        pixels = image.pixels() if isinstance(image, CapturedImage) else image
        resized = resize_to_fit(pixels, max_image_size)
        height, width = int(resized.shape[0]), int(resized.shape[1])
        jpeg = encode_jpeg(resized, jpeg_quality)
    prediction_json: dict[str, Any] | None = None
    if persist_predictions and not isinstance(prediction, StubPrediction):
        prediction_json = prediction_to_json(rescale_prediction(prediction, width, height))
    return Prepared(
        jpeg=jpeg,
        width=width,
        height=height,
        prediction_json=prediction_json,
        as_sent=kept is not None,
    )


def _as_sent(
    image: CapturedImage, max_size: tuple[int, int] | None
) -> tuple[bytes, int, int] | None:
    """The original JPEG and its size when it is kept as sent (checked to decode), else None."""
    original = image.original
    if original is None or not image.original_decodes_as_pixels:
        return None
    if not _fits(image.width, image.height, max_size):
        return None
    if not image.check_decodes():  # only a fallback decoder reads it (CMYK, ...): encode it
        return None
    return original, image.width, image.height


def _fits(width: int, height: int, max_size: tuple[int, int] | None) -> bool:
    """Whether ``resize_to_fit`` would leave an image of this size as it is."""
    return max_size is None or (height <= max_size[0] and width <= max_size[1])


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
