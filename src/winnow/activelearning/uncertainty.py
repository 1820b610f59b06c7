"""Uncertainty scores of a prediction: pure functions, higher is more uncertain.

Every measure is turned into a score in which larger means "the model is
less sure", so one rule fits all: a strategy matches when the score is
``>= threshold`` or in the ``top_fraction`` of recent scores. A confidence
``c`` is first clamped to [0, 1] (``nan`` counts as 0).

Detection-like predictions: each object (detection) with confidence ``c``
scores

- ``least_confidence``: ``1 - c``;
- ``margin``: ``1 - (top-1 - top-2)`` of the object's two outcomes, the
  class it was given (``c``) and none (``1 - c``): ``1 - |2c - 1|``
  (the reference JSON carries no second class of a box);
- ``entropy``: the binary entropy of ``c`` in bits, ``-c log2 c - (1-c) log2 (1-c)``;
- ``mean_object_confidence``: ``1 - c``, always aggregated by ``mean``:
  ``1 -`` the mean confidence of the objects;

and the image's score is the ``aggregate`` (``max``, the default, ``mean``
or ``sum``) of its objects' scores. ``max``/``mean`` lie in [0, 1]; ``sum``
grows with the number of objects.

Single-label classification, with the returned class confidences sorted
``p1 >= p2 >= ...`` over ``K`` classes (one object, ``aggregate`` unused):

- ``least_confidence`` and ``mean_object_confidence``: ``1 - p1``;
- ``margin``: ``1 - (p1 - p2)`` (``p2 = 0`` when only one class was scored);
- ``entropy``: the entropy of the confidences normalised to sum 1, divided by
  ``log K`` (so in [0, 1]; 0 for ``K = 1``; 1 when every confidence is 0).

Multi-label classification: every scored class is a yes/no decision with
confidence ``p``; its score is ``1 - max(p, 1 - p)`` (``least_confidence``,
``mean_object_confidence``), ``1 - |2p - 1|`` (``margin``) or the binary
entropy of ``p`` (``entropy``), aggregated over the classes like objects.

A prediction with no objects (no detection, no scored class; or none
passing the strategy's conditions) and a stub score 0. A score of 0 never
matches: ``threshold`` must be > 0 and ``top_fraction`` never takes a 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Literal

from winnow.activelearning.objects import ObjectTest, passing_objects, restrict
from winnow.predictions import ClassificationPrediction, DetectionPrediction, Prediction

if TYPE_CHECKING:
    from winnow.activelearning.config.conditions import ObjectCondition

Measure = Literal["least_confidence", "margin", "entropy", "mean_object_confidence"]
Aggregate = Literal["max", "mean", "sum"]
MEASURES: tuple[Measure, ...] = ("least_confidence", "margin", "entropy", "mean_object_confidence")
AGGREGATES: tuple[Aggregate, ...] = ("max", "mean", "sum")


def default_aggregate(measure: Measure) -> Aggregate:
    """The aggregate used when a strategy sets none: ``mean`` for mean_object_confidence, else ``max``."""
    return "mean" if measure == "mean_object_confidence" else "max"


def _clamp(c: float) -> float:
    if c >= 1.0:
        return 1.0
    return c if c > 0.0 else 0.0  # nan fails both comparisons: 0


def binary_entropy(c: float) -> float:
    """``-c log2 c - (1-c) log2 (1-c)``, 0 at 0 and 1."""
    if c <= 0.0 or c >= 1.0:
        return 0.0
    return -(c * math.log2(c) + (1.0 - c) * math.log2(1.0 - c))


def object_score(confidence: float, measure: Measure) -> float:
    """The score of one detection of confidence ``confidence`` (see the module docstring)."""
    c = _clamp(confidence)
    if measure == "margin":
        return 1.0 - abs(2.0 * c - 1.0)
    if measure == "entropy":
        return binary_entropy(c)
    return 1.0 - c


def class_decision_score(confidence: float, measure: Measure) -> float:
    """The score of one class of a multi-label classification (a yes/no decision)."""
    p = _clamp(confidence)
    if measure == "margin":
        return 1.0 - abs(2.0 * p - 1.0)
    if measure == "entropy":
        return binary_entropy(p)
    return 1.0 - max(p, 1.0 - p)


def single_label_score(confidences: Sequence[float], measure: Measure) -> float:
    """The score of a single-label classification from its class confidences (any order)."""
    if not confidences:
        return 0.0
    ps = sorted((_clamp(c) for c in confidences), reverse=True)
    if measure == "margin":
        return 1.0 - (ps[0] - (ps[1] if len(ps) > 1 else 0.0))
    if measure == "entropy":
        k = len(ps)
        if k < 2:
            return 0.0
        total = sum(ps)
        if total <= 0.0:
            return 1.0
        h = -sum(p / total * math.log(p / total) for p in ps if p > 0.0)
        return min(1.0, h / math.log(k))
    return 1.0 - ps[0]


def aggregate_scores(scores: Iterable[float], aggregate: Aggregate) -> float:
    """``max`` / ``mean`` / ``sum`` of the scores; 0 when there are none."""
    values = list(scores)
    if not values:
        return 0.0
    if aggregate == "max":
        return max(values)
    total = math.fsum(values)
    return total / len(values) if aggregate == "mean" else total


def uncertainty_score(
    prediction: Prediction,
    measure: Measure,
    aggregate: Aggregate | None = None,
    conditions: Sequence[ObjectCondition] | ObjectTest | None = None,
) -> float:
    """The prediction's uncertainty score, exactly as the ``uncertainty`` strategy computes it.

    ``aggregate`` None is :func:`default_aggregate` (for mean_object_confidence
    anything but ``mean`` is refused by the configuration; here it is used as
    given). With ``conditions`` only the passing objects are scored
    (:func:`winnow.activelearning.objects.passing_objects`); the count bounds
    (``min_objects`` / ``max_objects``) are not checked here. Stubs score 0.
    The result equals the per-object definitions of the module docstring
    (:func:`object_score`, :func:`class_decision_score`, :func:`aggregate_scores`,
    :func:`single_label_score`) up to float rounding.
    """
    if conditions is not None:
        prediction = restrict(prediction, passing_objects(prediction, conditions))
    return score_prediction(prediction, measure, aggregate)


def score_prediction(
    prediction: Prediction,
    measure: Measure,
    aggregate: Aggregate | None = None,
    objects: ObjectConfidences | None = None,
) -> float:
    """:func:`uncertainty_score` without conditions; ``objects`` may carry the prediction's
    :func:`object_confidences` already computed (the sampler shares them between strategies)."""
    if isinstance(prediction, ClassificationPrediction) and not prediction.multi_label:
        return single_label_score([s.confidence for s in prediction.classes], measure)
    if objects is None:
        objects = object_confidences(prediction)
    if objects is None:
        return 0.0
    return objects.score(measure, default_aggregate(measure) if aggregate is None else aggregate)


class ObjectConfidences:
    """The confidences of a prediction's objects (detections, or multi-label classes), clamped,
    with what the measures need computed once, on first use, and then shared.

    With ``m = |2c - 1|``: margin is ``1 - m``, a class decision's least
    confidence ``(1 - m) / 2``, and the binary entropy depends on ``m`` alone
    (so its maximum is that of the object with the smallest ``m``).
    """

    __slots__ = ("_distances", "_entropy", "decisions", "lowest", "total", "values")

    def __init__(self, values: list[float], decisions: bool) -> None:
        total = sum(values)
        lowest = min(values) if values else 0.0
        if values and not (total == total and lowest >= 0.0 and max(values) <= 1.0):
            values = [_clamp(c) for c in values]  # a nan, or a value out of [0, 1]
            total, lowest = sum(values), min(values)
        self.values = values
        self.decisions = decisions  # multi-label classes: yes/no decisions
        self.total = total
        self.lowest = lowest
        self._distances: list[float] | None = None
        self._entropy: float | None = None

    def distances(self) -> list[float]:
        """``|2c - 1|`` of every object."""
        if self._distances is None:
            self._distances = [abs(c + c - 1.0) for c in self.values]
        return self._distances

    def entropy_sum(self) -> float:
        """The sum of the objects' binary entropies, in bits."""
        if self._entropy is None:
            log2 = math.log2
            self._entropy = -sum(
                [c * log2(c) + (1.0 - c) * log2(1.0 - c) for c in self.values if 0.0 < c < 1.0]
            )
        return self._entropy

    def score(self, measure: Measure, how: Aggregate) -> float:
        """The aggregate ``how`` of the objects' scores by ``measure`` (0 without objects)."""
        n = len(self.values)
        if n == 0:
            return 0.0
        if measure in ("least_confidence", "mean_object_confidence") and not self.decisions:
            if how == "max":
                return 1.0 - self.lowest
            return 1.0 - self.total / n if how == "mean" else n - self.total
        if measure == "entropy":
            if how == "max":
                return binary_entropy(0.5 + min(self.distances()) / 2)
            entropy = self.entropy_sum()
            return entropy / n if how == "mean" else entropy
        distances = self.distances()
        if how == "max":
            score = 1.0 - min(distances)
        else:
            score = n - sum(distances)
            if how == "mean":
                score /= n
        return score / 2 if self.decisions and measure != "margin" else score


def object_confidences(prediction: Prediction) -> ObjectConfidences | None:
    """The :class:`ObjectConfidences` of a detection-like or multi-label prediction, else None."""
    if isinstance(prediction, DetectionPrediction):
        return ObjectConfidences([d.confidence for d in prediction.detections], False)
    if isinstance(prediction, ClassificationPrediction) and prediction.multi_label:
        return ObjectConfidences([s.confidence for s in prediction.classes], True)
    return None
