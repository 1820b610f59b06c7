"""Vectorized matching gives what ``samplers.matches`` gives, record by record."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from tests.factories import RECORD_CLASSES, make_records
from winnow.activelearning.config import validate_config
from winnow.activelearning.samplers import matches
from winnow.backtest.matching import _one_by_one, strategy_mask, vectorized
from winnow.backtest.records import columns, record_prediction
from winnow.predictions import ClassificationPrediction, DetectionPrediction, StubPrediction

TASKS = (
    "object-detection",
    "instance-segmentation",
    "keypoint-detection",
    "classification",
    "multi-label-classification",
    "stub",
)


def random_strategy(rng: random.Random, i: int) -> dict[str, Any]:
    """A strategy of a random reference type with random parameters."""
    kind = rng.choice(["random", "close_to_threshold", "classes_based", "detections_number_based"])
    selected = rng.sample(RECORD_CLASSES, rng.randint(1, 3)) if rng.random() < 0.6 else None
    base: dict[str, Any] = {"name": f"s{i}", "type": kind}
    if kind == "random":
        return {**base, "traffic_percentage": 1.0}
    if kind == "classes_based":
        return {**base, "probability": 1.0, "selected_class_names": selected or ["car"]}
    if selected is not None:
        base["selected_class_names"] = selected
    if kind == "close_to_threshold":
        return {
            **base,
            "probability": 1.0,
            "threshold": round(rng.random(), 2),
            "epsilon": round(rng.uniform(0.01, 0.4), 2),
            "minimum_objects_close_to_threshold": rng.randint(1, 3),
            "only_top_classes": rng.random() < 0.5,
        }
    low = rng.choice([None, 0, 2, 4])
    high = rng.choice([None, 6, 9])
    bounds = {k: v for k, v in (("more_than", low), ("less_than", high)) if v is not None}
    return {**base, "probability": 1.0, **bounds}


def config_of(strategies: list[dict[str, Any]]) -> Any:
    return validate_config(
        {
            "enabled": True,
            "persist_predictions": True,
            "sampling_strategies": strategies,
            "batching_strategy": {"batches_name_prefix": "b", "recreation_interval": "never"},
        }
    )


@pytest.mark.parametrize("seed", range(6))
def test_vectorized_matching_equals_the_samplers_on_every_task(seed: int) -> None:
    table = make_records(600, seed=seed, tasks=TASKS, mean_objects=3.0)
    cols = columns(table)
    rng = random.Random(seed)
    config = config_of([random_strategy(rng, i) for i in range(12)])
    predictions = [record_prediction(r) for r in cols.table.to_pylist()]
    for strategy in config.sampling_strategies:
        assert vectorized(strategy)
        expected = np.array([matches(strategy, p) for p in predictions])
        got = strategy_mask(strategy, cols)
        assert got.tolist() == expected.tolist(), strategy
        assert _one_by_one(strategy, cols).tolist() == expected.tolist()


def test_some_strategies_match_and_some_do_not() -> None:
    # the equality above is not vacuous: each type matches some records and not others
    table = make_records(400, seed=1, tasks=TASKS)
    cols = columns(table)
    config = config_of(
        [
            {
                "name": "ctt",
                "type": "close_to_threshold",
                "probability": 1.0,
                "threshold": 0.5,
                "epsilon": 0.1,
            },
            {
                "name": "cls",
                "type": "classes_based",
                "probability": 1.0,
                "selected_class_names": ["car"],
            },
            {"name": "num", "type": "detections_number_based", "probability": 1.0, "more_than": 4},
        ]
    )
    for strategy in config.sampling_strategies:
        count = int(strategy_mask(strategy, cols).sum())
        assert 0 < count < cols.n, strategy.name


def test_records_become_the_predictions_they_logged() -> None:
    table = make_records(60, seed=2, tasks=TASKS)
    kinds = {type(record_prediction(r)) for r in table.to_pylist()}
    assert kinds == {DetectionPrediction, ClassificationPrediction, StubPrediction}
    row = next(r for r in table.to_pylist() if r["task"] == "classification")
    prediction = record_prediction(row)
    assert isinstance(prediction, ClassificationPrediction)
    confidences = [c.confidence for c in prediction.classes]
    assert confidences == sorted(confidences, reverse=True)
    assert prediction.top is not None and prediction.predicted_classes == [
        prediction.top.class_name
    ]


def test_unsorted_records_are_replayed_in_time_order() -> None:
    table = make_records(50, seed=3)
    shuffled = table.take(pa.array(np.random.default_rng(0).permutation(50)))
    cols = columns(shuffled)
    assert np.all(np.diff(cols.time_us) >= 0)
    assert cols.table.column("inference_id").to_pylist() == table.column("inference_id").to_pylist()


def test_a_count_over_all_objects_sees_the_objects_past_the_cap() -> None:
    table = make_records(200, seed=4, mean_objects=8.0, max_objects=3)
    cols = columns(table)
    config = config_of(
        [{"name": "many", "type": "detections_number_based", "probability": 1.0, "more_than": 5}]
    )
    mask = strategy_mask(config.sampling_strategies[0], cols)
    assert mask.tolist() == (cols.objects_total > 5).tolist()
    assert mask.any()


def test_predictions_from_the_columns_equal_those_of_each_record() -> None:
    table = make_records(300, seed=8, tasks=TASKS)
    cols = columns(table)
    assert cols.predictions == [record_prediction(r) for r in cols.table.to_pylist()]
