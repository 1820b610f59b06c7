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


def _greedy(
    iou: npt.NDArray[np.float64], confidence: Sequence[float], threshold: float
) -> Matching:
    """COCO's greedy matching on a (predicted x truth) IoU matrix.

    Walking the candidate pairs (IoU >= threshold) by prediction confidence, then
    by IoU, and keeping a pair when both sides are free gives each prediction, in
    confidence order, its best free human box: COCO's loop, without visiting the
    pairs that cannot match (most of them).
    """
    m, n = iou.shape
    rows, cols = np.nonzero(iou >= threshold)
    pairs: list[tuple[int, int]] = []
    if rows.size:
        rank = np.empty(m, dtype=np.int64)
        rank[np.argsort(-np.asarray(confidence), kind="stable")] = np.arange(m)
        order = np.lexsort((-iou[rows, cols], rank[rows]))
        p_taken, t_taken = [False] * m, [False] * n
        for i, j in zip(rows[order].tolist(), cols[order].tolist(), strict=True):
            if not p_taken[i] and not t_taken[j]:
                p_taken[i] = t_taken[j] = True
                pairs.append((i, j))
    matched_p = {i for i, _ in pairs}
    matched_t = {j for _, j in pairs}
    return Matching(
        pairs,
        [i for i in range(m) if i not in matched_p],
        [j for j in range(n) if j not in matched_t],
    )


def match_both(
    truth: Sequence[Box], predicted: Sequence[Box], *, iou_threshold: float = MATCH_IOU
) -> tuple[Matching, Matching]:
    """The class-aware and the class-agnostic matching, from one IoU computation."""
    iou = box_iou(predicted, truth)
    confidence = [p.confidence for p in predicted]
    agnostic = _greedy(iou, confidence, iou_threshold)
    if iou.size:
        p_names = np.array([p.class_name for p in predicted], dtype=object)
        t_names = np.array([t.class_name for t in truth], dtype=object)
        iou = np.where(p_names[:, None] == t_names[None, :], iou, 0.0)
    return _greedy(iou, confidence, iou_threshold), agnostic


def match(
    truth: Sequence[Box],
    predicted: Sequence[Box],
    *,
    same_class: bool,
    iou_threshold: float = MATCH_IOU,
) -> Matching:
    """Match ``predicted`` to ``truth`` one to one (class-aware when ``same_class``)."""
    aware, agnostic = match_both(truth, predicted, iou_threshold=iou_threshold)
    return aware if same_class else agnostic


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
