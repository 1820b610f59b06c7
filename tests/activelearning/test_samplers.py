"""Sampling strategies: each branch of each strategy, and the probability draw."""

from __future__ import annotations

import random
from typing import Any

import pytest

from tests.factories import make_detections
from winnow.activelearning.config import ActiveLearningConfig, Strategy, validate_config
from winnow.activelearning.samplers import matches, sample
from winnow.predictions import (
    ClassificationPrediction,
    ClassScore,
    ImageSize,
    Prediction,
    StubPrediction,
    TaskType,
    prediction_from_json,
)

IMAGE = ImageSize(width=640, height=480)


def det(*items: tuple[str, float], task: TaskType = TaskType.OBJECT_DETECTION) -> Prediction:
    """A detection-like prediction with one box per (class, confidence)."""
    return make_detections(
        class_name=[n for n, _ in items], confidence=[c for _, c in items], task=task
    )


def single(*items: tuple[str, float]) -> Prediction:
    """A single-label classification; the highest confidence is the top class."""
    classes = sorted(
        (ClassScore(n, i, c) for i, (n, c) in enumerate(items)),
        key=lambda s: s.confidence,
        reverse=True,
    )
    return ClassificationPrediction(
        image=IMAGE, classes=classes, predicted_classes=[classes[0].class_name] if classes else []
    )


def multi(scores: dict[str, float], predicted: list[str]) -> Prediction:
    """A multi-label classification as the reference server answers it."""
    return prediction_from_json(
        {
            "image": {"width": 640, "height": 480},
            "predictions": {
                n: {"confidence": c, "class_id": i} for i, (n, c) in enumerate(scores.items())
            },
            "predicted_classes": predicted,
        }
    )


STUB = StubPrediction(model_id="proj/0", task_type="object-detection")
STUB_UNKNOWN_TASK = StubPrediction(model_id="proj/0", task_type="depth-estimation")


def strategy(type_: str, **params: Any) -> Strategy:
    """One validated strategy of ``type_`` with probability 1 unless given."""
    if type_ == "random":
        params.setdefault("traffic_percentage", 1.0)
    else:
        params.setdefault("probability", 1.0)
    config = validate_config(
        {"enabled": False, "sampling_strategies": [{"name": "s", "type": type_, **params}]}
    )
    return config.sampling_strategies[0]


def close(**params: Any) -> Strategy:
    params.setdefault("threshold", 0.5)
    params.setdefault("epsilon", 0.1)
    return strategy("close_to_threshold", **params)


