"""The matching of :mod:`winnow.evaluation.matching` over every image at once, on flat arrays.

Evaluating 100,000 boxes one image at a time spends most of its time in
small numpy calls. Here every box of every image is one row: IoU is computed
for all (prediction, human box) pairs of the same image in one vectorized
step, and only the candidate pairs (IoU >= threshold) are walked in Python,
in the order of :func:`winnow.evaluation.matching._greedy` (image, then
prediction confidence, then IoU), so the result is the same matching.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from winnow.evaluation.matching import MATCH_IOU
from winnow.evaluation.samples import DetectionSample

IntArray = npt.NDArray[np.int64]


@dataclass(slots=True)
class Rows:
    """Every box of one side as rows: image index, class index, box, confidence."""

    image: IntArray
    cls: IntArray
    xyxy: npt.NDArray[np.float64]
    confidence: npt.NDArray[np.float64]


def rows_of(samples: Sequence[DetectionSample], index: dict[str, int], *, truth: bool) -> Rows:
    """The truth (``truth=True``) or predicted boxes of ``samples``, in image order."""
    image, cls, coords, conf = [], [], [], []
    for i, s in enumerate(samples):
        for b in s.truth if truth else s.predicted:
            image.append(i)
            cls.append(index[b.class_name])
            coords.append(b.xyxy)
            conf.append(b.confidence)
    return Rows(
        np.asarray(image, dtype=np.int64),
        np.asarray(cls, dtype=np.int64),
        np.asarray(coords, dtype=np.float64).reshape(-1, 4),
        np.asarray(conf, dtype=np.float64),
    )


def _pairs(truth: Rows, predicted: Rows, images: int) -> tuple[IntArray, IntArray]:
    """Indices (prediction, truth) of every pair of boxes on the same image."""
    t_count = np.bincount(truth.image, minlength=images)
    t_start = np.concatenate(([0], np.cumsum(t_count)[:-1]))
    per_pred = t_count[predicted.image]  # how many human boxes each prediction meets
    pred_idx = np.repeat(np.arange(predicted.image.size), per_pred)
    block_start = np.repeat(np.cumsum(per_pred) - per_pred, per_pred)
    offset = np.arange(pred_idx.size) - block_start
    truth_idx = t_start[predicted.image][pred_idx] + offset
    return pred_idx, truth_idx


def _iou(truth: Rows, predicted: Rows, p: IntArray, t: IntArray) -> npt.NDArray[np.float64]:
    a, b = predicted.xyxy[p], truth.xyxy[t]
    inter = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None) * np.clip(
        np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None
    )
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a + area_b - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def _walk(
    p: IntArray, t: IntArray, iou: npt.NDArray[np.float64], rank: IntArray, sizes: tuple[int, int]
) -> tuple[IntArray, IntArray]:
    order = np.lexsort((-iou, rank[p]))
    p_taken, t_taken = bytearray(sizes[0]), bytearray(sizes[1])
    mp, mt = [], []
    for i, j in zip(p[order].tolist(), t[order].tolist(), strict=True):
        if not p_taken[i] and not t_taken[j]:
            p_taken[i] = t_taken[j] = 1
            mp.append(i)
            mt.append(j)
    return np.asarray(mp, dtype=np.int64), np.asarray(mt, dtype=np.int64)


@dataclass(slots=True)
class FlatMatching:
    """Matched (prediction row, truth row) pairs, class-aware and class-agnostic."""

    aware: tuple[IntArray, IntArray]
    agnostic: tuple[IntArray, IntArray]


def match_all(
    truth: Rows, predicted: Rows, images: int, *, iou_threshold: float = MATCH_IOU
) -> FlatMatching:
    """Greedy matching of every image at once (both flavours)."""
    p, t = _pairs(truth, predicted, images)
    iou = _iou(truth, predicted, p, t)
    keep = iou >= iou_threshold
    p, t, iou = p[keep], t[keep], iou[keep]
    # Rank of each prediction: by image, then confidence (highest first), then row (stable).
    n = predicted.image.size
    rank = np.empty(n, dtype=np.int64)
    rank[np.lexsort((np.arange(n), -predicted.confidence, predicted.image))] = np.arange(n)
    sizes = (n, truth.image.size)
    same = predicted.cls[p] == truth.cls[t]
    return FlatMatching(
        aware=_walk(p[same], t[same], iou[same], rank, sizes),
        agnostic=_walk(p, t, iou, rank, sizes),
    )
