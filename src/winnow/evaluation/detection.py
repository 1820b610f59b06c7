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

from collections.abc import Sequence
from typing import Any

import numpy as np

from winnow.evaluation.coco import MAX_DETS, average_precision, coco_average_precision
from winnow.evaluation.flat import Flat, flat_of_samples, match_all
from winnow.evaluation.samples import DetectionSample

__all__ = [
    "BACKGROUND",
    "MAX_DETS",
    "coco_average_precision",
    "evaluate_detection",
    "evaluate_flat",
]

BACKGROUND = "background"
WORST_IMAGES = 20


def _mean(values: Any) -> float | None:
    valid = values[values > -1]
    return float(valid.mean()) if valid.size else None


def evaluate_detection(
    samples: Sequence[DetectionSample], *, iou_type: str = "bbox"
) -> dict[str, Any]:
    """The figures of ``samples`` as JSON-ready data (see :func:`evaluate_flat`)."""
    return evaluate_flat(flat_of_samples(samples), iou_type=iou_type, samples=samples)


def evaluate_flat(
    flat: Flat, *, iou_type: str = "bbox", samples: Sequence[DetectionSample] | None = None
) -> dict[str, Any]:
    """The figures of the images of ``flat`` as JSON-ready data.

    ``segm`` needs the ``samples`` (their polygons); ``bbox`` reads ``flat`` alone.

    Keys: ``images``, ``boxes`` (human), ``predictions``, ``map``, ``map50``
    (None without any human box), ``precision``, ``recall`` (over all
    classes), ``per_class`` ({class: {ap, ap50, precision, recall, support,
    predicted, tp, pr_curve: {recall, precision}}}), ``confusion`` ({labels,
    matrix}) and ``worst_images`` ([{image_id, false_positives, misses}],
    most errors first). ``ap``/``ap50`` are None for a class without human
    boxes, ``precision`` None for a class never predicted.
    """
    classes, truth, predicted = flat.classes, flat.truth, flat.predicted
    k, n_images = len(classes), flat.image_ids.size
    matched = match_all(truth, predicted, n_images)
    support = np.bincount(truth.cls, minlength=k)
    predicted_n = np.bincount(predicted.cls, minlength=k)
    aware_p, aware_t = matched.aware
    tp = np.bincount(predicted.cls[aware_p], minlength=k)
    # Worst images: class-aware false positives and misses per image.
    fp = np.bincount(predicted.image, minlength=n_images) - np.bincount(
        predicted.image[aware_p], minlength=n_images
    )
    fn = np.bincount(truth.image, minlength=n_images) - np.bincount(
        truth.image[aware_t], minlength=n_images
    )
    bad = np.nonzero(fp + fn)[0]
    worst = [(int(flat.image_ids[i]), int(fp[i]), int(fn[i])) for i in bad.tolist()]
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
    precision = average_precision(flat, iou_type=iou_type, samples=samples) if k else None
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
        "images": n_images,
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
