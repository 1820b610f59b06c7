"""Object conditions, table-driven on hand-made predictions, alone and on every strategy type."""

from __future__ import annotations

import random
from typing import Any

import pytest

from tests.factories import make_detections
from winnow.activelearning.config import Strategy, validate_config
from winnow.activelearning.objects import compile_conditions, inside, passing_objects
from winnow.activelearning.samplers import matches
from winnow.activelearning.score_windows import ScoreWindows
from winnow.activelearning.uncertainty import uncertainty_score
from winnow.predictions import (
    ClassificationPrediction,
    ClassScore,
    DetectionPrediction,
    ImageSize,
    Prediction,
    StubPrediction,
    prediction_from_json,
)

W, H = 640, 480
LOWER_HALF = [[0, 0.5], [1, 0.5], [1, 1], [0, 1]]


def box(
    x: float = 320,
    y: float = 240,
    w: float = 20,
    h: float = 20,
    name: str = "person",
    confidence: float = 0.5,
) -> dict[str, Any]:
    return {"x": x, "y": y, "w": w, "h": h, "name": name, "confidence": confidence}


def det(*boxes: dict[str, Any], width: int = W, height: int = H) -> Prediction:
    return make_detections(
        [(b["x"], b["y"], b["w"], b["h"]) for b in boxes],
        class_name=[b["name"] for b in boxes],
        confidence=[b["confidence"] for b in boxes],
        width=width,
        height=height,
    )


