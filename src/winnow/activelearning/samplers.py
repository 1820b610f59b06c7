"""Sampling strategies: which configured strategies want a prediction.

Each strategy is a pure function of the prediction; the image is never
looked at, so the decision is cheap and runs for every prediction. The
semantics are those of the reference ``inference`` package
(``inference/core/active_learning/samplers``):

- ``random``: every prediction, stubs included.
- ``close_to_threshold``: a confidence is close when
  ``|confidence - threshold| < epsilon``. Detection-like tasks: at least
  ``minimum_objects_close_to_threshold`` detections of the selected classes
  (all classes without a selection) are close. Single-label classification:
  with ``only_top_classes`` the top class is selected (if a selection is
  given) and its confidence is close; otherwise any selected class's
  confidence is close. Multi-label: any selected class is close, looking
  only at ``predicted_classes`` when ``only_top_classes``.
- ``classes_based``: classification only; the top class (single-label) or
  any predicted class (multi-label) is selected.
- ``detections_number_based``: detection-like tasks only; the number of
  detections of the selected classes is ``> more_than`` and ``< less_than``
  (an absent bound does not apply).

Stubs match only ``random``. After a match the strategy takes the datapoint
with its probability: ``rng.random() < probability`` (1.0 always, 0.0 never).
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from winnow.activelearning.config import (
    ActiveLearningConfig,
    ClassesBasedStrategy,
    CloseToThresholdStrategy,
    DetectionsNumberBasedStrategy,
    RandomStrategy,
    Strategy,
)
from winnow.predictions import (
    ClassificationPrediction,
    ClassScore,
    DetectionPrediction,
    Prediction,
)


def _close(confidences: Iterable[float], threshold: float, epsilon: float) -> int:
    return sum(1 for c in confidences if abs(c - threshold) < epsilon)


def _close_to_threshold(strategy: CloseToThresholdStrategy, prediction: Prediction) -> bool:
    threshold, epsilon, selected = strategy.threshold, strategy.epsilon, strategy.selected
    if isinstance(prediction, DetectionPrediction):
        needed = strategy.minimum_objects_close_to_threshold
        found = 0
        for d in prediction.detections:
            if abs(d.confidence - threshold) < epsilon and (
                selected is None or d.class_name in selected
            ):
                found += 1
                if found >= needed:
                    return True
        return False
    if not isinstance(prediction, ClassificationPrediction):
        return False
    classes: Iterable[ClassScore]
    if prediction.multi_label:
        classes = prediction.classes
        if strategy.only_top_classes:
            predicted = set(prediction.predicted_classes)
            classes = [c for c in classes if c.class_name in predicted]
    elif strategy.only_top_classes:
        top = prediction.top
        classes = () if top is None else (top,)
    else:
        classes = prediction.classes
    if selected is not None:
        classes = [c for c in classes if c.class_name in selected]
    return _close((c.confidence for c in classes), threshold, epsilon) > 0


def _classes_based(strategy: ClassesBasedStrategy, prediction: Prediction) -> bool:
    if not isinstance(prediction, ClassificationPrediction):
        return False
    selected = strategy.selected or frozenset()
    if prediction.multi_label:
        predicted = set(prediction.predicted_classes)
        return any(
            c.class_name in predicted and c.class_name in selected for c in prediction.classes
        )
    top = prediction.top
    return top is not None and top.class_name in selected


def _detections_number_based(
    strategy: DetectionsNumberBasedStrategy, prediction: Prediction
) -> bool:
    if not isinstance(prediction, DetectionPrediction):
        return False
    selected = strategy.selected
    if selected is None:
        count = len(prediction.detections)
    else:
        count = sum(1 for d in prediction.detections if d.class_name in selected)
    if strategy.more_than is not None and not count > strategy.more_than:
        return False
    return strategy.less_than is None or count < strategy.less_than


def matches(strategy: Strategy, prediction: Prediction) -> bool:
    """Whether the strategy's condition holds for the prediction (before the probability draw)."""
    if isinstance(strategy, RandomStrategy):
        return True
    if isinstance(strategy, CloseToThresholdStrategy):
        return _close_to_threshold(strategy, prediction)
    if isinstance(strategy, ClassesBasedStrategy):
        return _classes_based(strategy, prediction)
    return _detections_number_based(strategy, prediction)


def sample(
    config: ActiveLearningConfig, prediction: Prediction, rng: random.Random | None = None
) -> list[Strategy]:
    """The strategies, in configuration order, that match and win their probability draw.

    A draw (``rng.random() < probability``) happens only for strategies that
    match, one per matching strategy. A disabled configuration samples nothing.
    ``rng`` defaults to the ``random`` module's generator.
    """
    if not config.enabled:
        return []
    draw = random.random if rng is None else rng.random
    return [
        strategy
        for strategy in config.sampling_strategies
        if matches(strategy, prediction) and draw() < strategy.probability
    ]
