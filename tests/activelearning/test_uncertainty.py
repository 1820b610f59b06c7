"""Uncertainty scores, table-driven on hand-made predictions, and the ``uncertainty`` strategy."""

from __future__ import annotations

import random
from typing import Any

import pytest

from tests.factories import make_detections
from winnow.activelearning.config import Strategy, validate_config
from winnow.activelearning.samplers import matches, sample
from winnow.activelearning.score_windows import ScoreWindows
from winnow.activelearning.uncertainty import (
    AGGREGATES,
    MEASURES,
    Aggregate,
    Measure,
    aggregate_scores,
    class_decision_score,
    object_score,
    uncertainty_score,
)
from winnow.predictions import (
    ClassificationPrediction,
    ClassScore,
    ImageSize,
    Prediction,
    StubPrediction,
    TaskType,
    prediction_from_json,
)


def det(*confidences: float, task: TaskType = TaskType.OBJECT_DETECTION) -> Prediction:
    return make_detections(
        class_name=[f"c{i}" for i in range(len(confidences))],
        confidence=list(confidences),
        task=task,
    )


def single(*confidences: float) -> Prediction:
    classes = [ClassScore(f"k{i}", i, c) for i, c in enumerate(confidences)]
    classes.sort(key=lambda s: s.confidence, reverse=True)
    return ClassificationPrediction(
        image=ImageSize(224, 224),
        classes=classes,
        predicted_classes=[classes[0].class_name] if classes else [],
    )


def multi(scores: dict[str, float]) -> Prediction:
    return prediction_from_json(
        {
            "image": {"width": 224, "height": 224},
            "predictions": {
                n: {"confidence": c, "class_id": i} for i, (n, c) in enumerate(scores.items())
            },
            "predicted_classes": [n for n, c in scores.items() if c >= 0.5],
        }
    )


THREE = det(0.9, 0.6, 0.3)
MULTI = multi({"a": 0.9, "b": 0.45, "c": 0.05})
# Binary entropies in bits, computed by hand: H(p) = -p log2 p - (1-p) log2 (1-p).
H_09, H_06, H_03, H_045, H_005 = 0.4689956, 0.9709506, 0.8812909, 0.9927745, 0.2863970

SCORES: list[tuple[str, Prediction, Measure, Aggregate | None, float]] = [
    # detection-like: per object, then aggregated
    ("det least max (default)", THREE, "least_confidence", None, 0.7),
    ("det least max", THREE, "least_confidence", "max", 0.7),
    ("det least mean", THREE, "least_confidence", "mean", 0.4),
    ("det least sum", THREE, "least_confidence", "sum", 1.2),
    ("det margin max", THREE, "margin", "max", 0.8),
    ("det margin mean", THREE, "margin", "mean", (0.2 + 0.8 + 0.6) / 3),
    ("det margin sum", THREE, "margin", "sum", 1.6),
    ("det entropy max", THREE, "entropy", "max", H_06),
    ("det entropy mean", THREE, "entropy", "mean", (H_09 + H_06 + H_03) / 3),
    ("det entropy sum", THREE, "entropy", "sum", H_09 + H_06 + H_03),
    ("det mean object confidence", THREE, "mean_object_confidence", None, 0.4),
    ("det margin at 0.5 is 1", det(0.5), "margin", None, 1.0),
    ("det entropy at 0.5 is 1", det(0.5), "entropy", None, 1.0),
    ("det certain object", det(1.0), "entropy", None, 0.0),
    ("det confidence above 1 clamped", det(1.5), "least_confidence", None, 0.0),
    ("det nan confidence counts as 0", det(float("nan")), "least_confidence", None, 1.0),
    (
        "det segmentation",
        det(0.8, task=TaskType.INSTANCE_SEGMENTATION),
        "least_confidence",
        None,
        0.2,
    ),
    ("det keypoints", det(0.8, task=TaskType.KEYPOINT_DETECTION), "margin", None, 0.4),
    # no objects: 0 for every measure and aggregate
    ("det empty least", det(), "least_confidence", "max", 0.0),
    ("det empty margin mean", det(), "margin", "mean", 0.0),
    ("det empty entropy sum", det(), "entropy", "sum", 0.0),
    ("det empty mean object", det(), "mean_object_confidence", None, 0.0),
    # single-label: from the class confidences; aggregate unused
    ("single least", single(0.7, 0.2, 0.1), "least_confidence", None, 0.3),
    ("single least ignores aggregate", single(0.7, 0.2, 0.1), "least_confidence", "sum", 0.3),
    ("single margin", single(0.7, 0.2, 0.1), "margin", None, 0.5),
    ("single entropy", single(0.7, 0.2, 0.1), "entropy", None, 0.7298467),
    ("single entropy normalised", single(0.35, 0.1, 0.05), "entropy", None, 0.7298467),
    ("single entropy uniform", single(0.5, 0.5), "entropy", None, 1.0),
    ("single entropy all zero", single(0.0, 0.0), "entropy", None, 1.0),
    ("single mean object confidence", single(0.7, 0.2, 0.1), "mean_object_confidence", None, 0.3),
    ("single tie margin", single(0.5, 0.5), "margin", None, 1.0),
    ("single one class margin", single(0.8), "margin", None, 0.2),
    ("single one class entropy", single(0.8), "entropy", None, 0.0),
    ("single empty", single(), "entropy", None, 0.0),
    # multi-label: every class a yes/no decision
    ("multi least max", MULTI, "least_confidence", None, 0.45),
    ("multi least mean", MULTI, "least_confidence", "mean", 0.2),
    ("multi least sum", MULTI, "least_confidence", "sum", 0.6),
    ("multi margin max", MULTI, "margin", "max", 0.9),
    ("multi margin mean", MULTI, "margin", "mean", 0.4),
    ("multi margin sum", MULTI, "margin", "sum", 1.2),
    ("multi entropy max", MULTI, "entropy", "max", H_045),
    ("multi entropy mean", MULTI, "entropy", "mean", (H_09 + H_045 + H_005) / 3),
    ("multi entropy sum", MULTI, "entropy", "sum", H_09 + H_045 + H_005),
    ("multi mean object confidence", MULTI, "mean_object_confidence", None, 0.2),
    ("multi empty", multi({}), "margin", "sum", 0.0),
    # stubs
    ("stub", StubPrediction(model_id="p/0", task_type="object-detection"), "entropy", None, 0.0),
]


