"""Conversions between stored annotations and the labeling editor's plain JSON.

The editor works with ``objects`` (``{"cls", "x1", "y1", "x2", "y2"}`` plus
``points`` ``[[x, y], ...]`` for polygons and ``keypoints``
``[{"id", "name", "x", "y", "v"}]``) or, for classification, ``labels`` (class
names). Saving turns them back into the platform's annotation bodies: the
reference-shaped prediction JSON (box centre, width, height) for the detection
family, class names as text for classification. Everything a browser sends is
checked here and rejected with a message naming the field.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from winnow.errors import InvalidAnnotationError, PredictionFormatError
from winnow.predictions import (
    ClassificationPrediction,
    DetectionPrediction,
    prediction_from_json,
)

PALETTE = (
    "#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45",
    "#fabed4", "#469990", "#dcbeff", "#9a6324", "#800000", "#aaffc3", "#808000", "#000075",
)  # fmt: skip
CLASSIFICATION_TYPES = ("classification", "multi-label-classification")
MAX_OBJECTS = 2000
MAX_POINTS = 1000
MAX_CLASS_CHARS = 128


def color_of(classes: list[str], name: str) -> str:
    """The class's colour, the same as the editor's (palette by class index)."""
    index = classes.index(name) if name in classes else len(classes)
    return PALETTE[index % len(PALETTE)]


def _task(project_type: str) -> str:
    return "classification" if project_type in CLASSIFICATION_TYPES else project_type


def editor_state(project_type: str, fmt: str | None, body: str | None) -> dict[str, Any]:
    """The editor's ``objects`` and ``labels`` for a stored annotation (empty when None or unreadable).

    Classification predictions also give ``scored``: every class the model scored.
    """
    state: dict[str, Any] = {"objects": [], "labels": []}
    if body is None:
        return state
    if fmt == "txt":
        state["labels"] = [line.strip() for line in body.splitlines() if line.strip()]
        return state
    try:
        prediction = prediction_from_json(json.loads(body), _task(project_type))
    except (ValueError, PredictionFormatError):
        return state
    if isinstance(prediction, ClassificationPrediction):
        top = prediction.top
        state["labels"] = list(prediction.predicted_classes) or ([top.class_name] if top else [])
        # every scored class, so the editor can offer the alternatives
        state["scored"] = [c.class_name for c in prediction.classes]
        return state
    if not isinstance(prediction, DetectionPrediction):
        return state
    for det in prediction.detections:
        x1, y1, x2, y2 = det.xyxy()
        obj: dict[str, Any] = {"cls": det.class_name, "x1": x1, "y1": y1, "x2": x2, "y2": y2}
        if det.points and project_type == "instance-segmentation":
            obj["points"] = [[x, y] for x, y in det.points]
            # the polygon is the annotation: its bounds are the box the editor hit-tests
            xs, ys = [p[0] for p in det.points], [p[1] for p in det.points]
            obj.update(x1=min(xs), y1=min(ys), x2=max(xs), y2=max(ys))
        if det.keypoints is not None and project_type == "keypoint-detection":
            obj["keypoints"] = [
                {
                    "id": k.class_id,
                    "name": k.class_name,
                    "x": k.x,
                    "y": k.y,
                    "v": 2 if k.confidence > 0 else 0,
                }
                for k in sorted(det.keypoints, key=lambda k: k.class_id)
            ]
        state["objects"].append(obj)
    return state


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidAnnotationError(f"{where}: must be a finite number, got {value!r}")
    return float(value)


def _class_name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_CLASS_CHARS:
        raise InvalidAnnotationError(
            f"{where}: must be a class name of 1-{MAX_CLASS_CHARS} characters"
        )
    return value.strip()


@dataclass(frozen=True, slots=True)
class SavedBody:
    """An annotation body ready for the store: its file name says the format."""

    name: str
    body: str


def _clamp(value: float, high: int) -> float:
    return min(max(value, 0.0), float(high))


def _detection(
    item: Any, i: int, project_type: str, classes: list[str], width: int, height: int
) -> dict[str, Any]:
    where = f"objects[{i}]"
    if not isinstance(item, dict):
        raise InvalidAnnotationError(f"{where}: must be an object")
    cls = _class_name(item.get("class"), f"{where}.class")
    x1, x2 = sorted(_clamp(_number(item.get(k), f"{where}.{k}"), width) for k in ("x1", "x2"))
    y1, y2 = sorted(_clamp(_number(item.get(k), f"{where}.{k}"), height) for k in ("y1", "y2"))
    out: dict[str, Any] = {
        "x": (x1 + x2) / 2,
        "y": (y1 + y2) / 2,
        "width": x2 - x1,
        "height": y2 - y1,
        "confidence": 1.0,
        "class": cls,
        "class_id": classes.index(cls) if cls in classes else len(classes),
    }
    if project_type == "instance-segmentation":
        clean = _polygon(item.get("points"), where, width, height)
        out["points"] = clean
        xs, ys = [p["x"] for p in clean], [p["y"] for p in clean]
        out.update(
            x=(min(xs) + max(xs)) / 2,
            y=(min(ys) + max(ys)) / 2,
            width=max(xs) - min(xs),
            height=max(ys) - min(ys),
        )
    if project_type == "keypoint-detection":
        out["keypoints"] = _keypoints(item.get("keypoints") or [], where, width, height)
    return out


def _polygon(points: Any, where: str, width: int, height: int) -> list[dict[str, float]]:
    """An object's ``points`` as clamped ``{"x", "y"}``; 400 naming the point that is wrong."""
    if not isinstance(points, list) or not 3 <= len(points) <= MAX_POINTS:
        raise InvalidAnnotationError(f"{where}.points: a polygon needs 3-{MAX_POINTS} points")
    clean = []
    for j, p in enumerate(points):
        if not isinstance(p, list) or len(p) != 2:
            raise InvalidAnnotationError(f"{where}.points[{j}]: must be [x, y]")
        clean.append(
            {
                "x": _clamp(_number(p[0], f"{where}.points[{j}]"), width),
                "y": _clamp(_number(p[1], f"{where}.points[{j}]"), height),
            }
        )
    return clean


