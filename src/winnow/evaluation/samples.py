"""What evaluation compares: per image, the human truth and one model version's prediction.

Pure data, no database: :mod:`winnow.evaluation.query` builds these from
stored annotations, the tests build them from plain lists. Boxes are
``(x1, y1, x2, y2)`` in pixels of the stored image; polygons (instance
segmentation) are flat ``[x1, y1, x2, y2, ...]`` lists.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from winnow.errors import PredictionFormatError
from winnow.predictions import ClassificationPrediction, prediction_from_json

DETECTION_FAMILY = frozenset({"object-detection", "instance-segmentation", "keypoint-detection"})


@dataclass(slots=True)  # not frozen: frozen __init__ is 3x slower, and there are 100,000s
class Box:
    """One object: class, box, confidence (1.0 for a human box), optional polygon."""

    class_name: str
    xyxy: tuple[float, float, float, float]
    confidence: float = 1.0
    polygon: tuple[float, ...] | None = None


@dataclass(slots=True)
class DetectionSample:
    """One image of a detection-family project: the human boxes and the model's boxes."""

    image_id: int
    width: int
    height: int
    truth: list[Box] = field(default_factory=list)
    predicted: list[Box] = field(default_factory=list)


@dataclass(slots=True)
class ClassificationSample:
    """One image of a classification project: the human classes and the predicted classes."""

    image_id: int
    truth: tuple[str, ...]
    predicted: tuple[str, ...]


def boxes_from_body(body: str, fmt: str) -> list[Box]:
    """The boxes of a stored detection annotation body (prediction JSON).

    Bodies were validated when stored (:func:`winnow.platform.store.annotations.check_annotation`),
    so this reads them directly rather than through ``prediction_from_json``: evaluating
    100,000 boxes must stay well under a second. ``PredictionFormatError`` when the body
    is not detection JSON after all.
    """
    if fmt != "json":
        raise PredictionFormatError("a detection annotation must be JSON")
    try:
        items = json.loads(body)["predictions"]
        out = []
        for d in items:
            x, y, hw, hh = d["x"], d["y"], d["width"] / 2, d["height"] / 2
            points = d.get("points")
            polygon = tuple(v for p in points for v in (p["x"], p["y"])) if points else None
            out.append(
                Box(
                    str(d.get("class", "")),
                    (x - hw, y - hh, x + hw, y + hh),
                    float(d.get("confidence", 1.0)),
                    polygon,
                )
            )
    except (ValueError, KeyError, TypeError) as exc:
        raise PredictionFormatError(f"not a detection prediction ({exc})") from None
    return out


def classes_from_body(body: str, fmt: str) -> tuple[str, ...]:
    """The classes of a stored classification annotation: text lines or prediction JSON.

    Single-label JSON gives its top class; multi-label JSON its ``predicted_classes``.
    """
    if fmt == "txt":
        return tuple(line.strip() for line in body.splitlines() if line.strip())
    prediction = prediction_from_json(json.loads(body), "classification")
    if not isinstance(prediction, ClassificationPrediction):
        raise PredictionFormatError("not a classification prediction")
    return tuple(prediction.predicted_classes)
