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

- ``disagreement`` (winnow): the shadow model's prediction of the same image
  disagrees (:mod:`winnow.activelearning.disagreement`); never without one.
  With ``conditions``, both predictions are restricted to the passing objects.

Stubs match only ``random``. After a match the strategy takes the datapoint
with its probability: ``rng.random() < probability`` (1.0 always, 0.0 never).

winnow's own rules:

- ``uncertainty``: the prediction's
  :func:`~winnow.activelearning.uncertainty.uncertainty_score` is > 0 and
  ``>= threshold``, or (``top_fraction``) in the top fraction of the
  strategy's recent scores (:mod:`~winnow.activelearning.score_windows`:
  the one piece of state, kept per scope and strategy in a bounded
  :class:`ScoreWindows` the caller owns). Never matches a stub.
- ``conditions`` on any strategy (:mod:`~winnow.activelearning.objects`):
  first the objects passing every condition are counted and the strategy
  matches only when ``min_objects`` (default 1) <= count <= ``max_objects``
  (if set); then its own rule above runs on the prediction restricted to the
  passing objects (:func:`~winnow.activelearning.objects.restrict`). So
  ``detections_number_based`` counts passing detections (of its selected
  classes), ``close_to_threshold`` looks for close confidences among
  passing objects, ``classes_based`` and single-label rules need a passing
  top class, ``uncertainty`` aggregates over passing objects (its
  ``top_fraction`` ranks only predictions that pass the count), and
  ``random`` matches whenever the count does (a stub has no objects, so
  it passes only with ``min_objects: 0``).
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from winnow.activelearning.config import (
    ActiveLearningConfig,
    ClassesBasedStrategy,
    CloseToThresholdStrategy,
    DetectionsNumberBasedStrategy,
    DisagreementStrategy,
    RandomStrategy,
    Strategy,
    UncertaintyStrategy,
)
from winnow.activelearning.disagreement import disagree
from winnow.activelearning.objects import image_scale, passing_objects, restrict
from winnow.activelearning.score_windows import ScoreWindows
from winnow.activelearning.uncertainty import (
    ObjectConfidences,
    object_confidences,
    score_prediction,
)
from winnow.predictions import (
    ClassificationPrediction,
    ClassScore,
    Detection,
    DetectionPrediction,
    Prediction,
    StubPrediction,
)

# The windows used when a caller passes none (one per process): callers that
# replay or simulate traffic pass their own so they do not disturb live ones.
SHARED_WINDOWS = ScoreWindows()


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


class _Shared:
    """What the strategies of one decision share: the prediction's object confidences
    and the image's scale factors (computed on first use)."""

    __slots__ = ("factors", "objects", "ready")

    def __init__(self) -> None:
        self.objects: ObjectConfidences | None = None
        self.ready = False
        self.factors: tuple[float, float, float] | None = None

    def scale(self, prediction: DetectionPrediction) -> tuple[float, float, float]:
        if self.factors is None:
            self.factors = image_scale(prediction.image.width, prediction.image.height)
        return self.factors


def _uncertain(
    strategy: UncertaintyStrategy,
    prediction: Prediction,
    windows: ScoreWindows,
    scope: str,
    shared: _Shared | None,
) -> bool:
    if isinstance(prediction, StubPrediction):
        return False
    objects = None
    if shared is not None:  # the whole prediction (no conditions): computed once per decision
        if not shared.ready:
            shared.objects, shared.ready = object_confidences(prediction), True
        objects = shared.objects
    score = score_prediction(prediction, strategy.measure, strategy.aggregate, objects)
    fraction = strategy.top_fraction
    if fraction is None:
        threshold = strategy.threshold
        return threshold is not None and score > 0.0 and score >= threshold
    key = (scope, strategy.name)
    return windows.observe(key, score, fraction, strategy.window, strategy.scoring)


def matches(
    strategy: Strategy,
    prediction: Prediction,
    windows: ScoreWindows | None = None,
    scope: str = "",
    *,
    shadow: Prediction | None = None,
) -> bool:
    """Whether the strategy's rule holds for the prediction (before the probability draw).

    ``windows`` and ``scope`` matter only to ``top_fraction`` strategies: the
    score is ranked in (and added to) the window of ``(scope, strategy.name)``
    in ``windows`` (default :data:`SHARED_WINDOWS`). The collector's scope is
    ``"<workspace>/<project>"``. ``shadow``: the shadow model's prediction of the
    same image, if it ran (only ``disagreement`` reads it).
    """
    return _matches(strategy, prediction, windows, scope, None, shadow)


def _matches(
    strategy: Strategy,
    prediction: Prediction,
    windows: ScoreWindows | None,
    scope: str,
    shared: _Shared | None,
    shadow: Prediction | None = None,
) -> bool:
    test = strategy.object_test
    if test is not None:
        if shared is not None and type(prediction) is DetectionPrediction:
            # the image's scale factors once per decision, the compiled filter directly
            passing: list[Detection] | list[ClassScore] = test.detection_filter(
                prediction.detections, *shared.scale(prediction)
            )
        else:
            passing = passing_objects(prediction, test)
        count = len(passing)
        if count < test.min_objects or (test.max_objects is not None and count > test.max_objects):
            return False
        if isinstance(strategy, RandomStrategy):
            return True
        prediction = restrict(prediction, passing)
        shared = None  # scored on the passing objects only
        if shadow is not None and isinstance(strategy, DisagreementStrategy):
            shadow = restrict(shadow, passing_objects(shadow, test))
    if isinstance(strategy, RandomStrategy):
        return True
    if isinstance(strategy, CloseToThresholdStrategy):
        return _close_to_threshold(strategy, prediction)
    if isinstance(strategy, ClassesBasedStrategy):
        return _classes_based(strategy, prediction)
    if isinstance(strategy, DetectionsNumberBasedStrategy):
        return _detections_number_based(strategy, prediction)
    if isinstance(strategy, DisagreementStrategy):
        return shadow is not None and disagree(
            prediction, shadow, strategy.min_iou, strategy.selected
        )
    return _uncertain(
        strategy, prediction, SHARED_WINDOWS if windows is None else windows, scope, shared
    )


def sample(
    config: ActiveLearningConfig,
    prediction: Prediction,
    rng: random.Random | None = None,
    *,
    windows: ScoreWindows | None = None,
    scope: str = "",
    shadow: Prediction | None = None,
) -> list[Strategy]:
    """The strategies, in configuration order, that match and win their probability draw.

    Every strategy is evaluated (so every ``top_fraction`` window sees the
    prediction); a draw (``rng.random() < probability``) happens only for
    strategies that match, one per matching strategy. A disabled
    configuration samples nothing. ``rng`` defaults to the ``random``
    module's generator; ``windows``, ``scope`` and ``shadow`` are as for
    :func:`matches`.
    """
    if not config.enabled:
        return []
    draw = random.random if rng is None else rng.random
    shared = _Shared()
    return [
        strategy
        for strategy in config.sampling_strategies
        if _matches(strategy, prediction, windows, scope, shared, shadow)
        and draw() < strategy.probability
    ]
