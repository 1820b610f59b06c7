"""Annotations: predictions (pre-annotations) and human labels, checked against the project type.

Detection-family projects take reference-shaped prediction JSON (``.json``);
classification projects take the class name as text (``.txt``, one class per
line, one line for single-label) or classification prediction JSON.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from winnow.errors import InvalidAnnotationError, PredictionFormatError
from winnow.platform.schema import Annotation, Image
from winnow.predictions import (
    ClassificationPrediction,
    DetectionPrediction,
    StubPrediction,
    prediction_from_json,
)
from winnow.states import AnnotationKind, ImageStatus

DETECTION_PROJECTS = {"object-detection", "instance-segmentation", "keypoint-detection"}
CLASSIFICATION_PROJECTS = {"classification", "multi-label-classification"}
MAX_ANNOTATION_CHARS = 5_000_000


@dataclass(slots=True, frozen=True)
class CheckedAnnotation:
    """An annotation body that fits its project: ``format`` is ``json`` or ``txt``."""

    format: str
    body: str


def annotation_format(name: str | None, body: str) -> str:
    """``json`` or ``txt`` from the file name's extension (or the body's look when unnamed)."""
    if name:
        lowered = name.lower()
        if lowered.endswith(".json"):
            return "json"
        if lowered.endswith(".txt"):
            return "txt"
        raise InvalidAnnotationError(f"name: annotation file {name!r} must end in .json or .txt")
    return "json" if body.lstrip().startswith("{") else "txt"


def check_annotation(project_type: str, fmt: str, body: str) -> CheckedAnnotation:
    """Validate ``body`` for ``project_type``; InvalidAnnotationError saying what is wrong."""
    if len(body) > MAX_ANNOTATION_CHARS:
        raise InvalidAnnotationError(f"annotation is longer than {MAX_ANNOTATION_CHARS} characters")
    if "\x00" in body:
        raise InvalidAnnotationError("annotation must not contain NUL characters")
    if fmt == "txt":
        if project_type not in CLASSIFICATION_PROJECTS:
            raise InvalidAnnotationError(
                f"a {project_type} project needs a .json annotation (prediction JSON), not .txt"
            )
        classes = [line.strip() for line in body.splitlines() if line.strip()]
        if not classes:
            raise InvalidAnnotationError("a .txt annotation must hold the class name")
        if project_type == "classification" and len(classes) != 1:
            raise InvalidAnnotationError(
                f"a classification annotation names exactly one class, got {len(classes)}"
            )
        return CheckedAnnotation("txt", "\n".join(classes))
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise InvalidAnnotationError(f"annotation is not valid JSON ({exc})") from None
    except RecursionError:
        raise InvalidAnnotationError("annotation JSON is nested too deeply") from None
    check_prediction(project_type, data)
    return CheckedAnnotation("json", body)


def check_prediction(project_type: str, data: Any) -> None:
    """Check that prediction JSON has the shape of ``project_type``'s task."""
    if not isinstance(data, dict):
        raise InvalidAnnotationError("annotation JSON must be an object")
    task = project_type if project_type in DETECTION_PROJECTS else "classification"
    try:
        prediction = prediction_from_json(data, task)
    except PredictionFormatError as exc:
        raise InvalidAnnotationError(
            f"annotation does not fit a {project_type} project: {exc}"
        ) from None
    if isinstance(prediction, StubPrediction):
        raise InvalidAnnotationError("a stub prediction (is_stub) carries no annotation")
    if project_type in DETECTION_PROJECTS and not isinstance(prediction, DetectionPrediction):
        raise InvalidAnnotationError(f"a {project_type} project needs detection predictions")
    if project_type in CLASSIFICATION_PROJECTS and not isinstance(
        prediction, ClassificationPrediction
    ):
        raise InvalidAnnotationError(f"a {project_type} project needs classification predictions")
    _check_finite(prediction)
    if isinstance(prediction, DetectionPrediction):
        for i, det in enumerate(prediction.detections):
            if det.width < 0 or det.height < 0:
                raise InvalidAnnotationError(f"predictions[{i}]: width and height must be >= 0")
            if project_type == "instance-segmentation" and det.points is None:
                raise InvalidAnnotationError(f"predictions[{i}].points: required for segmentation")


def _check_finite(prediction: DetectionPrediction | ClassificationPrediction) -> None:
    """NaN and infinity are valid JSON to Python but mean nothing in an annotation."""
    numbers: list[tuple[str, float]] = []
    if isinstance(prediction, DetectionPrediction):
        for i, det in enumerate(prediction.detections):
            at = f"predictions[{i}]"
            numbers += [(f"{at}.{k}", getattr(det, k)) for k in ("x", "y", "width", "height")]
            numbers.append((f"{at}.confidence", det.confidence))
            for j, (x, y) in enumerate(det.points or ()):
                numbers += [(f"{at}.points[{j}].x", x), (f"{at}.points[{j}].y", y)]
            for j, kp in enumerate(det.keypoints or ()):
                where = f"{at}.keypoints[{j}]"
                numbers += [(f"{where}.x", kp.x), (f"{where}.y", kp.y)]
                numbers.append((f"{where}.confidence", kp.confidence))
    else:
        numbers = [(f"{c.class_name}.confidence", c.confidence) for c in prediction.classes]
    for where, value in numbers:
        if not math.isfinite(value):
            raise InvalidAnnotationError(f"{where}: must be a finite number, got {value}")


def _with_image_size(body: str, image: Image) -> str:
    """Prediction JSON with ``image`` filled from the stored image when missing or null."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return body  # check_annotation names the problem
    if not isinstance(data, dict):
        return body
    size = data.get("image")
    if isinstance(size, dict) and size.get("width") is not None and size.get("height") is not None:
        return body
    data["image"] = {"width": image.width, "height": image.height}
    return json.dumps(data)


def add_annotation(
    *,
    session: Session,
    image: Image,
    project_type: str,
    body: str,
    name: str | None = None,
    prediction: bool = False,
) -> Annotation:
    """Validate and store an annotation of ``image``; a human one marks the image labeled."""
    if name is not None and (len(name) > 256 or any(ord(c) < 32 for c in name)):
        raise InvalidAnnotationError(
            "name: must be at most 256 characters without control characters"
        )
    fmt = annotation_format(name, body)
    if fmt == "json":
        body = _with_image_size(body, image)
    checked = check_annotation(project_type, fmt, body)
    record = Annotation(
        image_id=image.id,
        kind=AnnotationKind.PREDICTION if prediction else AnnotationKind.HUMAN,
        format=checked.format,
        body=checked.body,
        name=name,
    )
    session.add(record)
    if not prediction and image.status == ImageStatus.UNLABELED:
        image.status = ImageStatus.LABELED
    session.flush()
    return record


def list_annotations(*, session: Session, image: Image) -> list[Annotation]:
    """Annotations of ``image``, oldest first."""
    return list(
        session.scalars(
            select(Annotation).where(Annotation.image_id == image.id).order_by(Annotation.id)
        )
    )
