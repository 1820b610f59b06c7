"""Typed predictions for every task, with reference-shaped JSON in and out.

One internal type per task family; everything downstream (samplers, the
collector, the platform, export) reads only these. ``prediction_from_json``
and ``prediction_to_json`` are the converters at the edge: the JSON is the
shape the reference inference server answers with (see compat.md), null
fields omitted. ``rescale_prediction`` maps a prediction onto a resized copy
of its image, per axis, for every task type.

Coordinates follow the reference: a detection's ``x, y`` is the box centre,
in pixels of the image the prediction was made on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from winnow.errors import PredictionFormatError


class TaskType(StrEnum):
    """Task types as the inference API names them."""

    OBJECT_DETECTION = "object-detection"
    INSTANCE_SEGMENTATION = "instance-segmentation"
    KEYPOINT_DETECTION = "keypoint-detection"
    CLASSIFICATION = "classification"


DETECTION_TASKS = frozenset(
    {TaskType.OBJECT_DETECTION, TaskType.INSTANCE_SEGMENTATION, TaskType.KEYPOINT_DETECTION}
)


@dataclass(slots=True)
class ImageSize:
    """Width and height in pixels of the image a prediction refers to."""

    width: int
    height: int


@dataclass(slots=True)
class Keypoint:
    """One keypoint of a detected object."""

    x: float
    y: float
    confidence: float
    class_id: int
    class_name: str


@dataclass(slots=True)
class Detection:
    """One detected object. ``x, y`` is the box centre."""

    x: float
    y: float
    width: float
    height: float
    confidence: float
    class_name: str
    class_id: int
    detection_id: str | None = None
    points: list[tuple[float, float]] | None = None
    keypoints: list[Keypoint] | None = None

    def xyxy(self) -> tuple[float, float, float, float]:
        """The box as (x1, y1, x2, y2)."""
        hw, hh = self.width / 2, self.height / 2
        return (self.x - hw, self.y - hh, self.x + hw, self.y + hh)


@dataclass(slots=True)
class DetectionPrediction:
    """Object detection, instance segmentation or keypoint detection output."""

    task_type: TaskType
    image: ImageSize
    detections: list[Detection]
    inference_id: str | None = None
    time: float | None = None


@dataclass(slots=True)
class ClassScore:
    """One class's confidence in a classification."""

    class_name: str
    class_id: int
    confidence: float


@dataclass(slots=True)
class ClassificationPrediction:
    """Single-label or multi-label classification output.

    ``classes`` holds every scored class, sorted by confidence (highest first).
    ``predicted_classes`` is the top class for single-label, and the classes
    over the model's threshold for multi-label.
    """

    image: ImageSize
    classes: list[ClassScore]
    multi_label: bool = False
    predicted_classes: list[str] = field(default_factory=list)
    inference_id: str | None = None
    time: float | None = None

    @property
    def task_type(self) -> TaskType:
        """Always classification."""
        return TaskType.CLASSIFICATION

    @property
    def top(self) -> ClassScore | None:
        """The highest-confidence class, or None when nothing was scored."""
        return self.classes[0] if self.classes else None


@dataclass(slots=True)
class StubPrediction:
    """What the stub model ``<project>/0`` answers: no prediction at all."""

    model_id: str
    task_type: str
    time: float = 0.0


Prediction = DetectionPrediction | ClassificationPrediction | StubPrediction


# --------------------------------------------------------------------------- JSON in


def _num(data: Mapping[str, Any], key: str) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PredictionFormatError(f"'{key}' must be a number, got {value!r}")
    try:
        return float(value)
    except OverflowError:  # a JSON integer beyond the float range
        raise PredictionFormatError(f"'{key}' is too large a number") from None


def _coerce(data: Mapping[str, Any], key: str, default: Any, kind: type[int] | type[float]) -> Any:
    """``kind(data.get(key, default))`` (numeric strings too), naming ``key`` when it fails."""
    value = data.get(key, default)
    try:
        return kind(value)
    except (TypeError, ValueError, OverflowError):
        name = "an integer" if kind is int else "a number"
        raise PredictionFormatError(f"'{key}' must be {name}, got {value!r}") from None


def _image_size(data: Mapping[str, Any]) -> ImageSize:
    image = data.get("image")
    if not isinstance(image, Mapping):
        raise PredictionFormatError("'image' must be an object with 'width' and 'height'")
    width, height = _num(image, "width"), _num(image, "height")
    if not (math.isfinite(width) and math.isfinite(height)):  # int() of NaN/inf raises
        raise PredictionFormatError(
            f"'image' width and height must be finite, got {width} x {height}"
        )
    return ImageSize(width=int(width), height=int(height))


