"""COCO-style AP by faster-coco-eval, fed from the flat rows of :mod:`winnow.evaluation.flat`.

:func:`coco_average_precision` gives the precision array of ``COCOeval`` (one
area range, ``all``; up to :data:`MAX_DETS` detections per image). For boxes
it builds the COCO structures from numpy arrays and hands faster-coco-eval
the IoU matrices it would compute itself, one (image, class) at a time in
Python, computed here for every pair at once with the same arithmetic as its
``bbIou`` (so the same figures, bit for bit; tests/evaluation compare them
with pycocotools). Polygons (``segm``) take faster-coco-eval's own path.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from winnow.evaluation.flat import Flat, Rows, flat_of_samples
from winnow.evaluation.samples import Box, DetectionSample

MAX_DETS = 100

FloatArray = npt.NDArray[np.float64]


def _polygon_area(polygon: Sequence[float]) -> float:
    xs, ys = np.asarray(polygon[0::2]), np.asarray(polygon[1::2])
    return float(0.5 * abs(np.dot(xs, np.roll(ys, 1)) - np.dot(ys, np.roll(xs, 1))))


def _segm_entry(box: Box, image_id: int, category_id: int) -> dict[str, Any]:
    x1, y1, x2, y2 = box.xyxy
    w, h = max(x2 - x1, 0.0), max(y2 - y1, 0.0)
    entry: dict[str, Any] = {
        "image_id": image_id,
        "category_id": category_id,
        "bbox": [x1, y1, w, h],
        "area": w * h,
        "iscrowd": 0,
        "score": box.confidence,
    }
    if box.polygon is not None:
        entry["segmentation"] = [list(box.polygon)]
        entry["area"] = _polygon_area(box.polygon)
    return entry


def _xywh(rows: Rows) -> FloatArray:
    """COCO boxes ``[x, y, w, h]``: the same float64 subtractions as ``x2 - x1`` in Python."""
    xywh = rows.xyxy.copy()
    xywh[:, 2:] -= rows.xyxy[:, :2]
    return xywh


def _entries(rows: Rows, image_ids: Any, scored: bool) -> list[dict[str, Any]]:
    """One COCO annotation dict per row, ids 1..n in row order."""
    xywh = _xywh(rows)
    area = (xywh[:, 2] * xywh[:, 3]).tolist()
    images = image_ids[rows.image].tolist()
    cats = (rows.cls + 1).tolist()
    boxes = xywh.tolist()
    ids = range(1, len(boxes) + 1)
    if scored:
        return [
            {
                "id": n,
                "image_id": i,
                "category_id": c,
                "bbox": b,
                "area": a,
                "iscrowd": 0,
                "score": s,
            }
            for n, i, c, b, a, s in zip(
                ids, images, cats, boxes, area, rows.confidence.tolist(), strict=True
            )
        ]
    return [
        {"id": n, "image_id": i, "category_id": c, "bbox": b, "area": a, "iscrowd": 0}
        for n, i, c, b, a in zip(ids, images, cats, boxes, area, strict=True)
    ]


def box_ious(
    truth: Rows, predicted: Rows, image_ids: Any, k: int
) -> dict[tuple[int, int], FloatArray]:
    """The IoU matrix faster-coco-eval's ``computeIoU`` gives each (image id, category id).

    Rows are the detections of that image and class by score, highest first
    (stable, as its mergesort), columns its human boxes in row order; the
    values follow pycocotools' ``bbIou`` operation for operation. Groups with
    more than :data:`MAX_DETS` detections are left out (faster-coco-eval
    truncates those itself).
    """
    groups = image_ids.size * k
    g_t = truth.image * k + truth.cls
    g_p = predicted.image * k + predicted.cls
    t_order = np.argsort(g_t, kind="stable")
    p_order = np.lexsort((np.arange(g_p.size), -predicted.confidence, g_p))
    t_count = np.bincount(g_t, minlength=groups)
    p_count = np.bincount(g_p, minlength=groups)
    t_start = np.concatenate(([0], np.cumsum(t_count)[:-1]))
    # Pairs in row-major order of each group's (detection x human box) matrix.
    g_sorted = g_p[p_order]
    per_pred = t_count[g_sorted]
    p_idx = np.repeat(p_order, per_pred)
    block = np.repeat(np.cumsum(per_pred) - per_pred, per_pred)
    t_idx = t_order[np.repeat(t_start[g_sorted], per_pred) + np.arange(p_idx.size) - block]
    d, g = _xywh(predicted)[p_idx], _xywh(truth)[t_idx]
    # bbIou: w = min(D2 + D0, G2 + G0) - max(D0, G0); 0 unless w > 0 and h > 0; i / (da + ga - i).
    w = np.minimum(d[:, 2] + d[:, 0], g[:, 2] + g[:, 0]) - np.maximum(d[:, 0], g[:, 0])
    h = np.minimum(d[:, 3] + d[:, 1], g[:, 3] + g[:, 1]) - np.maximum(d[:, 1], g[:, 1])
    inter = w * h
    union = d[:, 2] * d[:, 3] + g[:, 2] * g[:, 3] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where((w > 0) & (h > 0), inter / union, 0.0)
    sizes = p_count * t_count
    offsets = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    out: dict[tuple[int, int], FloatArray] = {}
    present = np.nonzero(sizes)[0]
    for group, m, n, start in zip(
        present.tolist(),
        p_count[present].tolist(),
        t_count[present].tolist(),
        offsets[present].tolist(),
        strict=True,
    ):
        if m <= MAX_DETS:
            key = (int(image_ids[group // k]), group % k + 1)
            out[key] = iou[start : start + m * n].reshape(m, n)
    return out


def _evaluator_class() -> Any:
    from faster_coco_eval import COCOeval_faster

    class _Precomputed(COCOeval_faster):  # type: ignore[misc]
        """COCOeval_faster taking box IoU matrices computed beforehand."""

        precomputed: dict[tuple[int, int], FloatArray]

        def computeIoU(self, imgId: int, catId: int) -> Any:  # noqa: N802, N803
            found = self.precomputed.get((imgId, catId))
            return super().computeIoU(imgId, catId) if found is None else found

    return _Precomputed


def coco_average_precision(
    samples: Sequence[DetectionSample], classes: Sequence[str], *, iou_type: str = "bbox"
) -> Any:
    """The precision array of COCOeval (T x R x K x 1 x 1) for ``classes``; None without truth.

    ``iou_type`` is ``bbox`` or ``segm``. Index K follows ``classes``.
    """
    return average_precision(flat_of_samples(samples, classes), iou_type=iou_type, samples=samples)


def average_precision(
    flat: Flat, *, iou_type: str = "bbox", samples: Sequence[DetectionSample] | None = None
) -> Any:
    """:func:`coco_average_precision` of the images of ``flat`` (K follows ``flat.classes``).

    ``segm`` reads the polygons of ``samples`` (the same images, in order).
    """
    from faster_coco_eval import COCO

    classes = flat.classes
    image_ids = flat.image_ids
    images = [
        {"id": i, "width": w, "height": h}
        for i, (w, h) in zip(image_ids.tolist(), flat.sizes, strict=True)
    ]
    precomputed: dict[tuple[int, int], FloatArray] = {}
    if iou_type == "segm":
        if samples is None:
            raise ValueError("segm average precision needs the samples (polygons)")
        category = {name: i + 1 for i, name in enumerate(classes)}
        truth = [
            _segm_entry(b, s.image_id, category[b.class_name]) for s in samples for b in s.truth
        ]
        predicted = [
            _segm_entry(b, s.image_id, category[b.class_name]) for s in samples for b in s.predicted
        ]
        for i, entry in enumerate(truth):
            entry["id"] = i + 1
            entry.pop("score")
        for i, entry in enumerate(predicted):
            entry["id"] = i + 1
    else:
        truth = _entries(flat.truth, image_ids, scored=False)
        predicted = _entries(flat.predicted, image_ids, scored=True)
        if np.unique(image_ids).size == image_ids.size:  # else COCO merges images: its own path
            precomputed = box_ious(flat.truth, flat.predicted, image_ids, len(classes))
    if not truth:
        return None
    cats = [{"id": i + 1, "name": n} for i, n in enumerate(classes)]
    # faster-coco-eval prints progress and logs through its own logger: keep both quiet.
    logging.getLogger("faster_coco_eval").setLevel(logging.WARNING)
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {"images": images, "categories": cats, "annotations": truth}
        gt.createIndex()
        if not predicted:
            # loadRes refuses an empty list; COCOeval's answer is AP 0 where there is truth.
            empty = np.zeros((10, 101, len(classes), 1, 1))
            present = np.zeros(len(classes), dtype=bool)
            present[[e["category_id"] - 1 for e in truth]] = True
            empty[:, :, ~present] = -1.0
            return empty
        # Built like the truth rather than through loadRes, which copies every entry and
        # adds a polygon per box: a third of the time on 100,000 boxes.
        dt = COCO()
        dt.dataset = {"images": images, "categories": cats, "annotations": predicted}
        dt.createIndex()
        evaluator = _evaluator_class()(gt, dt, iou_type, separate_eval=True)
        evaluator.precomputed = precomputed
        evaluator.params.areaRng = [[0.0, 1e10]]
        evaluator.params.areaRngLbl = ["all"]
        evaluator.params.maxDets = [MAX_DETS]
        evaluator.evaluate()
        evaluator.accumulate()
    return evaluator.eval["precision"]
