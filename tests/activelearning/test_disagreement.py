"""disagree / disagreement on hand-made predictions, one row per rule."""

from __future__ import annotations

import pytest

from tests.factories import make_detections
from winnow.activelearning.config import validate_config
from winnow.activelearning.disagreement import disagree, disagreement
from winnow.activelearning.samplers import sample
from winnow.predictions import (
    ClassificationPrediction,
    ClassScore,
    ImageSize,
    Prediction,
    StubPrediction,
)

# Box A: centre (50, 50), 20 x 20. Box B: shifted right by 5 (IoU 15*20/(2*400-300) = 0.6).
A = (50.0, 50.0, 20.0, 20.0)
B = (55.0, 50.0, 20.0, 20.0)
FAR = (200.0, 200.0, 20.0, 20.0)


def boxes(*objects: tuple[tuple[float, float, float, float], str]) -> Prediction:
    return make_detections(
        [box for box, _ in objects], class_name=[name for _, name in objects], width=300, height=300
    )


def classes(*scores: tuple[str, float], multi: tuple[str, ...] | None = None) -> Prediction:
    ordered = sorted(scores, key=lambda s: -s[1])
    return ClassificationPrediction(
        image=ImageSize(64, 64),
        classes=[ClassScore(name, i, conf) for i, (name, conf) in enumerate(ordered)],
        multi_label=multi is not None,
        predicted_classes=list(multi) if multi is not None else [ordered[0][0]] if ordered else [],
    )


CASES: list[tuple[str, Prediction, Prediction, float, bool]] = [
    ("both empty agree", boxes(), boxes(), 0.5, False),
    ("same box same class", boxes((A, "car")), boxes((A, "car")), 0.5, False),
    ("shifted box over min_iou", boxes((A, "car")), boxes((B, "car")), 0.5, False),
    ("shifted box at exactly min_iou", boxes((A, "car")), boxes((B, "car")), 0.6, False),
    ("shifted box under min_iou", boxes((A, "car")), boxes((B, "car")), 0.7, True),
    ("matched pair of another class", boxes((A, "car")), boxes((A, "truck")), 0.5, True),
    ("object only in primary", boxes((A, "car")), boxes(), 0.5, True),
    ("object only in shadow", boxes(), boxes((A, "car")), 0.5, True),
    ("far boxes", boxes((A, "car")), boxes((FAR, "car")), 0.5, True),
    (
        "one to one: two primary objects on one shadow object",
        boxes((A, "car"), (B, "car")),
        boxes((A, "car")),
        0.5,
        True,
    ),
    (
        "order does not matter",
        boxes((A, "car"), (FAR, "person")),
        boxes((FAR, "person"), (A, "car")),
        0.5,
        False,
    ),
    ("same top class", classes(("cat", 0.7), ("dog", 0.3)), classes(("cat", 0.5)), 0.5, False),
    (
        "another top class",
        classes(("cat", 0.7), ("dog", 0.3)),
        classes(("dog", 0.6), ("cat", 0.4)),
        0.5,
        True,
    ),
    ("no class against a class", classes(), classes(("cat", 0.9)), 0.5, True),
    (
        "multi-label same set",
        classes(("a", 0.9), ("b", 0.8), multi=("a", "b")),
        classes(("b", 0.9), ("a", 0.6), multi=("b", "a")),
        0.5,
        False,
    ),
    (
        "multi-label another set",
        classes(("a", 0.9), ("b", 0.8), multi=("a", "b")),
        classes(("a", 0.9), multi=("a",)),
        0.5,
        True,
    ),
    (
        "stub never disagrees",
        StubPrediction("p/0", "object-detection"),
        boxes((A, "car")),
        0.5,
        False,
    ),
    ("detection against classification", boxes((A, "car")), classes(("cat", 0.9)), 0.5, True),
]


@pytest.mark.parametrize(
    ("primary", "shadow", "min_iou", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_disagree(primary: Prediction, shadow: Prediction, min_iou: float, expected: bool) -> None:
    assert disagree(primary, shadow, min_iou) is expected
    # symmetric in its verdict
    assert disagree(shadow, primary, min_iou) is expected


def test_disagreeing_objects_are_named_on_each_side() -> None:
    primary = boxes((A, "car"), (FAR, "person"), ((120.0, 120.0, 10.0, 10.0), "dog"))
    shadow = boxes((FAR, "person"), (A, "truck"))
    found = disagreement(primary, shadow, 0.5)
    assert found.disagree
    assert found.primary == (0, 2)  # the car matched a truck; the dog has no match
    assert found.shadow == (1,)  # the truck


def test_class_selection_restricts_both_sides() -> None:
    primary = boxes((A, "car"), (FAR, "person"))
    shadow = boxes((A, "car"))
    assert disagree(primary, shadow, 0.5)
    assert not disagree(primary, shadow, 0.5, frozenset({"car"}))
    assert disagree(primary, shadow, 0.5, frozenset({"person"}))
    cat, dog = classes(("cat", 0.9)), classes(("dog", 0.9))
    assert not disagree(cat, dog, 0.5, frozenset({"bird"}))
    assert disagree(cat, dog, 0.5, frozenset({"dog"}))


def test_the_disagreement_strategy_samples_only_with_a_disagreeing_shadow() -> None:
    config = validate_config(
        {
            "enabled": True,
            "persist_predictions": True,
            "batching_strategy": {"batches_name_prefix": "b", "recreation_interval": "never"},
            "shadow": {"model_id": "p/2", "traffic_percentage": 1.0},
            "sampling_strategies": [
                {"name": "d", "type": "disagreement", "probability": 1.0, "min_iou": 0.7}
            ],
        }
    )
    primary = boxes((A, "car"))
    assert sample(config, primary) == []  # no shadow run: no match
    assert sample(config, primary, shadow=boxes((A, "car"))) == []
    assert [s.name for s in sample(config, primary, shadow=boxes((B, "car")))] == ["d"]