def _detection_from_json(item: Any, index: int) -> Detection:
    if not isinstance(item, Mapping):
        raise PredictionFormatError(f"predictions[{index}] must be an object")
    try:
        points = None
        if item.get("points") is not None:
            points = [(_num(p, "x"), _num(p, "y")) for p in item["points"]]
        keypoints = None
        if item.get("keypoints") is not None:
            keypoints = [
                Keypoint(
                    x=_num(k, "x"),
                    y=_num(k, "y"),
                    confidence=_coerce(k, "confidence", 1.0, float),
                    class_id=_coerce(k, "class_id", i, int),
                    class_name=str(k.get("class", k.get("class_name", i))),
                )
                for i, k in enumerate(item["keypoints"])
            ]
        return Detection(
            x=_num(item, "x"),
            y=_num(item, "y"),
            width=_num(item, "width"),
            height=_num(item, "height"),
            confidence=_coerce(item, "confidence", 1.0, float),
            class_name=str(item.get("class", "")),
            class_id=_coerce(item, "class_id", -1, int),
            detection_id=item.get("detection_id"),
            points=points,
            keypoints=keypoints,
        )
    except PredictionFormatError as exc:
        raise PredictionFormatError(f"predictions[{index}]: {exc}") from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise PredictionFormatError(f"predictions[{index}]: {exc}") from None


def prediction_from_json(data: Mapping[str, Any], task_type: str | None = None) -> Prediction:
    """Parse a reference-shaped prediction. ``task_type`` disambiguates detection tasks.

    Raises :class:`PredictionFormatError` naming the offending field.
    """
    if not isinstance(data, Mapping):
        raise PredictionFormatError("a prediction must be a JSON object")
    if data.get("is_stub"):
        return StubPrediction(
            model_id=str(data.get("model_id", "")),
            task_type=str(data.get("task_type", task_type or "")),
            time=_coerce({"time": data.get("time") or 0.0}, "time", 0.0, float),
        )
    inference_id = data.get("inference_id")
    time = data.get("time")
    time_f = _coerce(data, "time", None, float) if isinstance(time, int | float) else None
    preds = data.get("predictions")
    image = _image_size(data)
    if isinstance(preds, Mapping):
        return _multi_label_from_json(data, preds, image, inference_id, time_f)
    if not isinstance(preds, list):
        raise PredictionFormatError("'predictions' must be a list or an object")
    is_classification = task_type == TaskType.CLASSIFICATION or (
        task_type is None and "top" in data
    )
    if not is_classification and task_type is None and preds:
        first = preds[0]
        is_classification = isinstance(first, Mapping) and "x" not in first
    if is_classification:
        return _single_label_from_json(data, preds, image, inference_id, time_f)
    detections = [_detection_from_json(item, i) for i, item in enumerate(preds)]
    return DetectionPrediction(
        task_type=_detection_task(task_type, detections),
        image=image,
        detections=detections,
        inference_id=inference_id,
        time=time_f,
    )


def _multi_label_from_json(
    data: Mapping[str, Any],
    preds: Mapping[str, Any],
    image: ImageSize,
    inference_id: Any,
    time_f: float | None,
) -> ClassificationPrediction:
    classes = []
    for name, score in preds.items():
        if not isinstance(score, Mapping):
            raise PredictionFormatError(f"predictions.{name} must be an object")
        classes.append(
            ClassScore(str(name), _coerce(score, "class_id", -1, int), _num(score, "confidence"))
        )
    classes.sort(key=lambda c: c.confidence, reverse=True)
    predicted = data.get("predicted_classes") or []
    if not isinstance(predicted, list):
        raise PredictionFormatError("'predicted_classes' must be a list of class names")
    return ClassificationPrediction(
        image=image,
        classes=classes,
        multi_label=True,
        predicted_classes=[str(c) for c in predicted],
        inference_id=inference_id,
        time=time_f,
    )


