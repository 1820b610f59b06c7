"""Segmentation (prototypes -> polygons) and keypoint runners on known tensors."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from tests.models.graphs import constant_model, end2end_head, raw_head
from winnow.models.base import InferenceParams
from winnow.models.onnx.model import load_onnx_model
from winnow.predictions import DetectionPrediction, TaskType

IMAGE = np.zeros((720, 1280, 3), np.uint8)  # letterboxed into 640x640 at scale 0.5, pad_y 140


def protos() -> npt.NDArray[Any]:
    """Prototype 0 is +10 on cells x 20..59, y 60..79 (input px 80..240, 240..320), -10 elsewhere."""
    out = np.zeros((1, 32, 160, 160), np.float32)
    out[0, 0] = -10
    out[0, 0, 60:80, 20:60] = 10
    return out


def coefs(first: float) -> list[float]:
    return [first] + [0.0] * 31


SEG_ROWS = [
    # box xyxy 60,220,260,340 around the whole mask region; class 0
    [160, 280, 200, 120, 0.9, 0.0, 0.0, *coefs(1.0)],
    # box xyxy 100,250,200,300 inside it; class 1: mask cut to the box
    [150, 275, 100, 50, 0.0, 0.8, 0.0, *coefs(1.0)],
    # zero coefficients: empty mask, dropped
    [500, 500, 40, 40, 0.0, 0.0, 0.7, *coefs(0.0)],
]
SEG_META = {"task": "segment", "names": "{0: 'a', 1: 'b', 2: 'c'}", "imgsz": "[640, 640]"}


def bounds(points: list[tuple[float, float]]) -> tuple[float, float, float, float]:
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return (min(xs), min(ys), max(xs), max(ys))


def check_segmentation(prediction: object) -> None:
    assert isinstance(prediction, DetectionPrediction)
    assert prediction.task_type == TaskType.INSTANCE_SEGMENTATION
    assert [d.class_name for d in prediction.detections] == ["a", "b"]
    whole, cut = prediction.detections
    assert whole.xyxy() == (120.0, 160.0, 520.0, 400.0)
    assert whole.points is not None and cut.points is not None
    # Mask cells 20..59 x 60..79 are input px 80..240 x 240..320, original px 160..480 x 200..360.
    assert bounds(whole.points) == (160.0, 200.0, 479.0, 359.0)
    # Bilinear upsampling rounds the corners by a few pixels, nothing more.
    area = cv2.contourArea(np.array(whole.points, np.float32))
    assert 319 * 159 - 40 < area <= 319 * 159
    # The second box (original 200,220,400,320) crops the same mask.
    assert bounds(cut.points) == (200.0, 220.0, 399.0, 319.0)


def test_segment_masks_become_polygons_in_original_pixels() -> None:
    model = load_onnx_model(
        "seg/1", constant_model([raw_head(SEG_ROWS, 64), protos()], metadata=SEG_META)
    )
    assert model.task_type == "instance-segmentation"
    [prediction] = model.infer([IMAGE], InferenceParams())
    check_segmentation(prediction)


def test_segment_without_metadata_is_recognised_by_its_prototype_output() -> None:
    model = load_onnx_model("seg/2", constant_model([raw_head(SEG_ROWS, 64), protos()]))
    assert model.task_type == "instance-segmentation"
    assert model.class_names == []
    [prediction] = model.infer([IMAGE], InferenceParams())
    assert isinstance(prediction, DetectionPrediction)
    assert [d.class_name for d in prediction.detections] == ["0", "1"]


def test_end_to_end_segmentation() -> None:
    rows = [
        [60, 220, 260, 340, 0.9, 0, *coefs(1.0)],
        [100, 250, 200, 300, 0.8, 1, *coefs(1.0)],
        [480, 480, 520, 520, 0.7, 2, *coefs(0.0)],
    ]
    model = load_onnx_model(
        "seg/3",
        constant_model([end2end_head(rows, 38), protos()], metadata={**SEG_META, "end2end": "1"}),
    )
    [prediction] = model.infer([IMAGE], InferenceParams())
    check_segmentation(prediction)


POSE_ROWS = [
    # person box xyxy 100,240,300,340; keypoints (150,260,.95) and (250,330,.2)
    [200, 290, 200, 100, 0.9, 0.0, 150, 260, 0.95, 250, 330, 0.2],
    # dog box xyxy 400,300,460,330; keypoints (410,310,.9) and (450,320,.9)
    [430, 315, 60, 30, 0.0, 0.6, 410, 310, 0.9, 450, 320, 0.9],
]


def keypoints(prediction: object) -> list[tuple[str, list[tuple[float, float, float]]]]:
    assert isinstance(prediction, DetectionPrediction)
    assert prediction.task_type == TaskType.KEYPOINT_DETECTION
    out = []
    for d in prediction.detections:
        assert d.keypoints is not None
        out.append(
            (
                d.class_name,
                [(k.x, k.y, round(k.confidence, 3)) for k in d.keypoints],
            )
        )
    return out


EXPECTED_POSE = [
    ("person", [(300.0, 240.0, 0.95), (500.0, 380.0, 0.2)]),
    ("dog", [(820.0, 340.0, 0.9), (900.0, 360.0, 0.9)]),
]


@pytest.mark.parametrize(
    "metadata",
    [
        {"task": "pose", "names": "{0: 'person', 1: 'dog'}", "kpt_shape": "[2, 3]"},
        {"task": "pose", "names": "{0: 'person', 1: 'dog'}"},  # K from the channel count
    ],
    ids=["names+kpt_shape", "names-only"],
)
def test_pose_keypoints_map_to_original_pixels(metadata: dict[str, str]) -> None:
    model = load_onnx_model("pose/1", constant_model([raw_head(POSE_ROWS, 16)], metadata=metadata))
    assert model.task_type == "keypoint-detection"
    [prediction] = model.infer([IMAGE], InferenceParams())
    assert keypoints(prediction) == EXPECTED_POSE
    assert prediction.detections[0].keypoints[1].class_id == 1  # type: ignore[union-attr, index]
    [strict] = model.infer([IMAGE], InferenceParams(keypoint_confidence=0.5))
    assert keypoints(strict)[0] == ("person", [(300.0, 240.0, 0.95)])


def test_pose_class_count_is_derived_from_kpt_shape_not_assumed_one() -> None:
    model = load_onnx_model(
        "pose/2",
        constant_model([raw_head(POSE_ROWS, 16)], metadata={"task": "pose", "kpt_shape": "[2, 3]"}),
    )
    [prediction] = model.infer([IMAGE], InferenceParams())
    assert [name for name, _ in keypoints(prediction)] == ["0", "1"]
    assert prediction.detections[1].class_id == 1  # type: ignore[union-attr]


def test_end_to_end_pose() -> None:
    rows = [
        [100, 240, 300, 340, 0.9, 0, 150, 260, 0.95, 250, 330, 0.2],
        [400, 300, 460, 330, 0.6, 1, 410, 310, 0.9, 450, 320, 0.9],
    ]
    meta = {
        "task": "pose",
        "names": "{0: 'person', 1: 'dog'}",
        "kpt_shape": "[2, 3]",
        "end2end": "True",
    }
    model = load_onnx_model("pose/3", constant_model([end2end_head(rows, 12)], metadata=meta))
    [prediction] = model.infer([IMAGE], InferenceParams())
    assert keypoints(prediction) == EXPECTED_POSE


def test_keypoint_names_come_from_kpt_names_metadata() -> None:
    meta = {
        "task": "pose",
        "names": "{0: 'person', 1: 'dog'}",
        "kpt_shape": "[2, 3]",
        "kpt_names": "{0: ['nose', 'tail']}",
    }
    model = load_onnx_model("pose/4", constant_model([raw_head(POSE_ROWS, 16)], metadata=meta))
    [prediction] = model.infer([IMAGE], InferenceParams())
    assert isinstance(prediction, DetectionPrediction)
    first = prediction.detections[0].keypoints
    assert first is not None
    assert [(k.class_name, k.class_id) for k in first] == [("nose", 0), ("tail", 1)]