def single(*items: tuple[str, float], width: int = 224, height: int = 224) -> Prediction:
    classes = sorted(
        (ClassScore(n, i, c) for i, (n, c) in enumerate(items)),
        key=lambda s: s.confidence,
        reverse=True,
    )
    return ClassificationPrediction(
        image=ImageSize(width, height),
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


def strategy(type_: str = "random", **params: Any) -> Strategy:
    if type_ == "random":
        params.setdefault("traffic_percentage", 1.0)
    elif type_ != "uncertainty":
        params.setdefault("probability", 1.0)
    config = validate_config(
        {"enabled": False, "sampling_strategies": [{"name": "s", "type": type_, **params}]}
    )
    return config.sampling_strategies[0]


def cond(**fields: Any) -> Strategy:
    """A random strategy with one condition (the condition alone decides)."""
    return strategy(conditions=[fields])


STUB = StubPrediction(model_id="p/0", task_type="object-detection")

# --------------------------------------------------------------------------- each field

FIELD_CASES: list[tuple[str, Strategy, Prediction, bool]] = [
    # classes
    ("class in list", cond(classes=["person", "car"]), det(box(name="car")), True),
    ("class not in list", cond(classes=["person"]), det(box(name="car")), False),
    # confidence: inclusive ends, null is open
    ("confidence inside", cond(confidence=[0.2, 0.6]), det(box(confidence=0.4)), True),
    ("confidence at low end", cond(confidence=[0.2, 0.6]), det(box(confidence=0.2)), True),
    ("confidence at high end", cond(confidence=[0.2, 0.6]), det(box(confidence=0.6)), True),
    ("confidence above", cond(confidence=[0.2, 0.6]), det(box(confidence=0.61)), False),
    ("confidence below", cond(confidence=[0.2, 0.6]), det(box(confidence=0.19)), False),
    ("confidence open low", cond(confidence=[None, 0.6]), det(box(confidence=0.0)), True),
    ("confidence open high", cond(confidence=[0.9, None]), det(box(confidence=1.0)), True),
    # width / height in pixels
    ("width inside", cond(width=[10, 30]), det(box(w=30)), True),
    ("width outside", cond(width=[10, 30]), det(box(w=31)), False),
    ("height open low", cond(height=[None, 32]), det(box(h=32)), True),
    ("height outside", cond(height=[None, 32]), det(box(h=33)), False),
    # area: a fraction of the image (640 x 480 = 307200 px)
    ("area small enough", cond(area=[0, 0.01]), det(box(w=40, h=40)), True),  # 0.0052
    ("area too big", cond(area=[0, 0.01]), det(box(w=60, h=60)), False),  # 0.0117
    ("area at least", cond(area=[0.25, None]), det(box(w=320, h=240)), True),  # exactly 0.25
    ("area of an image of size 0", cond(area=[0, 1]), det(box(), width=0, height=0), False),
    # aspect = w / h
    ("aspect wide", cond(aspect=[2, None]), det(box(w=40, h=20)), True),
    ("aspect tall", cond(aspect=[2, None]), det(box(w=20, h=40)), False),
    ("aspect of a flat box is infinite", cond(aspect=[2, None]), det(box(w=5, h=0)), True),
    ("infinite aspect above a bound", cond(aspect=[2, 10]), det(box(w=5, h=0)), False),
    ("aspect of a 0 x 0 box passes nothing", cond(aspect=[0, None]), det(box(w=0, h=0)), False),
    # region: the centre, relative, edges inclusive
    ("centre in lower half", cond(region=LOWER_HALF), det(box(y=400)), True),
    ("centre in upper half", cond(region=LOWER_HALF), det(box(y=100)), False),
    ("centre on the edge", cond(region=LOWER_HALF), det(box(y=240)), True),
    ("centre on the left edge", cond(region=LOWER_HALF), det(box(x=0, y=400)), True),
    ("centre left of the frame", cond(region=LOWER_HALF), det(box(x=-1, y=400)), False),
    ("box reaching in, centre out", cond(region=LOWER_HALF), det(box(y=230, h=100)), False),
    (
        "triangle contains",
        cond(region=[[0, 0], [1, 0], [0, 1]]),
        det(box(x=0.2 * W, y=0.2 * H)),
        True,
    ),
    (
        "triangle excludes",
        cond(region=[[0, 0], [1, 0], [0, 1]]),
        det(box(x=0.8 * W, y=0.8 * H)),
        False,
    ),
    (
        "concave notch excludes",
        cond(region=[[0, 0], [1, 0], [1, 1], [0.5, 0.3], [0, 1]]),
        det(box(x=0.5 * W, y=0.6 * H)),
        False,
    ),
    (
        "concave arm contains",
        cond(region=[[0, 0], [1, 0], [1, 1], [0.5, 0.3], [0, 1]]),
        det(box(x=0.9 * W, y=0.8 * H)),
        True,
    ),
    ("region of an image of size 0", cond(region=LOWER_HALF), det(box(), width=0, height=0), False),
    # several fields of one condition: all of them
    (
        "every field passes",
        cond(classes=["person"], confidence=[0, 0.6], width=[0, 32], region=LOWER_HALF),
        det(box(y=400, w=20, confidence=0.5)),
        True,
    ),
    (
        "one field fails",
        cond(classes=["person"], confidence=[0, 0.6], width=[0, 32], region=LOWER_HALF),
        det(box(y=400, w=40, confidence=0.5)),
        False,
    ),
    # classification: classes and confidence on the top class, box fields on the image
    ("top class selected", cond(classes=["cat"]), single(("cat", 0.7), ("dog", 0.3)), True),
    (
        "second class does not count",
        cond(classes=["dog"]),
        single(("cat", 0.7), ("dog", 0.3)),
        False,
    ),
    ("top confidence", cond(confidence=[0, 0.6]), single(("cat", 0.55), ("dog", 0.45)), True),
    (
        "top confidence too high",
        cond(confidence=[0, 0.6]),
        single(("cat", 0.7), ("dog", 0.3)),
        False,
    ),
    ("image is the box: area 1", cond(area=[1, 1]), single(("cat", 0.7)), True),
    ("image is the box: width", cond(width=[None, 100]), single(("cat", 0.7)), False),
    ("image is the box: aspect", cond(aspect=[2, None]), single(("cat", 0.7), width=500), True),
    ("image centre in region", cond(region=LOWER_HALF), single(("cat", 0.7)), True),
    (
        "image centre not in region",
        cond(region=[[0, 0], [0.4, 0], [0.4, 0.4]]),
        single(("cat", 0.7)),
        False,
    ),
    ("empty classification", cond(classes=["cat"]), single(), False),
    # multi-label: every scored class is an object
    ("multi any class", cond(classes=["dog"]), multi({"cat": 0.9, "dog": 0.2}), True),
    (
        "multi class and confidence",
        cond(classes=["dog"], confidence=[0.5, 1]),
        multi({"cat": 0.9, "dog": 0.2}),
        False,
    ),
    # stubs have no objects
    ("stub has no objects", cond(classes=["person"]), STUB, False),
]


@pytest.mark.parametrize(
    ("strategy_", "prediction", "expected"),
    [c[1:] for c in FIELD_CASES],
    ids=[c[0] for c in FIELD_CASES],
)
def test_condition_field(strategy_: Strategy, prediction: Prediction, expected: bool) -> None:
    assert matches(strategy_, prediction) is expected


def test_several_conditions_combine_by_and() -> None:
    s = strategy(
        conditions=[{"classes": ["person", "car"]}, {"classes": ["car"]}, {"width": [0, 30]}]
    )
    prediction = det(box(name="person"), box(name="car", w=10), box(name="car", w=50))
    assert s.object_test is not None
    passing = passing_objects(prediction, s.object_test)
    assert [(d.class_name, d.width) for d in passing] == [("car", 10)]  # type: ignore[union-attr]
    # the same from the configuration's conditions themselves
    assert passing_objects(prediction, s.conditions or ()) == passing


def test_rectangles_and_polygons_are_all_required() -> None:
    s = strategy(
        conditions=[
            {"region": LOWER_HALF},
            {"region": [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]},  # left half
            {"region": [[0, 0], [1, 0], [0, 1]]},  # upper-left triangle
        ]
    )
    test = s.object_test
    assert test is not None and test.rect == (0.0, 0.5, 0.5, 1.0) and len(test.polygons) == 1
    assert matches(s, det(box(x=0.2 * W, y=0.6 * H)))  # lower left, inside the triangle
    assert not matches(s, det(box(x=0.45 * W, y=0.9 * H)))  # lower left, outside the triangle
    assert not matches(s, det(box(x=0.1 * W, y=0.1 * H)))  # in the triangle, upper half


def test_point_in_polygon_on_vertices_and_edges() -> None:
    triangle = ((0.0, 0.0), (1.0, 0.0), (0.0, 1.0))
    assert inside(0.0, 0.0, triangle)
    assert inside(0.5, 0.0, triangle)
    assert inside(0.5, 0.5, triangle)  # on the slanted edge
    assert not inside(0.51, 0.51, triangle)
    assert not inside(-0.01, 0.5, triangle)


# --------------------------------------------------------------------------- counts

COUNT_CASES: list[tuple[str, Strategy, Prediction, bool]] = [
    ("default: at least one", cond(classes=["car"]), det(box(name="person")), False),
    ("default: one is enough", cond(classes=["car"]), det(box(name="car")), True),
    (
        "min_objects 2 not reached",
        strategy(conditions=[{"classes": ["car"]}], min_objects=2),
        det(box(name="car"), box(name="person")),
        False,
    ),
    (
        "min_objects 2 reached",
        strategy(conditions=[{"classes": ["car"]}], min_objects=2),
        det(box(name="car"), box(name="car")),
        True,
    ),
    (
        "max_objects exceeded",
        strategy(conditions=[{"classes": ["car"]}], max_objects=1),
        det(box(name="car"), box(name="car")),
        False,
    ),
    (
        "min_objects 0 with none passing",
        strategy(conditions=[{"classes": ["car"]}], min_objects=0, max_objects=0),
        det(box(name="person")),
        True,
    ),
    (
        "min_objects 0 matches a stub",
        strategy(conditions=[{"classes": ["car"]}], min_objects=0),
        STUB,
        True,
    ),
]


@pytest.mark.parametrize(
    ("strategy_", "prediction", "expected"),
    [c[1:] for c in COUNT_CASES],
    ids=[c[0] for c in COUNT_CASES],
)
def test_object_counts(strategy_: Strategy, prediction: Prediction, expected: bool) -> None:
    assert matches(strategy_, prediction) is expected


# --------------------------------------------------------------------------- the example


def test_small_people_low_confidence_lower_half_is_one_strategy() -> None:
    """ "People smaller than 32 px with confidence under 0.6 in the lower half of the frame"."""
    config = validate_config(
        {
            "enabled": True,
            "persist_predictions": True,
            "batching_strategy": {"batches_name_prefix": "b", "recreation_interval": "never"},
            "sampling_strategies": [
                {
                    "name": "small unsure people, lower half",
                    "type": "random",
                    "traffic_percentage": 1.0,
                    "conditions": [
                        {
                            "classes": ["person"],
                            "width": [None, 32],
                            "height": [None, 32],
                            "confidence": [None, 0.6],
                            "region": LOWER_HALF,
                        }
                    ],
                }
            ],
        }
    )
    (s,) = config.sampling_strategies
    target = box(x=300, y=400, w=12, h=30, confidence=0.45)
    assert matches(s, det(target))
    assert matches(s, det(box(name="car", y=100, w=300, h=200, confidence=0.99), target))
    for miss in (
        {**target, "name": "car"},  # not a person
        {**target, "h": 40},  # not small
        {**target, "w": 33},  # not small
        {**target, "confidence": 0.65},  # confident
        {**target, "y": 200},  # upper half
    ):
        assert not matches(s, det(miss)), miss
    assert not matches(s, det())


# --------------------------------------------------------------------------- on each strategy type

SMALL = [{"width": [None, 32]}]
COMBINED: list[tuple[str, Strategy, Prediction, bool]] = [
    # close_to_threshold: close confidences among passing objects only
    (
        "ctt close object passes",
        strategy("close_to_threshold", threshold=0.5, epsilon=0.1, conditions=SMALL),
        det(box(w=10, confidence=0.5)),
        True,
    ),
    (
        "ctt close object does not pass",
        strategy("close_to_threshold", threshold=0.5, epsilon=0.1, conditions=SMALL),
        det(box(w=100, confidence=0.5), box(w=10, confidence=0.95)),
        False,
    ),
    (
        "ctt minimum counts passing close objects",
        strategy(
            "close_to_threshold",
            threshold=0.5,
            epsilon=0.1,
            minimum_objects_close_to_threshold=2,
            conditions=SMALL,
        ),
        det(box(w=10, confidence=0.5), box(w=100, confidence=0.5)),
        False,
    ),
    (
        "ctt classification with a passing top class",
        strategy(
            "close_to_threshold", threshold=0.5, epsilon=0.1, conditions=[{"classes": ["cat"]}]
        ),
        single(("cat", 0.55), ("dog", 0.45)),
        True,
    ),
    (
        "ctt classification top class fails",
        strategy(
            "close_to_threshold",
            threshold=0.5,
            epsilon=0.1,
            only_top_classes=False,
            conditions=[{"classes": ["dog"]}],
        ),
        single(("cat", 0.55), ("dog", 0.45)),
        False,
    ),
    # classes_based: the top class must pass
    (
        "classes top passes",
        strategy(
            "classes_based", selected_class_names=["cat"], conditions=[{"confidence": [0, 0.8]}]
        ),
        single(("cat", 0.7), ("dog", 0.3)),
        True,
    ),
    (
        "classes top too confident",
        strategy(
            "classes_based", selected_class_names=["cat"], conditions=[{"confidence": [0, 0.6]}]
        ),
        single(("cat", 0.7), ("dog", 0.3)),
        False,
    ),
    (
        "classes multi-label passing predicted class",
        strategy("classes_based", selected_class_names=["dog"], conditions=[{"classes": ["dog"]}]),
        multi({"cat": 0.9, "dog": 0.8}),
        True,
    ),
    (
        "classes multi-label predicted class filtered out",
        strategy("classes_based", selected_class_names=["dog"], conditions=[{"classes": ["cat"]}]),
        multi({"cat": 0.9, "dog": 0.8}),
        False,
    ),
    # detections_number_based: counts passing detections
    (
        "count of passing objects within bounds",
        strategy("detections_number_based", more_than=1, conditions=SMALL),
        det(box(w=10), box(w=10), box(w=100)),
        True,
    ),
    (
        "count ignores objects that do not pass",
        strategy("detections_number_based", more_than=2, conditions=SMALL),
        det(box(w=10), box(w=10), box(w=100)),
        False,
    ),
    (
        "count with selected classes among passing objects",
        strategy(
            "detections_number_based",
            more_than=0,
            selected_class_names=["car"],
            conditions=SMALL,
        ),
        det(box(name="car", w=100), box(name="person", w=10)),
        False,
    ),
    (
        "less_than 1 needs min_objects 0",
        strategy("detections_number_based", less_than=1, conditions=SMALL),
        det(box(w=100)),
        False,
    ),
    (
        "less_than 1 with min_objects 0",
        strategy("detections_number_based", less_than=1, conditions=SMALL, min_objects=0),
        det(box(w=100)),
        True,
    ),
    # uncertainty: aggregated over passing objects
    (
        "uncertain object passes",
        strategy("uncertainty", measure="least_confidence", threshold=0.5, conditions=SMALL),
        det(box(w=10, confidence=0.3), box(w=100, confidence=0.9)),
        True,
    ),
    (
        "uncertain object does not pass",
        strategy("uncertainty", measure="least_confidence", threshold=0.5, conditions=SMALL),
        det(box(w=100, confidence=0.3), box(w=10, confidence=0.9)),
        False,
    ),
    (
        "classification uncertainty with a passing top class",
        strategy("uncertainty", measure="margin", threshold=0.8, conditions=[{"classes": ["cat"]}]),
        single(("cat", 0.55), ("dog", 0.45)),
        True,
    ),
    (
        "classification uncertainty, top class fails",
        strategy("uncertainty", measure="margin", threshold=0.8, conditions=[{"classes": ["dog"]}]),
        single(("cat", 0.55), ("dog", 0.45)),
        False,
    ),
]


@pytest.mark.parametrize(
    ("strategy_", "prediction", "expected"),
    [c[1:] for c in COMBINED],
    ids=[c[0] for c in COMBINED],
)
def test_conditions_on_each_strategy_type(
    strategy_: Strategy, prediction: Prediction, expected: bool
) -> None:
    assert matches(strategy_, prediction, ScoreWindows()) is expected


def test_uncertainty_score_aggregates_only_passing_objects() -> None:
    prediction = det(
        box(w=10, confidence=0.8), box(w=10, confidence=0.6), box(w=100, confidence=0.1)
    )
    conditions = compile_conditions(
        validate_config(
            {
                "enabled": False,
                "sampling_strategies": [
                    {"name": "s", "type": "random", "traffic_percentage": 1, "conditions": SMALL}
                ],
            }
        )
        .sampling_strategies[0]
        .conditions
        or ()
    )
    assert uncertainty_score(prediction, "least_confidence", "mean") == pytest.approx(0.5)
    assert uncertainty_score(prediction, "least_confidence", "mean", conditions) == pytest.approx(
        0.3
    )
    assert uncertainty_score(prediction, "least_confidence", "sum", conditions) == pytest.approx(
        0.6
    )


def test_top_fraction_ranks_only_predictions_that_pass_the_count() -> None:
    s = strategy("uncertainty", measure="least_confidence", top_fraction=0.5, conditions=SMALL)
    windows = ScoreWindows()
    matches(s, det(box(w=100, confidence=0.2)), windows)  # no small object: not ranked
    assert windows.window(("", "s")) is None
    matches(s, det(box(w=10, confidence=0.2)), windows)
    window = windows.window(("", "s"))
    assert window is not None and len(window) == 1


# --------------------------------------------------------------------------- against the definition


def _in_range(value: float, bounds: Any) -> bool:
    low, high = bounds
    return (low is None or low <= value) and (high is None or value <= high)


def _naive_inside(x: float, y: float, points: Any) -> bool:
    """Even-odd rule plus edges, written from the documentation, point by point."""
    n, hit = len(points), False
    for i in range(n):
        (ax, ay), (bx, by) = points[i], points[(i + 1) % n]
        on_line = (bx - ax) * (y - ay) == (by - ay) * (x - ax)
        if on_line and min(ax, bx) <= x <= max(ax, bx) and min(ay, by) <= y <= max(ay, by):
            return True
        if (ay > y) != (by > y) and x < ax + (y - ay) * (bx - ax) / (by - ay):
            hit = not hit
    return hit


def _naive_passes(d: Any, conditions: list[dict[str, Any]], width: int, height: int) -> bool:
    for c in conditions:
        if "classes" in c and d.class_name not in c["classes"]:
            return False
        checks = {
            "confidence": d.confidence,
            "width": d.width,
            "height": d.height,
            "area": d.width * d.height / (width * height),
            "aspect": d.width / d.height,
        }
        for name, value in checks.items():
            if name in c and not _in_range(value, c[name]):
                return False
        if "region" in c and not _naive_inside(d.x / width, d.y / height, c["region"]):
            return False
    return True


def test_compiled_filter_agrees_with_the_definition_on_random_cases() -> None:
    rng = random.Random(5)
    names = ["person", "car", "bus"]

    def bounds(top: float) -> list[float | None]:
        low, high = sorted((rng.uniform(0, top), rng.uniform(0, top)))
        open_end = rng.random()
        return [None if open_end < 0.2 else low, None if 0.2 <= open_end < 0.4 else high]

    shapes = [
        LOWER_HALF,
        [[0.1, 0.1], [0.9, 0.2], [0.6, 0.9]],
        [[0, 0], [1, 0], [1, 1], [0.5, 0.3], [0, 1]],
        [[0.2, 0.2], [0.8, 0.2], [0.8, 0.8], [0.2, 0.8]],
    ]
    passed = failed = 0
    for _ in range(300):
        conditions: list[dict[str, Any]] = []
        for _ in range(rng.randint(1, 3)):
            c: dict[str, Any] = {}
            if rng.random() < 0.5:
                c["classes"] = rng.sample(names, rng.randint(1, 3))
            for name, top in (
                ("confidence", 1),
                ("width", 200),
                ("height", 200),
                ("area", 0.05),
                ("aspect", 4),
            ):
                if rng.random() < 0.3:
                    c[name] = bounds(top)
            if rng.random() < 0.4:
                c["region"] = rng.choice(shapes)
            if not c:
                c = {"classes": names}
            conditions.append(c)
        s = strategy(conditions=conditions)
        boxes = [
            box(
                x=rng.uniform(0, W),
                y=rng.uniform(0, H),
                w=rng.uniform(1, 200),
                h=rng.uniform(1, 200),
                name=rng.choice(names),
                confidence=rng.random(),
            )
            for _ in range(20)
        ]
        prediction = det(*boxes)
        assert isinstance(prediction, DetectionPrediction)
        expected = [d for d in prediction.detections if _naive_passes(d, conditions, W, H)]
        assert s.object_test is not None
        assert passing_objects(prediction, s.object_test) == expected, conditions
        passed += len(expected)
        failed += len(prediction.detections) - len(expected)
    assert passed > 300 and failed > 300  # both sides were exercised
