"""Figures of a classification model on human-labeled images.

Single-label: accuracy, per-class precision/recall/F1 and a confusion matrix
(rows the human class, columns the predicted class, both over the classes
and ``(none)``: an image the model gave no class sits in the ``(none)`` column). Multi-label: per-class
precision/recall/F1 over every (image, class) decision, and ``accuracy`` as
the share of images whose predicted set equals the human set (exact match).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from winnow.evaluation.matching import classification_corrections
from winnow.evaluation.samples import ClassificationSample

NO_CLASS = "(none)"
WORST_IMAGES = 20


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def _f1(p: float | None, r: float | None) -> float | None:
    if p is None or r is None:
        return None
    return 2 * p * r / (p + r) if p + r else 0.0


def evaluate_classification(
    samples: Sequence[ClassificationSample], *, multi_label: bool
) -> dict[str, Any]:
    """The figures of ``samples`` as JSON-ready data.

    Keys: ``images``, ``accuracy`` (None without images), ``per_class``
    ({class: {precision, recall, f1, support, predicted, tp}}; precision None
    for a class never predicted, recall None for a class never labeled),
    ``confusion`` ({labels, matrix}; single-label only, else None) and
    ``worst_images`` ([{image_id, false_positives, misses}]).
    """
    classes = sorted(
        {c for s in samples for c in s.truth} | {c for s in samples for c in s.predicted}
    )
    tp = dict.fromkeys(classes, 0)
    support = dict.fromkeys(classes, 0)
    predicted_n = dict.fromkeys(classes, 0)
    exact = 0
    worst = []
    for s in samples:
        truth, predicted = set(s.truth), set(s.predicted)
        exact += truth == predicted
        for c in truth:
            support[c] += 1
        for c in predicted:
            predicted_n[c] += 1
        for c in truth & predicted:
            tp[c] += 1
        if truth != predicted:
            worst.append((s.image_id, len(predicted - truth), len(truth - predicted)))
    per_class = {}
    for c in classes:
        p, r = _ratio(tp[c], predicted_n[c]), _ratio(tp[c], support[c])
        per_class[c] = {
            "precision": p,
            "recall": r,
            "f1": _f1(p, r),
            "support": support[c],
            "predicted": predicted_n[c],
            "tp": tp[c],
        }
    confusion = None
    if not multi_label:
        columns = [*classes, NO_CLASS]
        at = {c: i for i, c in enumerate(columns)}
        matrix = [[0] * len(columns) for _ in columns]
        for s in samples:
            if not s.truth:
                continue
            guess = s.predicted[0] if s.predicted else NO_CLASS
            matrix[at[s.truth[0]]][at[guess]] += 1
        confusion = {"labels": columns, "matrix": matrix}
    worst.sort(key=lambda w: (-(w[1] + w[2]), w[0]))
    return {
        "images": len(samples),
        "accuracy": _ratio(exact, len(samples)),
        "per_class": per_class,
        "confusion": confusion,
        "corrections": sum(classification_corrections(s.truth, s.predicted) for s in samples),
        "worst_images": [
            {"image_id": i, "false_positives": fp, "misses": fn}
            for i, fp, fn in worst[:WORST_IMAGES]
        ],
    }
