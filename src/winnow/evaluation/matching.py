"""Greedy one-to-one matching of predicted boxes to human boxes at an IoU threshold.

This is the matching behind precision/recall at the served confidence, the
confusion matrix and the correction counts (not behind AP, which comes from
faster-coco-eval). Predictions are taken by confidence, highest first; each
takes the unmatched human box it overlaps most, if that IoU reaches the
threshold, as COCO's evaluation does for one IoU threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from winnow.evaluation.samples import Box

MATCH_IOU = 0.5


def box_iou(a: Sequence[Box], b: Sequence[Box]) -> npt.NDArray[np.float64]:
    """IoU of every box of ``a`` (rows) with every box of ``b`` (columns)."""
    if not a or not b:
        return np.zeros((len(a), len(b)))
    pa = np.array([x.xyxy for x in a], dtype=np.float64)
    pb = np.array([x.xyxy for x in b], dtype=np.float64)
    x1 = np.maximum(pa[:, None, 0], pb[None, :, 0])
    y1 = np.maximum(pa[:, None, 1], pb[None, :, 1])
    x2 = np.minimum(pa[:, None, 2], pb[None, :, 2])
    y2 = np.minimum(pa[:, None, 3], pb[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (pa[:, 2] - pa[:, 0]) * (pa[:, 3] - pa[:, 1])
    area_b = (pb[:, 2] - pb[:, 0]) * (pb[:, 3] - pb[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


@dataclass(slots=True)
class Matching:
    """Pairs ``(predicted index, truth index)`` and what stayed unmatched on each side."""

    pairs: list[tuple[int, int]]
    unmatched_predicted: list[int]
    unmatched_truth: list[int]


def match(
    truth: Sequence[Box],
    predicted: Sequence[Box],
    *,
    same_class: bool,
    iou_threshold: float = MATCH_IOU,
) -> Matching:
    """Match ``predicted`` to ``truth`` one to one (class-aware when ``same_class``)."""
    iou = box_iou(predicted, truth)
    if same_class and iou.size:
        p_names = np.array([p.class_name for p in predicted], dtype=object)
        t_names = np.array([t.class_name for t in truth], dtype=object)
        iou = np.where(p_names[:, None] == t_names[None, :], iou, 0.0)
    order = sorted(range(len(predicted)), key=lambda i: -predicted[i].confidence)
    taken = np.zeros(len(truth), dtype=bool)
    pairs: list[tuple[int, int]] = []
    unmatched_predicted: list[int] = []
    for i in order:
        if iou.shape[1] == 0:
            unmatched_predicted.append(i)
            continue
        row = np.where(taken, -1.0, iou[i])
        j = int(np.argmax(row))
        if row[j] >= iou_threshold:
            taken[j] = True
            pairs.append((i, j))
        else:
            unmatched_predicted.append(i)
    unmatched_truth = [j for j in range(len(truth)) if not taken[j]]
    return Matching(pairs, unmatched_predicted, unmatched_truth)


def detection_corrections(truth: Sequence[Box], predicted: Sequence[Box]) -> int:
    """How many boxes a person changed: added, removed, or kept with another class (IoU 0.5)."""
    result = match(truth, predicted, same_class=False)
    changed = sum(1 for i, j in result.pairs if predicted[i].class_name != truth[j].class_name)
    return len(result.unmatched_predicted) + len(result.unmatched_truth) + changed


def classification_corrections(truth: Sequence[str], predicted: Sequence[str]) -> int:
    """How many labels a person changed: 1 for a changed single label, else classes added or removed."""
    if len(truth) <= 1 and len(predicted) <= 1:
        return int(set(truth) != set(predicted))
    return len(set(truth) ^ set(predicted))
