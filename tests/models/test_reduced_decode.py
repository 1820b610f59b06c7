"""A JPEG much larger than the network input is decoded at 1/2, 1/4 or 1/8 scale (libjpeg-turbo's
scaled IDCT), and the predictions are mapped back onto the full image exactly.

The geometry is checked exactly on a graph whose output is a constant box: the box
lands on the same full-image pixels whichever way the image was decoded. The
effect on a real detector (YOLOv8n from the nudenet wheel) is checked on skimage's
astronaut at several sizes: the same objects, boxes within two network-input
pixels of those found on the full decode.
"""

from __future__ import annotations

import io
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image
from skimage import data

from tests.models.graphs import channel_mean_model, constant_model, raw_head
from tests.models.wheels import NUDENET, wheel_file
from winnow.images import CapturedImage, decode_image, encode_jpeg
from winnow.models.base import InferenceParams
from winnow.models.onnx.model import OnnxModel, load_onnx_model
from winnow.predictions import ClassificationPrediction, DetectionPrediction

BIG = 10**9
# One box in network-input pixels (320x320 input): centre (160, 150), 64 x 48.
BOX_ROW = [160.0, 150.0, 64.0, 48.0, 0.9]


def constant_detector() -> OnnxModel:
    graph = constant_model(
        [raw_head([BOX_ROW], 16)],
        input_shape=("batch", 3, 320, 320),
        metadata={"task": "detect", "names": "{0: 'thing'}"},
    )
    return load_onnx_model("const/1", graph)


def photo(width: int, height: int) -> npt.NDArray[np.uint8]:
    """skimage's astronaut resized to ``width`` x ``height``."""
    resized = cv2.resize(data.astronaut(), (width, height), interpolation=cv2.INTER_CUBIC)
    return np.asarray(resized, dtype=np.uint8)


def boxes(prediction: Any) -> list[tuple[str, tuple[float, float, float, float]]]:
    assert isinstance(prediction, DetectionPrediction)
    return sorted((d.class_name, d.xyxy()) for d in prediction.detections)


@pytest.mark.parametrize(
    ("size", "denominator"),
    [((640, 480), 2), ((1920, 1080), 4), ((4000, 3000), 8), ((1000, 700), 2), ((500, 400), 1)],
)
def test_a_reduced_decode_maps_boxes_onto_the_full_image_exactly(
    size: tuple[int, int], denominator: int
) -> None:
    model = constant_detector()
    jpeg = encode_jpeg(photo(*size), 90)
    captured = CapturedImage.from_bytes(jpeg, max_pixels=BIG)
    _pixels, used = captured.pixels_at_least(*model._wanted_size(*size))
    assert used == denominator
    [reduced] = model.infer([captured], InferenceParams())
    assert not captured.decoded or denominator == 1  # the full pixels were left undecoded
    [full] = model.infer([decode_image(jpeg, max_pixels=BIG)], InferenceParams())
    assert isinstance(reduced, DetectionPrediction)
    assert (reduced.image.width, reduced.image.height) == size
    [(_, got)] = boxes(reduced)
    [(_, want)] = boxes(full)
    assert np.allclose(got, want, atol=1e-3), (got, want)
    # and collection still gets every pixel
    assert captured.pixels().shape == (size[1], size[0], 3)


def test_an_exif_rotated_jpeg_is_reduced_and_rotated_like_the_full_decode() -> None:
    model = constant_detector()
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 1600 wide, 1200 high; shown 1200 wide, 1600 high
    buffer = io.BytesIO()
    Image.fromarray(photo(1600, 1200)).save(buffer, format="JPEG", quality=90, exif=exif.tobytes())
    jpeg = buffer.getvalue()
    captured = CapturedImage.from_bytes(jpeg, max_pixels=BIG)
    assert (captured.width, captured.height) == (1200, 1600)
    pixels, denominator = captured.pixels_at_least(240, 320)
    assert denominator == 4 and pixels.shape == (400, 300, 3)
    [reduced] = model.infer([captured], InferenceParams())
    [full] = model.infer([decode_image(jpeg, max_pixels=BIG)], InferenceParams())
    assert np.allclose(boxes(reduced)[0][1], boxes(full)[0][1], atol=1e-3)


def test_a_classifier_reads_a_reduced_decode_and_reports_the_full_size() -> None:
    model = load_onnx_model("mean/1", channel_mean_model(64, metadata={"task": "classify"}))
    jpeg = encode_jpeg(photo(1024, 768), 90)
    captured = CapturedImage.from_bytes(jpeg, max_pixels=BIG)
    [reduced] = model.infer([captured], InferenceParams())
    [full] = model.infer([decode_image(jpeg, max_pixels=BIG)], InferenceParams())
    assert not captured.decoded
    assert isinstance(reduced, ClassificationPrediction)
    assert isinstance(full, ClassificationPrediction)
    assert (reduced.image.width, reduced.image.height) == (1024, 768)
    got = {c.class_name: c.confidence for c in reduced.classes}
    want = {c.class_name: c.confidence for c in full.classes}
    assert got.keys() == want.keys()
    assert all(abs(got[name] - want[name]) < 0.01 for name in got), (got, want)


@pytest.fixture(scope="module")
def nudenet() -> OnnxModel:
    return load_onnx_model("nudenet/1", wheel_file(*NUDENET))


def grid(image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """Four copies of ``image`` in a 2x2 grid: four faces, four of everything."""
    row = np.concatenate([image, image[:, ::-1]], axis=1)
    return np.ascontiguousarray(np.concatenate([row, row], axis=0))


@pytest.mark.parametrize(
    ("picture", "size"),
    [
        ("single", (1024, 1024)),
        ("single", (1920, 1080)),
        ("single", (2048, 2048)),
        ("grid", (2048, 2048)),
        ("grid", (4096, 3072)),
    ],
)
def test_nudenet_finds_the_same_objects_on_a_reduced_decode(
    nudenet: OnnxModel, picture: str, size: tuple[int, int]
) -> None:
    source = data.astronaut() if picture == "single" else grid(data.astronaut())
    pixels = cv2.resize(source, size, interpolation=cv2.INTER_CUBIC)
    jpeg = encode_jpeg(np.asarray(pixels, dtype=np.uint8), 92)
    params = InferenceParams(confidence=0.3)
    captured = CapturedImage.from_bytes(jpeg, max_pixels=BIG)
    [reduced] = nudenet.infer([captured], params)
    assert not captured.decoded
    [full] = nudenet.infer([decode_image(jpeg, max_pixels=BIG)], params)
    # Every confident object of either decode is found by the other (at a lower
    # threshold, so a score near the cut does not decide), its box within two
    # network-input pixels (320 across the long side), in full-image pixels.
    tolerance = 2 * max(size) / 320
    assert confident(full), "the full decode finds the astronaut's face"
    for ours, theirs in ((reduced, full), (full, reduced)):
        for name, box in confident(ours):
            assert any(
                other == name
                and max(abs(x - y) for x, y in zip(box, candidate, strict=True)) <= tolerance
                for other, candidate in boxes(theirs)
            ), (name, box, boxes(theirs))


def confident(prediction: Any) -> list[tuple[str, tuple[float, float, float, float]]]:
    assert isinstance(prediction, DetectionPrediction)
    return [(d.class_name, d.xyxy()) for d in prediction.detections if d.confidence >= 0.5]
