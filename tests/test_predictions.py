"""Predictions: reference JSON in and out for every task, and per-axis rescaling."""

from __future__ import annotations

from typing import Any

import pytest

from winnow.errors import PredictionFormatError
from winnow.predictions import (
    ClassificationPrediction,
    DetectionPrediction,
    StubPrediction,
    TaskType,
    prediction_from_json,
    prediction_to_json,
    rescale_prediction,
)

DETECTION: dict[str, Any] = {
    "inference_id": "abc",
    "time": 0.01,
    "image": {"width": 200, "height": 100},
    "predictions": [
        {
            "x": 50.0,
            "y": 40.0,
            "width": 20.0,
            "height": 10.0,
            "confidence": 0.9,
            "class": "car",
            "class_id": 2,
            "detection_id": "d1",
        }
    ],
}
SEGMENTATION: dict[str, Any] = {
    "image": {"width": 200, "height": 100},
    "predictions": [
        {
            **DETECTION["predictions"][0],
            "points": [{"x": 40.0, "y": 35.0}, {"x": 60.0, "y": 35.0}, {"x": 60.0, "y": 45.0}],
        }
    ],
}
KEYPOINTS: dict[str, Any] = {
    "image": {"width": 200, "height": 100},
    "predictions": [
        {
            **DETECTION["predictions"][0],
            "keypoints": [
                {"x": 45.0, "y": 38.0, "confidence": 0.8, "class_id": 0, "class": "nose"}
            ],
        }
    ],
}
SINGLE_LABEL: dict[str, Any] = {
    "image": {"width": 64, "height": 32},
    "predictions": [
        {"class": "cat", "class_id": 0, "confidence": 0.8},
        {"class": "dog", "class_id": 1, "confidence": 0.2},
    ],
    "top": "cat",
    "confidence": 0.8,
}
MULTI_LABEL: dict[str, Any] = {
    "image": {"width": 64, "height": 32},
    "predictions": {
        "cat": {"confidence": 0.9, "class_id": 0},
        "dog": {"confidence": 0.6, "class_id": 1},
    },
    "predicted_classes": ["cat", "dog"],
}
STUB: dict[str, Any] = {
    "time": 0.0002,
    "is_stub": True,
    "model_id": "asl/0",
    "task_type": "instance-segmentation",
}


@pytest.mark.parametrize(
    ("data", "kind", "task"),
    [
        (DETECTION, DetectionPrediction, TaskType.OBJECT_DETECTION),
        (SEGMENTATION, DetectionPrediction, TaskType.INSTANCE_SEGMENTATION),
        (KEYPOINTS, DetectionPrediction, TaskType.KEYPOINT_DETECTION),
        (SINGLE_LABEL, ClassificationPrediction, TaskType.CLASSIFICATION),
        (MULTI_LABEL, ClassificationPrediction, TaskType.CLASSIFICATION),
    ],
)
def test_json_round_trip_keeps_every_field(data: dict[str, Any], kind: type, task: str) -> None:
    prediction = prediction_from_json(data)
    assert isinstance(prediction, kind)
    assert prediction.task_type == task
    assert prediction_to_json(prediction) == data


def test_stub_round_trip_is_exactly_the_stub_shape() -> None:
    prediction = prediction_from_json(STUB)
    assert isinstance(prediction, StubPrediction)
    assert prediction_to_json(prediction) == STUB


def test_single_label_top_is_the_highest_confidence() -> None:
    unsorted = {**SINGLE_LABEL, "predictions": SINGLE_LABEL["predictions"][::-1]}
    del unsorted["top"]
    prediction = prediction_from_json(unsorted)
    assert isinstance(prediction, ClassificationPrediction)
    assert prediction.top is not None and prediction.top.class_name == "cat"
    assert not prediction.multi_label