CASES: list[tuple[str, Strategy, Prediction, bool]] = [
    # random: everything
    ("random on detections", strategy("random"), det(("a", 0.9)), True),
    ("random on empty detections", strategy("random"), det(), True),
    ("random on classification", strategy("random"), single(("a", 0.9)), True),
    ("random on stub", strategy("random"), STUB, True),
    ("random on stub of unknown task", strategy("random"), STUB_UNKNOWN_TASK, True),
    # close_to_threshold, detection-like
    ("ctt one close detection", close(), det(("a", 0.55)), True),
    ("ctt none close", close(), det(("a", 0.9), ("b", 0.2)), False),
    ("ctt boundary is not close", close(threshold=0.5, epsilon=0.25), det(("a", 0.75)), False),
    ("ctt empty detections", close(), det(), False),
    (
        "ctt below minimum count",
        close(minimum_objects_close_to_threshold=2),
        det(("a", 0.5), ("b", 0.9)),
        False,
    ),
    (
        "ctt reaches minimum count",
        close(minimum_objects_close_to_threshold=2),
        det(("a", 0.5), ("b", 0.9), ("c", 0.45)),
        True,
    ),
    (
        "ctt selection excludes close class",
        close(selected_class_names=["car"]),
        det(("dog", 0.5), ("car", 0.95)),
        False,
    ),
    (
        "ctt selection includes close class",
        close(selected_class_names=["car"]),
        det(("dog", 0.95), ("car", 0.52)),
        True,
    ),
    (
        "ctt minimum counts only selected",
        close(selected_class_names=["car"], minimum_objects_close_to_threshold=2),
        det(("car", 0.5), ("dog", 0.5), ("dog", 0.5)),
        False,
    ),
    (
        "ctt instance segmentation",
        close(),
        det(("a", 0.5), task=TaskType.INSTANCE_SEGMENTATION),
        True,
    ),
    ("ctt keypoints", close(), det(("a", 0.5), task=TaskType.KEYPOINT_DETECTION), True),
    ("ctt never on stubs", close(threshold=0, epsilon=1), STUB, False),
    # close_to_threshold, single-label classification
    ("ctt top close", close(), single(("a", 0.55), ("b", 0.45)), True),
    ("ctt top far, other close, top only", close(), single(("a", 0.7), ("b", 0.45)), False),
    (
        "ctt top far, other close, all classes",
        close(only_top_classes=False),
        single(("a", 0.7), ("b", 0.45)),
        True,
    ),
    (
        "ctt top close but not selected",
        close(selected_class_names=["b"]),
        single(("a", 0.55), ("b", 0.45)),
        False,
    ),
    (
        "ctt selected close class, all classes",
        close(selected_class_names=["b"], only_top_classes=False),
        single(("a", 0.7), ("b", 0.45)),
        True,
    ),
    (
        "ctt only unselected class close, all classes",
        close(selected_class_names=["a"], only_top_classes=False),
        single(("a", 0.7), ("b", 0.45)),
        False,
    ),
    ("ctt empty classification", close(), single(), False),
    (
        "ctt classification ignores minimum count",
        close(minimum_objects_close_to_threshold=3),
        single(("a", 0.5)),
        True,
    ),
    # close_to_threshold, multi-label classification
    ("ctt multi predicted close", close(), multi({"a": 0.55, "b": 0.1}, ["a"]), True),
    (
        "ctt multi close but not predicted, top only",
        close(),
        multi({"a": 0.9, "b": 0.45}, ["a"]),
        False,
    ),
    (
        "ctt multi close not predicted, all classes",
        close(only_top_classes=False),
        multi({"a": 0.9, "b": 0.45}, ["a"]),
        True,
    ),
    (
        "ctt multi close predicted but not selected",
        close(selected_class_names=["b"]),
        multi({"a": 0.55, "b": 0.9}, ["a", "b"]),
        False,
    ),
    (
        "ctt multi selected, predicted and close",
        close(selected_class_names=["b"]),
        multi({"a": 0.9, "b": 0.52}, ["a", "b"]),
        True,
    ),
    ("ctt multi nothing predicted", close(), multi({"a": 0.5}, []), False),
    ("ctt multi empty", close(), multi({}, []), False),
    # classes_based
    (
        "classes top selected",
        strategy("classes_based", selected_class_names=["cat"]),
        single(("cat", 0.6), ("dog", 0.4)),
        True,
    ),
    (
        "classes top not selected",
        strategy("classes_based", selected_class_names=["dog"]),
        single(("cat", 0.6), ("dog", 0.4)),
        False,
    ),
    (
        "classes empty classification",
        strategy("classes_based", selected_class_names=["cat"]),
        single(),
        False,
    ),
    (
        "classes multi any predicted selected",
        strategy("classes_based", selected_class_names=["dog"]),
        multi({"cat": 0.9, "dog": 0.8, "cow": 0.1}, ["cat", "dog"]),
        True,
    ),
    (
        "classes multi selected but not predicted",
        strategy("classes_based", selected_class_names=["cow"]),
        multi({"cat": 0.9, "dog": 0.8, "cow": 0.1}, ["cat", "dog"]),
        False,
    ),
    (
        "classes never on detections",
        strategy("classes_based", selected_class_names=["cat"]),
        det(("cat", 0.9)),
        False,
    ),
    (
        "classes never on stubs",
        strategy("classes_based", selected_class_names=["cat"]),
        StubPrediction(model_id="p/0", task_type="classification"),
        False,
    ),
    # detections_number_based
    (
        "count within bounds",
        strategy("detections_number_based", more_than=1, less_than=4),
        det(("a", 0.9), ("b", 0.9)),
        True,
    ),
    (
        "count equal to more_than",
        strategy("detections_number_based", more_than=2, less_than=9),
        det(("a", 0.9), ("b", 0.9)),
        False,
    ),
    (
        "count equal to less_than",
        strategy("detections_number_based", more_than=0, less_than=2),
        det(("a", 0.9), ("b", 0.9)),
        False,
    ),
    (
        "only more_than",
        strategy("detections_number_based", more_than=0),
        det(*[("a", 0.9)] * 50),
        True,
    ),
    ("only more_than, empty", strategy("detections_number_based", more_than=0), det(), False),
    ("only less_than, empty", strategy("detections_number_based", less_than=1), det(), True),
    (
        "only less_than, too many",
        strategy("detections_number_based", less_than=3),
        det(("a", 0.9), ("a", 0.9), ("a", 0.9)),
        False,
    ),
    ("no bounds at all", strategy("detections_number_based"), det(), True),
    (
        "counts only selected classes",
        strategy("detections_number_based", more_than=1, selected_class_names=["car"]),
        det(("car", 0.9), ("dog", 0.9), ("dog", 0.9)),
        False,
    ),
    (
        "selected classes reach the bound",
        strategy("detections_number_based", more_than=1, selected_class_names=["car", "bus"]),
        det(("car", 0.9), ("bus", 0.1), ("dog", 0.9)),
        True,
    ),
    (
        "count on instance segmentation",
        strategy("detections_number_based", more_than=0),
        det(("a", 0.9), task=TaskType.INSTANCE_SEGMENTATION),
        True,
    ),
    (
        "count on keypoints",
        strategy("detections_number_based", less_than=2),
        det(("a", 0.9), task=TaskType.KEYPOINT_DETECTION),
        True,
    ),
    (
        "count never on classification",
        strategy("detections_number_based", less_than=5),
        single(("a", 0.9)),
        False,
    ),
    (
        "count never on stubs",
        strategy("detections_number_based", less_than=5),
        STUB,
        False,
    ),
]


