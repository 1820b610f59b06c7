"""The matching of :mod:`winnow.evaluation.matching` over every image at once, on flat arrays.

Evaluating 100,000 boxes one image at a time spends most of its time in
small numpy calls. Here every box of every image is one row: IoU is computed
for all (prediction, human box) pairs of the same image in one vectorized
step, and only the candidate pairs (IoU >= threshold) are walked in Python,
in the order of :func:`winnow.evaluation.matching._greedy` (image, then
prediction confidence, then IoU), so the result is the same matching.
:func:`flat_of_bodies` builds the rows straight from stored annotation bodies
(the evaluation of a project), :func:`flat_of_samples` from samples (tests).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from winnow.errors import PredictionFormatError
from winnow.evaluation.matching import MATCH_IOU
from winnow.evaluation.samples import DetectionSample, boxes_from_body

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


@dataclass(slots=True)
class Flat:
    """A whole detection evaluation as rows: images (by index), sorted class names, both sides."""

    image_ids: IntArray
    sizes: list[tuple[int, int]]  # (width, height) per image
    classes: list[str]
    truth: Rows
    predicted: Rows


def flat_of_samples(
    samples: Sequence[DetectionSample], classes: Sequence[str] | None = None
) -> Flat:
    """The rows of ``samples``; ``classes`` (default: every class named, sorted) index them."""
    if classes is None:
        classes = sorted(
            {b.class_name for s in samples for b in s.truth}
            | {b.class_name for s in samples for b in s.predicted}
        )
    index = {name: i for i, name in enumerate(classes)}
    return Flat(
        np.asarray([s.image_id for s in samples], dtype=np.int64),
        [(s.width, s.height) for s in samples],
        list(classes),
        rows_of(samples, index, truth=True),
        rows_of(samples, index, truth=False),
    )


_XYWH = itemgetter("x", "y", "width", "height")


def _side(body: tuple[str, str]) -> tuple[list[Any], list[str], list[float]]:
    """Centre boxes, class names and confidences of a stored detection body (as boxes_from_body)."""
    fmt, text = body
    if fmt != "json":
        raise PredictionFormatError("a detection annotation must be JSON")
    try:
        items = orjson.loads(text)["predictions"]  # twice as fast as json here: 100,000s of boxes
        boxes = list(map(_XYWH, items))
        names = [str(d.get("class", "")) for d in items]
        confidence = [float(d.get("confidence", 1.0)) for d in items]
    except (ValueError, KeyError, TypeError) as exc:
        raise PredictionFormatError(f"not a detection prediction ({exc})") from None
    return boxes, names, confidence


def _rows(image: list[int], boxes: list[Any], cls: list[int], conf: list[float]) -> Rows:
    given = np.asarray(boxes)
    if given.size and given.dtype.kind not in "biuf":  # numpy would read "5" as 5.0
        raise TypeError(f"box coordinates must be numbers, not {given.dtype}")
    centre = given.astype(np.float64).reshape(-1, 4)
    half_w, half_h = centre[:, 2] / 2, centre[:, 3] / 2  # x - w / 2, as boxes_from_body computes
    xyxy = np.stack(
        (
            centre[:, 0] - half_w,
            centre[:, 1] - half_h,
            centre[:, 0] + half_w,
            centre[:, 1] + half_h,
        ),
        axis=1,
    )
    return Rows(
        np.asarray(image, dtype=np.int64),
        np.asarray(cls, dtype=np.int64),
        xyxy,
        np.asarray(conf, dtype=np.float64),
    )


def flat_of_bodies(
    images: Sequence[tuple[int, int, int]],
    bodies: Sequence[tuple[tuple[str, str], tuple[str, str]]],
) -> Flat:
    """Rows straight from stored (truth, prediction) bodies, one pair per image (id, w, h).

    The same boxes as :func:`flat_of_samples` of ``boxes_from_body`` would give,
    without a ``Box`` per box; a pair whose body is not detection JSON is left out.
    """
    ids: list[int] = []
    sizes: list[tuple[int, int]] = []
    # Per side (truth, predicted): image index, centre boxes, class names, confidences.
    columns: list[tuple[list[int], list[Any], list[str], list[float]]] = [
        ([], [], [], []),
        ([], [], [], []),
    ]
    for (image_id, width, height), pair in zip(images, bodies, strict=True):
        try:
            parsed = _side(pair[0]), _side(pair[1])
        except PredictionFormatError:
            continue  # a body of another task (the project type cannot change): not comparable
        position = len(ids)
        ids.append(image_id)
        sizes.append((width, height))
        for (boxes, names, conf), (image, all_boxes, all_names, all_conf) in zip(
            parsed, columns, strict=True
        ):
            image.extend([position] * len(boxes))
            all_boxes.extend(boxes)
            all_names.extend(names)
            all_conf.extend(conf)
    classes = sorted(set(columns[0][2]) | set(columns[1][2]))
    index = {name: i for i, name in enumerate(classes)}
    try:
        truth, predicted = (
            _rows(image, boxes, [index[n] for n in names], conf)
            for image, boxes, names, conf in columns
        )
    except (ValueError, TypeError):  # a coordinate that is no number (stored bodies are checked)
        return flat_of_samples(_parsed_samples(images, bodies))
    return Flat(np.asarray(ids, dtype=np.int64), sizes, classes, truth, predicted)


def _parsed_samples(
    images: Sequence[tuple[int, int, int]],
    bodies: Sequence[tuple[tuple[str, str], tuple[str, str]]],
) -> list[DetectionSample]:
    samples = []
    for (image_id, width, height), (truth, served) in zip(images, bodies, strict=True):
        try:
            parsed = boxes_from_body(truth[1], truth[0]), boxes_from_body(served[1], served[0])
        except PredictionFormatError:
            continue
        samples.append(DetectionSample(image_id, width, height, *parsed))
    return samples


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
