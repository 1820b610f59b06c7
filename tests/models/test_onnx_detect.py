"""Detection runners on small ONNX graphs with known outputs: parsing, NMS, filters, mapping."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.models.graphs import constant_model, end2end_head, raw_head
from winnow.errors import UnprocessableError
from winnow.images import ImageArray
from winnow.models.base import InferenceParams
from winnow.models.onnx.model import OnnxModel, load_onnx_model
from winnow.predictions import DetectionPrediction, TaskType

META = {"task": "detect", "names": "{0: 'car', 1: 'person'}", "imgsz": "[640, 640]"}
# Rows in 640x640 letterboxed space: cx, cy, w, h, score(car), score(person).
ROWS = [
    [200, 290, 200, 100, 0.9, 0.0],  # A: xyxy 100,240,300,340 -> original 200,200,600,400
    [204, 294, 200, 100, 0.8, 0.1],  # B: overlaps A, same class: suppressed
    [200, 290, 200, 100, 0.0, 0.7],  # C: same box as A, other class
    [450, 350, 100, 100, 0.3, 0.0],  # D: under the default confidence
    [430, 315, 60, 30, 0.0, 0.5],  # E: xyxy 400,300,460,330 -> original 800,320,920,380
]
IMAGE = np.zeros((720, 1280, 3), np.uint8)


def boxes(prediction: object) -> list[tuple[str, float, list[float]]]:
    assert isinstance(prediction, DetectionPrediction)
    return [
        (d.class_name, round(d.confidence, 3), [round(v, 3) for v in d.xyxy()])
        for d in prediction.detections
    ]


@pytest.fixture(scope="module")
def detector() -> OnnxModel:
    return load_onnx_model("cars/1", constant_model([raw_head(ROWS, 32)], metadata=META))


def test_raw_head_is_parsed_nms_applied_and_mapped_to_the_original_image(
    detector: OnnxModel,
) -> None:
    model = detector
    assert model.task_type == "object-detection"
    assert model.class_names == ["car", "person"]
    assert (model.input_height, model.input_width, model.batch_size) == (640, 640, None)
    [prediction] = model.infer([IMAGE], InferenceParams())
    assert isinstance(prediction, DetectionPrediction)
    assert prediction.image.width == 1280 and prediction.image.height == 720
    assert prediction.task_type == TaskType.OBJECT_DETECTION
    assert boxes(prediction) == [
        ("car", 0.9, [200.0, 200.0, 600.0, 400.0]),
        ("person", 0.7, [200.0, 200.0, 600.0, 400.0]),
        ("person", 0.5, [800.0, 320.0, 920.0, 380.0]),
    ]
    first = prediction.detections[0]
    assert (first.x, first.y, first.width, first.height, first.class_id) == (400, 300, 400, 200, 0)
    assert first.detection_id
    assert prediction.inference_id is None and prediction.time is None


def test_confidence_class_filter_max_detections_and_agnostic_nms(detector: OnnxModel) -> None:
    infer = detector.infer
    low = boxes(infer([IMAGE], InferenceParams(confidence=0.25))[0])
    assert ("car", 0.3, [800.0, 320.0, 1000.0, 520.0]) in low and len(low) == 4
    only_people = boxes(infer([IMAGE], InferenceParams(class_filter=["person"]))[0])
    assert [b[:2] for b in only_people] == [("person", 0.7), ("person", 0.5)]
    assert [b[:2] for b in boxes(infer([IMAGE], InferenceParams(max_detections=1))[0])] == [
        ("car", 0.9)
    ]
    agnostic = boxes(infer([IMAGE], InferenceParams(class_agnostic_nms=True))[0])
    assert [b[:2] for b in agnostic] == [("car", 0.9), ("person", 0.5)]
    # With a high IoU threshold B survives NMS.
    loose = boxes(infer([IMAGE], InferenceParams(iou_threshold=0.95))[0])
    assert [b[:2] for b in loose] == [("car", 0.9), ("car", 0.8), ("person", 0.7), ("person", 0.5)]
    assert boxes(infer([IMAGE], InferenceParams(class_filter=["truck"]))[0]) == []


def test_dynamic_batch_maps_each_image_to_its_own_size(detector: OnnxModel) -> None:
    images: list[ImageArray] = [
        IMAGE,
        np.zeros((640, 640, 3), np.uint8),
        np.zeros((360, 640, 3), np.uint8),
    ]
    answered = detector.infer(images, InferenceParams())
    predictions = [p for p in answered if isinstance(p, DetectionPrediction)]
    assert len(predictions) == len(answered)
    assert [(p.image.width, p.image.height) for p in predictions] == [
        (1280, 720),
        (640, 640),
        (640, 360),
    ]
    assert boxes(predictions[1])[0] == ("car", 0.9, [100.0, 240.0, 300.0, 340.0])
    # 640x360 is letterboxed at scale 1 with 140 px of padding on top.
    assert boxes(predictions[2])[0] == ("car", 0.9, [100.0, 100.0, 300.0, 200.0])


def test_fixed_batch_of_two_runs_three_images_in_padded_chunks() -> None:
    model = load_onnx_model(
        "cars/2",
        constant_model([raw_head(ROWS, 32)], input_shape=(2, 3, 640, 640), metadata=META),
    )
    assert model.batch_size == 2
    predictions = model.infer([IMAGE, IMAGE, IMAGE], InferenceParams())
    assert len(predictions) == 3
    assert all(len(p.detections) == 3 for p in predictions)  # type: ignore[union-attr]


def test_without_metadata_classes_and_size_come_from_the_tensors() -> None:
    rows = [[160, 160, 64, 32, 0.1, 0.2, 0.95]]  # three classes, class 2 wins
    model = load_onnx_model(
        "bare/1", constant_model([raw_head(rows, 16)], input_shape=(1, 3, 320, 320))
    )
    assert model.task_type == "object-detection"
    assert (model.input_height, model.input_width, model.batch_size) == (320, 320, 1)
    [prediction] = model.infer([np.zeros((160, 320, 3), np.uint8)], InferenceParams())
    # 320x160 sits at scale 1 with 80 px of padding on top.
    assert boxes(prediction) == [("2", 0.95, [128.0, 64.0, 192.0, 96.0])]
    assert prediction.detections[0].class_id == 2  # type: ignore[union-attr]


E2E_ROWS = [
    [100, 240, 300, 340, 0.9, 1],
    [104, 244, 304, 344, 0.8, 1],
    [400, 300, 460, 330, 0.2, 0],
]


@pytest.mark.parametrize(
    "metadata", [{**META, "end2end": "True"}, None], ids=["metadata", "shape-fallback"]
)
def test_end_to_end_layout_skips_nms_and_honours_filters(
    metadata: dict[str, str] | None,
) -> None:
    model = load_onnx_model("e2e/1", constant_model([end2end_head(E2E_ROWS, 6)], metadata=metadata))
    person = "person" if metadata else "1"
    [prediction] = model.infer([IMAGE], InferenceParams())
    assert boxes(prediction) == [
        (person, 0.9, [200.0, 200.0, 600.0, 400.0]),
        (person, 0.8, [208.0, 208.0, 608.0, 408.0]),
    ]
    [low] = model.infer([IMAGE], InferenceParams(confidence=0.1, max_detections=2))
    assert [b[1] for b in boxes(low)] == [0.9, 0.8]
    [filtered] = model.infer([IMAGE], InferenceParams(confidence=0.1, class_filter=[person]))
    assert len(filtered.detections) == 2  # type: ignore[union-attr]


def test_class_count_that_does_not_fit_the_output_is_a_clear_error() -> None:
    meta = {**META, "names": "{0: 'a', 1: 'b', 2: 'c'}"}
    data = constant_model([raw_head(ROWS, 32)], metadata=meta)
    with pytest.raises(UnprocessableError, match="6 channels"):
        load_onnx_model("bad/1", data)
    model = load_onnx_model("bad/1", data, warm_up=False)
    with pytest.raises(UnprocessableError, match="6 channels"):
        model.infer([IMAGE], InferenceParams())


def test_fixed_input_size_wins_and_an_unusable_model_is_refused_at_load() -> None:
    # The metadata says 640x640 but the network's input axes are fixed at 32x32.
    data = constant_model([raw_head(ROWS, 32)], input_shape=(1, 3, 32, 32), metadata=META)
    model = load_onnx_model("small/1", data)
    assert (model.input_height, model.input_width) == (32, 32)
    broken = constant_model([np.zeros((1, 5), np.float32)], metadata=META)
    with pytest.raises(UnprocessableError, match="broken/1"):
        load_onnx_model("broken/1", broken)


def test_an_unloadable_file_on_disk_is_refused_without_naming_its_path(tmp_path: Path) -> None:
    path = tmp_path / "private-cache-dir" / "m.onnx"
    path.parent.mkdir()
    path.write_bytes(b"not an onnx file")
    with pytest.raises(UnprocessableError, match="not a loadable ONNX model") as info:
        load_onnx_model("junk/1", path)
    assert "private-cache-dir" not in info.value.message, info.value.message


def test_unloadable_file_and_task_mismatch_are_unprocessable() -> None:
    with pytest.raises(UnprocessableError, match="not a loadable ONNX model"):
        load_onnx_model("junk/1", b"not an onnx file")
    data = constant_model([raw_head(ROWS, 32)], metadata=META)
    with pytest.raises(UnprocessableError, match="registered as classification"):
        load_onnx_model("cars/1", data, task_type="classification")
    with pytest.raises(UnprocessableError, match="unsupported model task 'obb'"):
        load_onnx_model("cars/1", data, metadata={"task": "obb"})