def _keypoints(keypoints: Any, where: str, width: int, height: int) -> list[dict[str, Any]]:
    """An object's ``keypoints`` as stored (clamped, ``v`` as confidence); 400 naming the field."""
    if not isinstance(keypoints, list) or len(keypoints) > MAX_POINTS:
        raise InvalidAnnotationError(f"{where}.keypoints: must be a list of keypoints")
    kps = []
    for j, k in enumerate(keypoints):
        if not isinstance(k, dict):
            raise InvalidAnnotationError(f"{where}.keypoints[{j}]: must be an object")
        kid = k.get("id", j)
        if isinstance(kid, bool) or not isinstance(kid, int) or kid < 0:
            raise InvalidAnnotationError(f"{where}.keypoints[{j}].id: must be an integer >= 0")
        kps.append(
            {
                "x": _clamp(_number(k.get("x"), f"{where}.keypoints[{j}].x"), width),
                "y": _clamp(_number(k.get("y"), f"{where}.keypoints[{j}].y"), height),
                "confidence": 1.0 if k.get("v", 2) else 0.0,
                "class_id": kid,
                "class": str(k.get("name", kid))[:MAX_CLASS_CHARS],
            }
        )
    return kps


def saved_body(
    project_type: str, payload: Any, *, classes: list[str], width: int, height: int
) -> SavedBody:
    """Turn the editor's save payload into an annotation body; InvalidAnnotationError naming the field."""
    if not isinstance(payload, dict):
        raise InvalidAnnotationError("body: must be a JSON object with 'objects' or 'labels'")
    if project_type in CLASSIFICATION_TYPES:
        labels = payload.get("labels")
        if not isinstance(labels, list):
            raise InvalidAnnotationError("labels: must be a list of class names")
        names = list(dict.fromkeys(_class_name(v, f"labels[{i}]") for i, v in enumerate(labels)))
        if project_type == "classification" and len(names) != 1:
            raise InvalidAnnotationError(f"labels: pick exactly one class, got {len(names)}")
        if not names:
            raise InvalidAnnotationError("labels: pick at least one class (or reject the image)")
        return SavedBody("human.txt", "\n".join(names))
    objects = payload.get("objects")
    if not isinstance(objects, list):
        raise InvalidAnnotationError("objects: must be a list")
    if len(objects) > MAX_OBJECTS:
        raise InvalidAnnotationError(f"objects: at most {MAX_OBJECTS} objects per image")
    predictions = [
        _detection(item, i, project_type, classes, width, height) for i, item in enumerate(objects)
    ]
    body = {"image": {"width": width, "height": height}, "predictions": predictions}
    return SavedBody("human.json", json.dumps(body))


def thumbnail_shapes(
    project_type: str, fmt: str | None, body: str | None, classes: list[str]
) -> tuple[list[dict[str, Any]], str]:
    """SVG shapes (rects and polygons, image pixels) and a label text for a grid thumbnail."""
    state = editor_state(project_type, fmt, body)
    shapes: list[dict[str, Any]] = []
    for obj in state["objects"][:200]:
        shape: dict[str, Any] = {
            "x": round(obj["x1"], 1),
            "y": round(obj["y1"], 1),
            "w": round(obj["x2"] - obj["x1"], 1),
            "h": round(obj["y2"] - obj["y1"], 1),
            "color": color_of(classes, obj["cls"]),
            "points": "",
        }
        if "points" in obj:
            shape["points"] = " ".join(f"{x:.1f},{y:.1f}" for x, y in obj["points"])
        shapes.append(shape)
    return shapes, ", ".join(state["labels"])
