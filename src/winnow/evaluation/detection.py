"""Figures of a detection-family model on human-labeled images.

:func:`evaluate_detection` gives COCO-style mAP@[.5:.95] and mAP@.5, overall
and per class, computed by faster-coco-eval (the C++ port of pycocotools'
``COCOeval``, same figures, about 4x faster here; see bench/bench_evaluation.py)
with one area range (all) and up to ``max_dets`` detections per image. Instance
segmentation projects are scored on their polygons (``segm``) when every box
has one, every other project on boxes (keypoint projects too: OKS needs
per-keypoint sigmas that projects do not declare).

Precision and recall are those of the stored predictions as served (their
confidence threshold already applied): a prediction is a true positive when
it takes, by :func:`winnow.evaluation.matching.match`, a human box of its
class at IoU >= 0.5. The confusion matrix matches class-agnostically at IoU
0.5; rows are the human class, columns the predicted class, the last row
and column are ``background`` (a false positive sits in the background row,
a miss in the background column).
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from winnow.evaluation.flat import match_all, rows_of
from winnow.evaluation.samples import Box, DetectionSample

BACKGROUND = "background"
MAX_DETS = 100
WORST_IMAGES = 20


def _polygon_area(polygon: Sequence[float]) -> float:
    xs, ys = np.asarray(polygon[0::2]), np.asarray(polygon[1::2])
    return float(0.5 * abs(np.dot(xs, np.roll(ys, 1)) - np.dot(ys, np.roll(xs, 1))))


def _coco_entry(box: Box, image_id: int, category_id: int, segm: bool) -> dict[str, Any]:
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
    if segm and box.polygon is not None:
        entry["segmentation"] = [list(box.polygon)]
        entry["area"] = _polygon_area(box.polygon)
    return entry


def coco_average_precision(
    samples: Sequence[DetectionSample], classes: Sequence[str], *, iou_type: str = "bbox"
) -> Any:
    """The precision array of COCOeval (T x R x K x 1 x 1) for ``classes``; None without truth.

    ``iou_type`` is ``bbox`` or ``segm``. Index K follows ``classes``.
    """
    from faster_coco_eval import COCO, COCOeval_faster

    category = {name: i + 1 for i, name in enumerate(classes)}
    segm = iou_type == "segm"
    images = [{"id": s.image_id, "width": s.width, "height": s.height} for s in samples]
    if segm:
        truth = [
            _coco_entry(b, s.image_id, category[b.class_name], True)
            for s in samples
            for b in s.truth
        ]
        predicted = [
            _coco_entry(b, s.image_id, category[b.class_name], True)
            for s in samples
            for b in s.predicted
        ]
    else:
        # Inlined for boxes: this runs for every one of 100,000s of boxes.
        truth = [
            {
                "image_id": s.image_id,
                "category_id": category[b.class_name],
                "bbox": [b.xyxy[0], b.xyxy[1], b.xyxy[2] - b.xyxy[0], b.xyxy[3] - b.xyxy[1]],
                "area": (b.xyxy[2] - b.xyxy[0]) * (b.xyxy[3] - b.xyxy[1]),
                "iscrowd": 0,
            }
            for s in samples
            for b in s.truth
        ]
        predicted = [
            {
                "image_id": s.image_id,
                "category_id": category[b.class_name],
                "bbox": [b.xyxy[0], b.xyxy[1], b.xyxy[2] - b.xyxy[0], b.xyxy[3] - b.xyxy[1]],
                "area": (b.xyxy[2] - b.xyxy[0]) * (b.xyxy[3] - b.xyxy[1]),
                "iscrowd": 0,
                "score": b.confidence,
            }
            for s in samples
            for b in s.predicted
        ]
    if not truth:
        return None
    for i, entry in enumerate(truth):
        entry["id"] = i + 1
        entry.pop("score", None)
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
            empty[:, :, ~_has_truth(truth, len(classes))] = -1.0
            return empty
        # Built like the truth rather than through loadRes, which copies every entry and
        # adds a polygon per box: a third of the time on 100,000 boxes.
        for i, entry in enumerate(predicted):
            entry["id"] = i + 1
        dt = COCO()
        dt.dataset = {"images": images, "categories": cats, "annotations": predicted}
        dt.createIndex()
        evaluator = COCOeval_faster(gt, dt, iou_type, separate_eval=True)
        evaluator.params.areaRng = [[0.0, 1e10]]
        evaluator.params.areaRngLbl = ["all"]
        evaluator.params.maxDets = [MAX_DETS]
        evaluator.evaluate()
        evaluator.accumulate()
    return evaluator.eval["precision"]


def _has_truth(truth: list[dict[str, Any]], k: int) -> Any:
    present = np.zeros(k, dtype=bool)
    for entry in truth:
        present[entry["category_id"] - 1] = True
    return present


def _mean(values: Any) -> float | None:
    valid = values[values > -1]
    return float(valid.mean()) if valid.size else None


def evaluate_detection(
    samples: Sequence[DetectionSample], *, iou_type: str = "bbox"
) -> dict[str, Any]:
    """The figures of ``samples`` as JSON-ready data.

    Keys: ``images``, ``boxes`` (human), ``predictions``, ``map``, ``map50``
    (None without any human box), ``precision``, ``recall`` (over all
    classes), ``per_class`` ({class: {ap, ap50, precision, recall, support,
    predicted, tp, pr_curve: {recall, precision}}}), ``confusion`` ({labels,
    matrix}) and ``worst_images`` ([{image_id, false_positives, misses}],
    most errors first). ``ap``/``ap50`` are None for a class without human
    boxes, ``precision`` None for a class never predicted.
    """
    classes = sorted(
        {b.class_name for s in samples for b in s.truth}
        | {b.class_name for s in samples for b in s.predicted}
    )
    k = len(classes)
    index = {name: i for i, name in enumerate(classes)}
    truth = rows_of(samples, index, truth=True)
    predicted = rows_of(samples, index, truth=False)
    matched = match_all(truth, predicted, len(samples))
    support = np.bincount(truth.cls, minlength=k)
    predicted_n = np.bincount(predicted.cls, minlength=k)
    aware_p, aware_t = matched.aware
    tp = np.bincount(predicted.cls[aware_p], minlength=k)
    # Worst images: class-aware false positives and misses per image.
    fp = np.bincount(predicted.image, minlength=len(samples)) - np.bincount(
        predicted.image[aware_p], minlength=len(samples)
    )
    fn = np.bincount(truth.image, minlength=len(samples)) - np.bincount(
        truth.image[aware_t], minlength=len(samples)
    )
    bad = np.nonzero(fp + fn)[0]
    worst = [(samples[i].image_id, int(fp[i]), int(fn[i])) for i in bad.tolist()]
    # Confusion: class-agnostic pairs, then the unmatched on the background row and column.
    agn_p, agn_t = matched.agnostic
    confusion_array = np.zeros((k + 1, k + 1), dtype=np.int64)
    np.add.at(confusion_array, (truth.cls[agn_t], predicted.cls[agn_p]), 1)
    lone_p = np.ones(predicted.cls.size, dtype=bool)
    lone_p[agn_p] = False
    lone_t = np.ones(truth.cls.size, dtype=bool)
    lone_t[agn_t] = False
    np.add.at(confusion_array, (k, predicted.cls[lone_p]), 1)
    np.add.at(confusion_array, (truth.cls[lone_t], k), 1)
    labels = [*classes, BACKGROUND]
    confusion = confusion_array.tolist()
    precision = coco_average_precision(samples, classes, iou_type=iou_type) if k else None
    per_class: dict[str, dict[str, Any]] = {}
    recall_axis = [round(float(r), 2) for r in np.linspace(0.0, 1.0, 101)]
    for c, name in enumerate(classes):
        ap = ap50 = None
        curve: list[float] = []
        if precision is not None:
            ap, ap50 = _mean(precision[:, :, c, 0, -1]), _mean(precision[0, :, c, 0, -1])
            curve = [max(float(v), 0.0) for v in precision[0, :, c, 0, -1]]
        per_class[name] = {
            "ap": ap,
            "ap50": ap50,
            "precision": float(tp[c] / predicted_n[c]) if predicted_n[c] else None,
            "recall": float(tp[c] / support[c]) if support[c] else None,
            "support": int(support[c]),
            "predicted": int(predicted_n[c]),
            "tp": int(tp[c]),
            "pr_curve": {"recall": recall_axis, "precision": curve} if curve else None,
        }
    worst.sort(key=lambda w: (-(w[1] + w[2]), w[0]))
    total_pred, total_truth, total_tp = int(predicted_n.sum()), int(support.sum()), int(tp.sum())
    return {
        "images": len(samples),
        "boxes": total_truth,
        "predictions": total_pred,
        "map": _mean(precision[:, :, :, 0, -1]) if precision is not None else None,
        "map50": _mean(precision[0, :, :, 0, -1]) if precision is not None else None,
        "precision": total_tp / total_pred if total_pred else None,
        "recall": total_tp / total_truth if total_truth else None,
        "per_class": per_class,
        "confusion": {"labels": labels, "matrix": confusion},
        "worst_images": [
            {"image_id": i, "false_positives": fp, "misses": fn}
            for i, fp, fn in worst[:WORST_IMAGES]
        ],
    }
