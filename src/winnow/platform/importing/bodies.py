"""Imported annotations as the bodies the platform stores (the inverse of the export's reading).

Detection-family projects store reference-shaped prediction JSON with
confidence 1 (centre ``x, y``, ``width``, ``height``, ``class``, ``class_id``;
``points`` for segmentation, ``keypoints`` for pose); classification projects
store class names as text, one per line. What a format gives is fitted to the
project's type: a detection project keeps each object's box; a segmentation
project keeps polygons (a plain box becomes its rectangle); a keypoint project
keeps keypoint objects (an object without keypoints gets none). Keypoint
visibility is stored as the keypoint's confidence: 2 (visible) as 1.0, 1
(labeled, hidden) as 0.5, 0 (not labeled) as 0.0.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from winnow.errors import BadRequestError
from winnow.platform.export.model import (
    Annotation,
    Box,
    ClassLabel,
    ExportImage,
    KeypointObject,
    Polygon,
    bounding_box,
)
from winnow.platform.store.annotations import CLASSIFICATION_PROJECTS

_VISIBILITY_CONFIDENCE = {0: 0.0, 1: 0.5, 2: 1.0}


def _detection(
    ann: Box | Polygon | KeypointObject,
    project_type: str,
    class_ids: dict[str, int],
    keypoint_names: Sequence[str],
) -> dict[str, Any]:
    box = bounding_box(ann)
    item: dict[str, Any] = {
        "x": (box.x1 + box.x2) / 2,
        "y": (box.y1 + box.y2) / 2,
        "width": box.x2 - box.x1,
        "height": box.y2 - box.y1,
        "confidence": 1.0,
        "class": ann.class_name,
        "class_id": class_ids.get(ann.class_name, -1),
    }
    if project_type == "instance-segmentation":
        points = (
            ann.points
            if isinstance(ann, Polygon)
            else ((box.x1, box.y1), (box.x2, box.y1), (box.x2, box.y2), (box.x1, box.y2))
        )
        item["points"] = [{"x": x, "y": y} for x, y in points]
    elif project_type == "keypoint-detection":
        points3 = ann.points if isinstance(ann, KeypointObject) else ()
        item["keypoints"] = [
            {
                "x": x,
                "y": y,
                "confidence": _VISIBILITY_CONFIDENCE[v],
                "class_id": i,
                "class": keypoint_names[i] if i < len(keypoint_names) else str(i),
            }
            for i, (x, y, v) in enumerate(points3)
        ]
    return item


def annotation_body(
    project_type: str,
    image: ExportImage,
    classes: Sequence[str],
    keypoint_names: Sequence[str] = (),
) -> tuple[str, str]:
    """The annotation file name (``.json`` or ``.txt``) and body of one imported image."""
    labels = [a.class_name for a in image.annotations if isinstance(a, ClassLabel)]
    objects: list[Annotation] = [a for a in image.annotations if not isinstance(a, ClassLabel)]
    if project_type in CLASSIFICATION_PROJECTS:
        if objects:
            raise BadRequestError(
                f"{image.source}: a {project_type} project takes class labels, not objects"
            )
        if project_type == "classification" and len(labels) != 1:
            raise BadRequestError(
                f"{image.source}: is labeled {', '.join(labels)}; a classification project "
                "takes one class per image (use a multi-label-classification project)"
            )
        return "annotation.txt", "\n".join(labels)
    if labels:
        raise BadRequestError(
            f"{image.source}: a {project_type} project takes objects, not image class labels"
        )
    class_ids = {name: i for i, name in enumerate(classes)}
    predictions = [
        _detection(a, project_type, class_ids, keypoint_names)
        for a in objects
        if not isinstance(a, ClassLabel)
    ]
    body = {"image": {"width": image.width, "height": image.height}, "predictions": predictions}
    return "annotation.json", json.dumps(body)
