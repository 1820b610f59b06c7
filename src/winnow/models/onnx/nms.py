"""Greedy non-maximum suppression in numpy, class-wise or class-agnostic."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def iou_one_to_many(
    box: npt.NDArray[np.float32], boxes: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """IoU of one x1,y1,x2,y2 box against ``[N, 4]`` boxes."""
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[2], boxes[:, 2])
    y2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0).astype(np.float32)


def nms(
    boxes: npt.NDArray[np.float32],
    scores: npt.NDArray[np.float32],
    class_ids: npt.NDArray[np.int64],
    *,
    iou_threshold: float,
    class_agnostic: bool = False,
    max_detections: int = 300,
) -> npt.NDArray[np.int64]:
    """Indices of the kept boxes, highest score first, at most ``max_detections``.

    A box is suppressed when its IoU with a kept box of higher score is
    greater than ``iou_threshold`` and (unless ``class_agnostic``) both have
    the same class.
    """
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    work = boxes.astype(np.float32)
    if not class_agnostic:
        # Shift each class into its own region so boxes of different classes never overlap.
        span = float(np.abs(work).max()) * 2 + 1
        work = work + (class_ids.astype(np.float32) * span)[:, None]
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size and len(keep) < max_detections:
        best = int(order[0])
        keep.append(best)
        rest = order[1:]
        if rest.size == 0:
            break
        overlap = iou_one_to_many(work[best], work[rest])
        order = rest[overlap <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)