def _single_label_from_json(
    data: Mapping[str, Any],
    preds: list[Any],
    image: ImageSize,
    inference_id: Any,
    time_f: float | None,
) -> ClassificationPrediction:
    classes = []
    for i, item in enumerate(preds):
        if not isinstance(item, Mapping):
            raise PredictionFormatError(f"predictions[{i}] must be an object")
        classes.append(
            ClassScore(
                str(item.get("class", "")),
                _coerce(item, "class_id", -1, int),
                _num(item, "confidence"),
            )
        )
    classes.sort(key=lambda c: c.confidence, reverse=True)
    top = data.get("top") or (classes[0].class_name if classes else None)
    return ClassificationPrediction(
        image=image,
        classes=classes,
        multi_label=False,
        predicted_classes=[str(top)] if top else [],
        inference_id=inference_id,
        time=time_f,
    )


def _detection_task(task_type: str | None, detections: list[Detection]) -> TaskType:
    """The declared task, or the one the detections' fields imply."""
    if task_type is not None:
        try:
            return TaskType(task_type)
        except ValueError:
            raise PredictionFormatError(f"unknown task type {task_type!r}") from None
    if any(d.keypoints is not None for d in detections):
        return TaskType.KEYPOINT_DETECTION
    if any(d.points is not None for d in detections):
        return TaskType.INSTANCE_SEGMENTATION
    return TaskType.OBJECT_DETECTION


# --------------------------------------------------------------------------- JSON out


def _detection_to_json(d: Detection) -> dict[str, Any]:
    out: dict[str, Any] = {
        "x": d.x,
        "y": d.y,
        "width": d.width,
        "height": d.height,
        "confidence": d.confidence,
        "class": d.class_name,
        "class_id": d.class_id,
    }
    if d.detection_id is not None:
        out["detection_id"] = d.detection_id
    if d.points is not None:
        out["points"] = [{"x": x, "y": y} for x, y in d.points]
    if d.keypoints is not None:
        out["keypoints"] = [
            {
                "x": k.x,
                "y": k.y,
                "confidence": k.confidence,
                "class_id": k.class_id,
                "class": k.class_name,
            }
            for k in d.keypoints
        ]
    return out


def prediction_to_json(prediction: Prediction) -> dict[str, Any]:
    """The reference-shaped JSON of a prediction, null fields omitted."""
    if isinstance(prediction, StubPrediction):
        return {
            "time": prediction.time,
            "is_stub": True,
            "model_id": prediction.model_id,
            "task_type": prediction.task_type,
        }
    out: dict[str, Any] = {}
    if prediction.inference_id is not None:
        out["inference_id"] = prediction.inference_id
    if prediction.time is not None:
        out["time"] = prediction.time
    out["image"] = {"width": prediction.image.width, "height": prediction.image.height}
    if isinstance(prediction, DetectionPrediction):
        out["predictions"] = [_detection_to_json(d) for d in prediction.detections]
        return out
    if prediction.multi_label:
        out["predictions"] = {
            c.class_name: {"confidence": c.confidence, "class_id": c.class_id}
            for c in prediction.classes
        }
        out["predicted_classes"] = list(prediction.predicted_classes)
        return out
    out["predictions"] = [
        {"class": c.class_name, "class_id": c.class_id, "confidence": c.confidence}
        for c in prediction.classes
    ]
    top = prediction.top
    if top is not None:
        out["top"] = top.class_name
        out["confidence"] = top.confidence
    return out


# --------------------------------------------------------------------------- rescaling


def rescale_prediction(prediction: Prediction, width: int, height: int) -> Prediction:
    """Map ``prediction`` onto the same image resized to ``width`` x ``height``.

    Scales per axis (x by new/old width, y by new/old height): boxes, polygon
    points, keypoints and the image size. Classification and stub predictions
    only get the new image size. Returns a new object; the input is untouched.
    """
    if isinstance(prediction, StubPrediction):
        return prediction
    old = prediction.image
    new_image = ImageSize(width=width, height=height)
    if isinstance(prediction, ClassificationPrediction):
        return replace(prediction, image=new_image, classes=list(prediction.classes))
    sx = width / old.width if old.width else 1.0
    sy = height / old.height if old.height else 1.0
    detections = []
    for d in prediction.detections:
        detections.append(
            replace(
                d,
                x=d.x * sx,
                y=d.y * sy,
                width=d.width * sx,
                height=d.height * sy,
                points=None if d.points is None else [(px * sx, py * sy) for px, py in d.points],
                keypoints=None
                if d.keypoints is None
                else [replace(k, x=k.x * sx, y=k.y * sy) for k in d.keypoints],
            )
        )
    return replace(prediction, image=new_image, detections=detections)
