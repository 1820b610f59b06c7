"""Crops of single objects, for ``collect: "crops"`` strategies: pure geometry, no I/O.

A crop is the pixel rectangle ``[x0, x1) x [y0, y1)`` of the source image
(integers, end exclusive) around one object's box, widened by the
strategy's ``crop_padding`` on every side and clipped to the image:

- ``crop_padding`` in ``[0, 1)``: a fraction of the box's own width (left and
  right) and height (top and bottom); a whole number ``>= 1``: pixels;
- ``x0 = floor(left - pad)`` and ``x1 = ceil(right + pad)`` (the same for y),
  so the whole box, padding included, is inside the crop whenever it is
  inside the image; an object with nothing inside the image has no crop.

What callers may rely on: ``crop_pixels(image, box)`` is exactly
``image[y0:y1, x0:x1]``; ``crop_prediction`` is the object alone, in the
crop's pixel coordinates: the box, polygon points and keypoints translated
by ``(-x0, -y0)``; the box and polygon points clipped to the crop (a box
partly outside the image keeps only its part inside); keypoints outside the
crop are dropped (moving them would put them on the wrong pixels). A source
pixel ``(u, v)`` is the crop pixel ``(u - x0, v - y0)``: the mapped annotation
lands on the same pixels.

:func:`crop_objects` says which objects a strategy crops (indices into
``detections``); ``None`` for predictions that have no objects
(classification, stubs), which a crops strategy collects whole.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from winnow.activelearning.config import (
    CloseToThresholdStrategy,
    DisagreementStrategy,
    Strategy,
)
from winnow.activelearning.disagreement import disagreement
from winnow.activelearning.objects import passing_objects, restrict
from winnow.images import ImageArray
from winnow.predictions import Detection, DetectionPrediction, ImageSize, Prediction

MAX_CROPS_PER_IMAGE = 32
"""At most this many crops (datapoints) are taken from one image, most confident first."""


@dataclass(slots=True, frozen=True)
class CropBox:
    """A pixel rectangle of the source image: columns ``x0 .. x1 - 1``, rows ``y0 .. y1 - 1``."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        """Columns in the crop."""
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        """Rows in the crop."""
        return self.y1 - self.y0


def crop_box(detection: Detection, width: int, height: int, padding: float) -> CropBox | None:
    """The crop of one object in a ``width`` x ``height`` image, or None when it has no pixels."""
    left, top, right, bottom = detection.xyxy()
    if padding < 1:
        pad_x, pad_y = padding * detection.width, padding * detection.height
    else:
        pad_x = pad_y = padding
    values = (left - pad_x, top - pad_y, right + pad_x, bottom + pad_y)
    if not all(math.isfinite(v) for v in values):
        return None
    x0 = min(max(math.floor(values[0]), 0), width)
    y0 = min(max(math.floor(values[1]), 0), height)
    x1 = min(max(math.ceil(values[2]), 0), width)
    y1 = min(max(math.ceil(values[3]), 0), height)
    if x1 <= x0 or y1 <= y0:
        return None
    return CropBox(x0, y0, x1, y1)


def crop_pixels(image: ImageArray, box: CropBox) -> ImageArray:
    """``image[y0:y1, x0:x1]`` as a contiguous array of its own."""
    return image[box.y0 : box.y1, box.x0 : box.x1].copy()


def _clip(value: float, high: int) -> float:
    return min(max(value, 0.0), float(high))


def crop_prediction(
    prediction: DetectionPrediction, index: int, box: CropBox
) -> DetectionPrediction:
    """The object ``detections[index]`` alone, mapped into ``box`` (module docstring)."""
    d = prediction.detections[index]
    w, h = box.width, box.height
    left, top, right, bottom = d.xyxy()
    x1, x2 = _clip(left - box.x0, w), _clip(right - box.x0, w)
    y1, y2 = _clip(top - box.y0, h), _clip(bottom - box.y0, h)
    points = None
    if d.points is not None:
        points = [(_clip(px - box.x0, w), _clip(py - box.y0, h)) for px, py in d.points]
    keypoints = None
    if d.keypoints is not None:
        keypoints = [
            replace(k, x=k.x - box.x0, y=k.y - box.y0)
            for k in d.keypoints
            if 0 <= k.x - box.x0 <= w and 0 <= k.y - box.y0 <= h
        ]
    mapped = replace(
        d,
        x=(x1 + x2) / 2,
        y=(y1 + y2) / 2,
        width=x2 - x1,
        height=y2 - y1,
        points=points,
        keypoints=keypoints,
    )
    return replace(prediction, image=ImageSize(width=w, height=h), detections=[mapped])


def crop_objects(
    strategy: Strategy, prediction: Prediction, shadow: Prediction | None
) -> list[int] | None:
    """Indices of the objects ``strategy`` crops, most confident first, at most
    :data:`MAX_CROPS_PER_IMAGE`; None when ``prediction`` has no objects.

    Only objects passing the strategy's ``conditions`` (when it has any), then:
    ``close_to_threshold``: the objects close to the threshold (of the selected
    classes); ``disagreement``: the served model's objects the shadow disagrees
    with (both restricted to passing objects); any other strategy: every object
    of its selected classes (all classes without a selection).
    """
    if not isinstance(prediction, DetectionPrediction):
        return None
    detections = prediction.detections
    selected: frozenset[str] | None = getattr(strategy, "selected", None)
    test = strategy.object_test
    view: Prediction = prediction
    if test is not None:  # only objects passing the conditions are the strategy's
        view = restrict(prediction, passing_objects(prediction, test))
    assert isinstance(view, DetectionPrediction)
    index = {id(d): i for i, d in enumerate(detections)}
    if isinstance(strategy, DisagreementStrategy):
        if shadow is None:
            return []
        if test is not None:
            shadow = restrict(shadow, passing_objects(shadow, test))
        found = disagreement(view, shadow, strategy.min_iou, selected).primary
        chosen = [index[id(view.detections[i])] for i in found]
    else:
        chosen = [
            index[id(d)] for d in view.detections if selected is None or d.class_name in selected
        ]
        if isinstance(strategy, CloseToThresholdStrategy):
            chosen = [
                i
                for i in chosen
                if abs(detections[i].confidence - strategy.threshold) < strategy.epsilon
            ]
    chosen.sort(key=lambda i: -detections[i].confidence)
    return chosen[:MAX_CROPS_PER_IMAGE]