@pytest.mark.parametrize(
    ("prediction", "measure", "aggregate", "expected"),
    [c[1:] for c in SCORES],
    ids=[c[0] for c in SCORES],
)
def test_uncertainty_score(
    prediction: Prediction, measure: Measure, aggregate: Aggregate | None, expected: float
) -> None:
    assert uncertainty_score(prediction, measure, aggregate) == pytest.approx(expected, abs=1e-6)


def test_scores_stay_within_0_and_1_except_sums() -> None:
    predictions = [det(*(i / 10 for i in range(11))), single(0.4, 0.3, 0.3), MULTI]
    for prediction in predictions:
        for measure in ("least_confidence", "margin", "entropy", "mean_object_confidence"):
            for aggregate in ("max", "mean"):
                score = uncertainty_score(prediction, measure, aggregate)
                assert 0.0 <= score <= 1.0, (prediction, measure, aggregate)


# --------------------------------------------------------------------------- the strategy


def uncertainty(**params: Any) -> Strategy:
    config = validate_config(
        {"enabled": False, "sampling_strategies": [{"name": "u", "type": "uncertainty", **params}]}
    )
    return config.sampling_strategies[0]


THRESHOLD_CASES: list[tuple[str, Strategy, Prediction, bool]] = [
    ("above threshold", uncertainty(measure="least_confidence", threshold=0.5), det(0.3), True),
    ("at threshold", uncertainty(measure="least_confidence", threshold=0.5), det(0.5), True),
    ("below threshold", uncertainty(measure="least_confidence", threshold=0.5), det(0.6), False),
    (
        "max finds the one uncertain object",
        uncertainty(measure="margin", threshold=0.9),
        det(0.99, 0.98, 0.52),
        True,
    ),
    (
        "mean dilutes it",
        uncertainty(measure="margin", aggregate="mean", threshold=0.9),
        det(0.99, 0.98, 0.52),
        False,
    ),
    (
        "sum above 1",
        uncertainty(measure="least_confidence", aggregate="sum", threshold=1.5),
        det(0.5, 0.5, 0.4),
        True,
    ),
    (
        "empty image never matches",
        uncertainty(measure="entropy", threshold=0.01),
        det(),
        False,
    ),
    (
        "classification by entropy",
        uncertainty(measure="entropy", threshold=0.7),
        single(0.7, 0.2, 0.1),
        True,
    ),
    (
        "confident classification",
        uncertainty(measure="margin", threshold=0.5),
        single(0.95, 0.05),
        False,
    ),
    ("multi-label per class", uncertainty(measure="entropy", threshold=0.99), MULTI, True),
    (
        "never a stub",
        uncertainty(measure="least_confidence", threshold=0.01),
        StubPrediction(model_id="p/0", task_type="object-detection"),
        False,
    ),
]


