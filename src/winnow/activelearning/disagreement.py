"""Disagreement between the served model and a shadow model on one image: pure functions.

:func:`disagree` is what the ``disagreement`` strategy asks and what the
shadow runner counts for the disagreement rate. What callers may rely on:

- detection family (object detection, segmentation, keypoints): objects are
  matched one to one, class-agnostically, greedily by box IoU (highest
  first), a pair only when its IoU is ``>= min_iou``. The two disagree when
  an object of either has no match, or a matched pair has different classes.
  Two empty predictions agree.
- single-label classification: the top classes differ (no class at all
  counts as a class of its own). Multi-label: the sets of predicted classes
  differ.
- ``selected`` (a class selection) restricts both sides to those classes
  first (by the object's, or the top class's, name).
- a stub on either side never disagrees (there is nothing to compare);
  predictions of different kinds (a detection and a classification) always do.

:func:`disagreement` says which objects disagree (indices into each side's
``detections``): the crops of a ``collect: "crops"`` disagreement strategy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from winnow.predictions import (
    ClassificationPrediction,
    Detection,
    DetectionPrediction,
    Prediction,
    StubPrediction,
)


@dataclass(slots=True, frozen=True)
class Disagreement:
    """The outcome of comparing two predictions of one image.

    ``disagree`` is the verdict; ``primary`` and ``shadow`` are the indices (in
    ``detections`` order) of the objects of each side that have no match or a
    match of another class (empty for classification).
    """

    disagree: bool
    primary: tuple[int, ...] = ()
    shadow: tuple[int, ...] = ()


_AGREE = Disagreement(False)


def _iou_matrix(a: Sequence[Detection], b: Sequence[Detection]) -> npt.NDArray[np.float64]:
    boxes_a = np.array([d.xyxy() for d in a], dtype=np.float64).reshape(-1, 4)
    boxes_b = np.array([d.xyxy() for d in b], dtype=np.float64).reshape(-1, 4)
    x1 = np.maximum(boxes_a[:, None, 0], boxes_b[None, :, 0])
    y1 = np.maximum(boxes_a[:, None, 1], boxes_b[None, :, 1])
    x2 = np.minimum(boxes_a[:, None, 2], boxes_b[None, :, 2])
    y2 = np.minimum(boxes_a[:, None, 3], boxes_b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (boxes_a[:, 2] - boxes_a[:, 0]) * (boxes_a[:, 3] - boxes_a[:, 1])
    area_b = (boxes_b[:, 2] - boxes_b[:, 0]) * (boxes_b[:, 3] - boxes_b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, inter / union, 0.0)
    return iou


def _detections(
    primary: DetectionPrediction,
    shadow: DetectionPrediction,
    min_iou: float,
    selected: frozenset[str] | None,
) -> Disagreement:
    a = [
        i for i, d in enumerate(primary.detections) if selected is None or d.class_name in selected
    ]
    b = [i for i, d in enumerate(shadow.detections) if selected is None or d.class_name in selected]
    if not a and not b:
        return _AGREE
    unmatched_a, unmatched_b = set(a), set(b)
    wrong: list[tuple[int, int]] = []
    if a and b:
        iou = _iou_matrix([primary.detections[i] for i in a], [shadow.detections[j] for j in b])
        rows, cols = np.nonzero(iou >= min_iou)
        order = np.argsort(-iou[rows, cols], kind="stable")
        for k in order:
            i, j = a[int(rows[k])], b[int(cols[k])]
            if i not in unmatched_a or j not in unmatched_b:
                continue
            unmatched_a.discard(i)
            unmatched_b.discard(j)
            if primary.detections[i].class_name != shadow.detections[j].class_name:
                wrong.append((i, j))
    out_a = sorted(unmatched_a | {i for i, _ in wrong})
    out_b = sorted(unmatched_b | {j for _, j in wrong})
    if not out_a and not out_b:
        return _AGREE
    return Disagreement(True, tuple(out_a), tuple(out_b))


def _classes(
    primary: ClassificationPrediction,
    shadow: ClassificationPrediction,
    selected: frozenset[str] | None,
) -> Disagreement:
    if primary.multi_label or shadow.multi_label:
        mine = {c for c in primary.predicted_classes if selected is None or c in selected}
        theirs = {c for c in shadow.predicted_classes if selected is None or c in selected}
        return Disagreement(mine != theirs)

    def top(prediction: ClassificationPrediction) -> str | None:
        best = prediction.top
        return None if best is None else best.class_name

    mine_top, theirs_top = top(primary), top(shadow)
    if selected is not None and mine_top not in selected and theirs_top not in selected:
        return _AGREE
    return Disagreement(mine_top != theirs_top)


def disagreement(
    primary: Prediction,
    shadow: Prediction,
    min_iou: float,
    selected: frozenset[str] | None = None,
) -> Disagreement:
    """Compare the served ``primary`` with the ``shadow`` prediction (module docstring)."""
    if isinstance(primary, StubPrediction) or isinstance(shadow, StubPrediction):
        return _AGREE
    if isinstance(primary, DetectionPrediction) and isinstance(shadow, DetectionPrediction):
        return _detections(primary, shadow, min_iou, selected)
    if isinstance(primary, ClassificationPrediction) and isinstance(
        shadow, ClassificationPrediction
    ):
        return _classes(primary, shadow, selected)
    return Disagreement(True)


def disagree(
    primary: Prediction,
    shadow: Prediction,
    min_iou: float,
    selected: frozenset[str] | None = None,
) -> bool:
    """Whether the two predictions of one image disagree (module docstring)."""
    return disagreement(primary, shadow, min_iou, selected).disagree
