"""Letterbox geometry, NMS and parameter validation."""

from __future__ import annotations

import numpy as np
import pytest

from winnow.errors import BadRequestError
from winnow.models.base import InferenceParams
from winnow.models.onnx.letterbox import PAD_VALUE, letterbox, to_nchw
from winnow.models.onnx.nms import nms


def test_letterbox_of_1280x720_scales_by_half_and_pads_top_and_bottom() -> None:
    image = np.full((720, 1280, 3), 7, np.uint8)
    out, box = letterbox(image, 640, 640)
    assert out.shape == (640, 640, 3)
    assert (box.scale, box.pad_x, box.pad_y, box.width, box.height) == (0.5, 0, 140, 1280, 720)
    assert (out[:140] == PAD_VALUE).all()
    assert (out[500:] == PAD_VALUE).all()
    assert (out[140:500] == 7).all()


def test_box_in_letterboxed_space_maps_to_original_pixels() -> None:
    _, box = letterbox(np.zeros((720, 1280, 3), np.uint8), 640, 640)
    mapped = box.boxes_to_original(np.array([[100, 240, 300, 340]], np.float32))
    assert mapped.tolist() == [[200.0, 200.0, 600.0, 400.0]]
    # Parts in the padding are clipped to the image.
    clipped = box.boxes_to_original(np.array([[-10, 100, 700, 600]], np.float32))
    assert clipped.tolist() == [[0.0, 0.0, 1280.0, 720.0]]


def test_letterbox_upscales_small_images_and_pads_sides() -> None:
    out, box = letterbox(np.zeros((100, 50, 3), np.uint8), 320, 320)
    assert (box.scale, box.pad_x, box.pad_y) == (3.2, 80, 0)
    assert (out[:, :80] == PAD_VALUE).all()
    point = box.points_to_original(np.array([[80 + 32.0, 160.0]], np.float32))
    assert point.tolist() == [[10.0, 50.0]]


def test_to_nchw_scales_to_unit_range_and_keeps_channel_order() -> None:
    image = np.zeros((2, 2, 3), np.uint8)
    image[..., 0] = 255
    image[..., 2] = 51
    batch = to_nchw([image])
    assert batch.shape == (1, 3, 2, 2)
    assert batch.dtype == np.float32
    assert batch[0, 0].tolist() == [[1.0, 1.0], [1.0, 1.0]]
    assert batch[0, 1].max() == 0.0
    assert batch[0, 2, 0, 0] == pytest.approx(0.2)


BOXES = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [0, 0, 10, 10], [50, 50, 60, 60]], np.float32)
SCORES = np.array([0.9, 0.8, 0.7, 0.6], np.float32)
CLASSES = np.array([0, 0, 1, 0], np.int64)


def test_classwise_nms_keeps_overlapping_boxes_of_other_classes() -> None:
    keep = nms(BOXES, SCORES, CLASSES, iou_threshold=0.5)
    assert keep.tolist() == [0, 2, 3]


def test_class_agnostic_nms_suppresses_across_classes() -> None:
    keep = nms(BOXES, SCORES, CLASSES, iou_threshold=0.5, class_agnostic=True)
    assert keep.tolist() == [0, 3]


def test_nms_iou_threshold_and_max_detections() -> None:
    # IoU of boxes 0 and 1 is 81 / 119 = 0.68: kept when the threshold is above it.
    assert nms(BOXES, SCORES, CLASSES, iou_threshold=0.7).tolist() == [0, 1, 2, 3]
    assert nms(BOXES, SCORES, CLASSES, iou_threshold=0.7, max_detections=2).tolist() == [0, 1]
    assert nms(BOXES[:0], SCORES[:0], CLASSES[:0], iou_threshold=0.5).tolist() == []


def test_inference_params_defaults_match_the_reference() -> None:
    params = InferenceParams()
    assert (params.confidence, params.iou_threshold) == (0.4, 0.3)
    assert (params.max_detections, params.max_candidates) == (300, 3000)
    assert params.class_agnostic_nms is False
    assert params.class_filter is None


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"confidence": 1.5}, "confidence"),
        ({"iou_threshold": -0.1}, "iou_threshold"),
        ({"confidence": "high"}, "confidence"),
        ({"confidence": 10**400}, "confidence"),
        ({"keypoint_confidence": -(10**400)}, "keypoint_confidence"),
        ({"iou_threshold": float("nan")}, "iou_threshold"),
        ({"max_detections": 0}, "max_detections"),
        ({"max_candidates": 2.5}, "max_candidates"),
        ({"class_filter": "car"}, "class_filter"),
        ({"class_agnostic_nms": "yes"}, "class_agnostic_nms"),
        ({"mask_decode_mode": "magic"}, "mask_decode_mode"),
    ],
)
def test_bad_inference_params_name_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(BadRequestError, match=field) as info:
        InferenceParams(**kwargs)  # type: ignore[arg-type]
    assert info.value.status == 400


def test_letterbox_of_an_extremely_thin_image_keeps_one_pixel_row() -> None:
    out, box = letterbox(np.zeros((1, 3000, 3), np.uint8), 640, 640)
    assert out.shape == (640, 640, 3)
    assert box.pad_y == 319  # 639 rows of padding: 319 above, 320 below