@pytest.mark.parametrize(
    ("strategy", "prediction", "expected"),
    [c[1:] for c in THRESHOLD_CASES],
    ids=[c[0] for c in THRESHOLD_CASES],
)
def test_threshold_rule(strategy: Strategy, prediction: Prediction, expected: bool) -> None:
    assert matches(strategy, prediction, ScoreWindows()) is expected


def test_top_fraction_ranks_in_the_window_of_its_scope_and_strategy() -> None:
    strategy = uncertainty(measure="least_confidence", top_fraction=0.5, window=10)
    windows = ScoreWindows()
    # The first score is alone in its window: half of it is taken (carry 0.5, not taken).
    assert not matches(strategy, det(0.5), windows, "ws/a")
    # 0.9 uncertain (score 0.9) is above the one score seen: top half of two.
    assert matches(strategy, det(0.1), windows, "ws/a")
    # A score below both seen: not in the top half of three.
    assert not matches(strategy, det(0.95), windows, "ws/a")
    window = windows.window(("ws/a", "u"))
    assert window is not None and len(window) == 3
    # Another project ranks in its own window.
    assert windows.window(("ws/b", "u")) is None
    matches(strategy, det(0.5), windows, "ws/b")
    assert len(windows) == 2


def test_top_fraction_never_takes_a_score_of_zero() -> None:
    strategy = uncertainty(measure="least_confidence", top_fraction=1.0)
    windows = ScoreWindows()
    assert not matches(strategy, det(), windows)
    assert not matches(strategy, det(1.0), windows)
    assert matches(strategy, det(0.9), windows)


def test_bulk_scores_equal_the_per_object_definitions() -> None:
    rng = random.Random(8)
    for _ in range(200):
        n = rng.randint(0, 30)
        confidences = [rng.choice((0.0, 1.0, rng.random(), rng.random())) for _ in range(n)]
        detection = det(*confidences)
        labels = multi({f"k{i}": c for i, c in enumerate(confidences)})
        for measure in MEASURES:
            for aggregate in AGGREGATES:
                expected = aggregate_scores(
                    [object_score(c, measure) for c in confidences], aggregate
                )
                assert uncertainty_score(detection, measure, aggregate) == pytest.approx(
                    expected, abs=1e-9
                )
                expected = aggregate_scores(
                    [class_decision_score(c, measure) for c in confidences], aggregate
                )
                assert uncertainty_score(labels, measure, aggregate) == pytest.approx(
                    expected, abs=1e-9
                )


def test_sample_gives_each_strategy_the_decision_matches_gives() -> None:
    """sample() shares the prediction's confidences between strategies; the decisions are
    those of each strategy alone, conditions or not."""
    strategies = [
        {"name": "lc", "type": "uncertainty", "measure": "least_confidence", "threshold": 0.6},
        {
            "name": "m",
            "type": "uncertainty",
            "measure": "margin",
            "aggregate": "mean",
            "threshold": 0.5,
        },
        {
            "name": "e",
            "type": "uncertainty",
            "measure": "entropy",
            "aggregate": "sum",
            "threshold": 1.5,
        },
        {
            "name": "cars",
            "type": "uncertainty",
            "measure": "least_confidence",
            "threshold": 0.6,
            "conditions": [{"classes": ["c0"]}],
        },
    ]
    config = validate_config(
        {
            "enabled": True,
            "persist_predictions": True,
            "batching_strategy": {"batches_name_prefix": "b", "recreation_interval": "never"},
            "sampling_strategies": strategies,
        }
    )
    rng = random.Random(2)
    seen = set()
    for _ in range(300):
        prediction = det(*(rng.random() for _ in range(rng.randint(0, 6))))
        chosen = [
            s.name for s in sample(config, prediction, random.Random(0), windows=ScoreWindows())
        ]
        alone = [
            s.name for s in config.sampling_strategies if matches(s, prediction, ScoreWindows())
        ]
        assert chosen == alone
        seen.update(chosen)
    assert seen == {"lc", "m", "e", "cars"}