@pytest.mark.parametrize(
    ("strategy_", "prediction", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_matches(strategy_: Strategy, prediction: Prediction, expected: bool) -> None:
    assert matches(strategy_, prediction) is expected


class CountingRandom(random.Random):
    """A generator returning fixed values in turn, counting draws."""

    def __init__(self, values: list[float]) -> None:
        super().__init__(0)
        self.values = list(values)
        self.draws = 0

    def random(self) -> float:
        self.draws += 1
        return self.values.pop(0)


def config(*strategies: dict[str, Any]) -> ActiveLearningConfig:
    return validate_config(
        {
            "enabled": True,
            "persist_predictions": True,
            "batching_strategy": {"batches_name_prefix": "b", "recreation_interval": "never"},
            "sampling_strategies": list(strategies),
        }
    )


def test_sample_keeps_configuration_order_and_draws_only_for_matches() -> None:
    cfg = config(
        {"name": "count", "type": "detections_number_based", "probability": 0.5, "more_than": 0},
        {"name": "cls", "type": "classes_based", "selected_class_names": ["a"], "probability": 1},
        {
            "name": "near",
            "type": "close_to_threshold",
            "threshold": 0.5,
            "epsilon": 0.1,
            "probability": 0.5,
        },
        {"name": "rand", "type": "random", "traffic_percentage": 0.5},
    )
    rng = CountingRandom([0.1, 0.7, 0.3])
    chosen = sample(cfg, det(("a", 0.5)), rng)
    # count draws 0.1 (< 0.5: taken), cls does not match (no draw), near draws 0.7 (no),
    # rand draws 0.3 (taken)
    assert [s.name for s in chosen] == ["count", "rand"]
    assert rng.draws == 3


def test_probability_one_always_and_zero_never() -> None:
    cfg = config(
        {"name": "never", "type": "random", "traffic_percentage": 0.0},
        {"name": "always", "type": "random", "traffic_percentage": 1.0},
    )
    rng = CountingRandom([0.0, 0.999999])
    assert [s.name for s in sample(cfg, STUB, rng)] == ["always"]


def test_draw_is_strictly_less_than_probability() -> None:
    cfg = config({"name": "half", "type": "random", "traffic_percentage": 0.5})
    assert sample(cfg, STUB, CountingRandom([0.5])) == []
    assert [s.name for s in sample(cfg, STUB, CountingRandom([0.4999]))] == ["half"]


def test_nothing_matches_nothing_is_drawn() -> None:
    cfg = config(
        {"name": "cls", "type": "classes_based", "selected_class_names": ["x"], "probability": 1}
    )
    rng = CountingRandom([])
    assert sample(cfg, det(("x", 0.9)), rng) == []
    assert rng.draws == 0


def test_disabled_configuration_samples_nothing() -> None:
    cfg = validate_config(
        {
            "enabled": False,
            "sampling_strategies": [{"name": "r", "type": "random", "traffic_percentage": 1}],
        }
    )
    assert sample(cfg, STUB, CountingRandom([])) == []


def test_random_rate_follows_traffic_percentage() -> None:
    cfg = config({"name": "r", "type": "random", "traffic_percentage": 0.2})
    rng = random.Random(1234)
    taken = sum(1 for _ in range(5000) if sample(cfg, STUB, rng))
    assert 900 < taken < 1100  # 1000 expected (fixed seed); 100 is about 3.5 standard deviations


def test_default_generator_is_used_without_rng() -> None:
    cfg = config({"name": "r", "type": "random", "traffic_percentage": 1.0})
    assert [s.name for s in sample(cfg, STUB)] == ["r"]