def test_empty_detection_list_with_explicit_task() -> None:
    data = {"image": {"width": 10, "height": 10}, "predictions": []}
    prediction = prediction_from_json(data, task_type="keypoint-detection")
    assert isinstance(prediction, DetectionPrediction)
    assert prediction.task_type == TaskType.KEYPOINT_DETECTION
    assert prediction.detections == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "JSON object"),
        ({"predictions": []}, "'image'"),
        ({"image": {"width": 1, "height": 1}, "predictions": 3}, "'predictions'"),
        ({"image": {"width": 1, "height": 1}, "predictions": [{"x": "a"}]}, r"predictions\[0\]"),
        ({"image": {"width": "w", "height": 1}, "predictions": []}, "'width'"),
        # int(nan), int(inf) and float(10**400) raise; each must be a format error instead
        ({"image": {"width": float("nan"), "height": 1}, "predictions": []}, "finite"),
        ({"image": {"width": 1, "height": float("-inf")}, "predictions": []}, "finite"),
        ({"image": {"width": 10**400, "height": 1}, "predictions": []}, "'width' is too large"),
        (
            {
                "image": {"width": 9, "height": 9},
                "predictions": [{"x": 10**400, "y": 1, "width": 1, "height": 1, "class": "a"}],
            },
            "'x' is too large",
        ),
        (
            {
                "image": {"width": 9, "height": 9},
                "predictions": [{"class_id": "a", "confidence": 1}],
            },
            "'class_id' must be an integer",
        ),
        (
            {"image": {"width": 9, "height": 9}, "predictions": {"a": {"class_id": float("inf")}}},
            "'class_id' must be an integer",
        ),
        (
            {"image": {"width": 9, "height": 9}, "predictions": {}, "predicted_classes": 5},
            "'predicted_classes'",
        ),
        (
            {
                "image": {"width": 9, "height": 9},
                "predictions": [
                    {"x": 1, "y": 1, "width": 1, "height": 1, "class_id": float("nan")}
                ],
            },
            r"predictions\[0\]: 'class_id'",
        ),
        (
            {
                "image": {"width": 9, "height": 9},
                "predictions": [
                    {
                        "x": 1,
                        "y": 1,
                        "width": 1,
                        "height": 1,
                        "keypoints": [{"x": 1, "y": 1, "confidence": "hi"}],
                    }
                ],
            },
            "'confidence' must be a number",
        ),
        ({"is_stub": True, "time": 10**400}, "'time' must be a number"),
        ({"image": {"width": 9, "height": 9}, "predictions": [], "time": 10**400}, "'time'"),
    ],
)
def test_malformed_json_names_the_field(data: Any, message: str) -> None:
    with pytest.raises(PredictionFormatError, match=message):
        prediction_from_json(data)


def test_rescale_is_per_axis_for_boxes_polygons_and_keypoints() -> None:
    seg = prediction_from_json(SEGMENTATION)
    kp = prediction_from_json(KEYPOINTS)
    small_seg = rescale_prediction(seg, 100, 25)  # x / 2, y / 4
    small_kp = rescale_prediction(kp, 100, 25)
    assert isinstance(small_seg, DetectionPrediction)
    assert isinstance(small_kp, DetectionPrediction)
    d = small_seg.detections[0]
    assert (d.x, d.y, d.width, d.height) == (25.0, 10.0, 10.0, 2.5)
    assert d.points == [(20.0, 8.75), (30.0, 8.75), (30.0, 11.25)]
    k = small_kp.detections[0].keypoints
    assert k is not None and (k[0].x, k[0].y) == (22.5, 9.5)
    assert (small_seg.image.width, small_seg.image.height) == (100, 25)
    # the input is untouched
    assert isinstance(seg, DetectionPrediction) and seg.detections[0].x == 50.0


def test_rescale_classification_changes_only_the_image_size() -> None:
    multi = prediction_from_json(MULTI_LABEL)
    small = rescale_prediction(multi, 32, 16)
    assert isinstance(small, ClassificationPrediction)
    assert (small.image.width, small.image.height) == (32, 16)
    assert small.predicted_classes == ["cat", "dog"]
    assert [c.confidence for c in small.classes] == [0.9, 0.6]
