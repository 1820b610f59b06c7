"""prepare(): the rescaled prediction lands on the drawn pixels of the encoded JPEG."""

from __future__ import annotations

import io
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from winnow.activelearning.prepare import build_tags, prepare
from winnow.errors import InvalidImageError
from winnow.images import CapturedImage, decode_image
from winnow.predictions import (
    ClassificationPrediction,
    ClassScore,
    Detection,
    DetectionPrediction,
    ImageSize,
    Keypoint,
    StubPrediction,
    TaskType,
    prediction_from_json,
)

BIG = 50_000_000
# (x1, y1, x2, y2) inclusive pixel corners and a colour for each drawn rectangle.
RECTS = [
    ((50, 40, 249, 159), (255, 0, 0)),
    ((600, 300, 899, 569), (0, 255, 0)),
    ((930, 10, 990, 500), (0, 0, 255)),
]
TRIANGLE = [(400, 100), (560, 120), (470, 260)]
TRIANGLE_COLOUR = (255, 255, 0)
KEYPOINTS = [(150, 400), (300, 480), (750, 150)]
KEYPOINT_COLOUR = (255, 0, 255)


def scene(width: int, height: int) -> npt.NDArray[Any]:
    image = np.full((height, width, 3), 20, dtype=np.uint8)
    for (x1, y1, x2, y2), colour in RECTS:
        image[y1 : y2 + 1, x1 : x2 + 1] = colour
    cv2.fillPoly(image, [np.array(TRIANGLE, dtype=np.int32)], TRIANGLE_COLOUR)
    for x, y in KEYPOINTS:
        cv2.circle(image, (x, y), 9, KEYPOINT_COLOUR, thickness=-1)
    return image


def box_detection(rect: tuple[int, int, int, int], name: str) -> Detection:
    x1, y1, x2, y2 = rect
    # Pixel x1..x2 inclusive covers [x1, x2 + 1) in continuous coordinates.
    return Detection(
        x=(x1 + x2 + 1) / 2,
        y=(y1 + y2 + 1) / 2,
        width=x2 + 1 - x1,
        height=y2 + 1 - y1,
        confidence=0.9,
        class_name=name,
        class_id=0,
    )


def colour_mask(image: npt.NDArray[Any], colour: tuple[int, int, int]) -> npt.NDArray[Any]:
    distance = np.abs(image.astype(int) - np.array(colour)).sum(axis=2)
    return np.asarray(distance < 120)


def pixel_bbox(mask: npt.NDArray[Any]) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


# 1001x599 into 300x300 gives 300x180: x scales by 0.2997, y by 0.3005 (per axis).
# 1920x1080 into 394x700 goes 2x box average then bilinear; 1001x599 into 450x700 is bilinear.
SIZES = [
    (1001, 599, (300, 300)),
    (1000, 600, (200, 640)),
    (1920, 1080, (394, 700)),
    (1001, 599, (450, 700)),
    (640, 480, None),
]


@pytest.mark.parametrize(("width", "height", "bound"), SIZES)
def test_rescaled_boxes_cover_the_drawn_rectangles(
    width: int, height: int, bound: tuple[int, int] | None
) -> None:
    rects = [(r, c) for r, c in RECTS if r[2] < width and r[3] < height]
    prediction = DetectionPrediction(
        task_type=TaskType.OBJECT_DETECTION,
        image=ImageSize(width=width, height=height),
        detections=[box_detection(r, f"c{i}") for i, (r, _) in enumerate(rects)],
    )
    image = scene(width, height)
    prepared = prepare(
        image, prediction, max_image_size=bound, jpeg_quality=95, persist_predictions=True
    )
    decoded = decode_image(prepared.jpeg, max_pixels=BIG)
    assert decoded.shape == (prepared.height, prepared.width, 3)
    if bound is not None:
        assert prepared.height <= bound[0] and prepared.width <= bound[1]
        assert max(prepared.height / bound[0], prepared.width / bound[1]) == pytest.approx(1.0)
    else:
        assert (prepared.width, prepared.height) == (width, height)
    assert prepared.prediction_json is not None
    assert prepared.prediction_json["image"] == {
        "width": prepared.width,
        "height": prepared.height,
    }
    boxes = prediction_from_json(prepared.prediction_json, "object-detection")
    assert isinstance(boxes, DetectionPrediction)
    for detection, (_, colour) in zip(boxes.detections, rects, strict=True):
        x1, y1, x2, y2 = detection.xyxy()
        px1, py1, px2, py2 = pixel_bbox(colour_mask(decoded, colour))
        # the drawn pixels sit inside the box, and the box hugs them (1.5 px of blur)
        for got, want in ((x1, px1), (y1, py1), (x2, px2), (y2, py2)):
            assert abs(got - want) <= 1.5, (detection, (px1, py1, px2, py2))
    # the caller's prediction is untouched
    assert prediction.image.width == width
    assert prediction.detections[0].x == box_detection(rects[0][0], "c0").x


def test_polygon_points_and_keypoints_land_on_their_shapes() -> None:
    width, height = 1001, 599
    image = scene(width, height)
    polygon = Detection(
        x=480,
        y=180,
        width=160,
        height=160,
        confidence=0.8,
        class_name="tri",
        class_id=1,
        points=[(x + 0.5, y + 0.5) for x, y in TRIANGLE],
    )
    person = Detection(
        x=450,
        y=315,
        width=600,
        height=330,
        confidence=0.8,
        class_name="person",
        class_id=2,
        keypoints=[
            Keypoint(x=float(x), y=float(y), confidence=0.9, class_id=i, class_name=f"k{i}")
            for i, (x, y) in enumerate(KEYPOINTS)
        ],
    )
    prediction = DetectionPrediction(
        task_type=TaskType.KEYPOINT_DETECTION,
        image=ImageSize(width=width, height=height),
        detections=[polygon, person],
    )
    prepared = prepare(
        image, prediction, max_image_size=(300, 300), jpeg_quality=95, persist_predictions=True
    )
    decoded = decode_image(prepared.jpeg, max_pixels=BIG)
    assert prepared.prediction_json is not None
    out = prepared.prediction_json["predictions"]
    triangle = colour_mask(decoded, TRIANGLE_COLOUR)
    pts = np.array([[p["x"], p["y"]] for p in out[0]["points"]])
    ys, xs = np.nonzero(triangle)
    # every vertex is within 3 px of a triangle pixel (sharp tips blur away), and centroids agree
    for x, y in pts:
        assert np.min(np.hypot(xs + 0.5 - x, ys + 0.5 - y)) <= 3.0
    assert np.hypot(xs.mean() + 0.5 - pts[:, 0].mean(), ys.mean() + 0.5 - pts[:, 1].mean()) < 3.0
    dots = colour_mask(decoded, KEYPOINT_COLOUR)
    for kp in out[1]["keypoints"]:
        x, y = int(kp["x"]), int(kp["y"])
        assert dots[y, x], kp
    assert out[1]["keypoints"][2]["x"] == pytest.approx(750 * 300 / 1001)
    assert out[1]["keypoints"][2]["y"] == pytest.approx(150 * 180 / 599)


def test_classification_gets_the_new_size_only() -> None:
    prediction = ClassificationPrediction(
        image=ImageSize(width=800, height=400),
        classes=[ClassScore("cat", 0, 0.7), ClassScore("dog", 1, 0.3)],
        predicted_classes=["cat"],
    )
    prepared = prepare(
        scene(800, 400),
        prediction,
        max_image_size=(100, 100),
        jpeg_quality=80,
        persist_predictions=True,
    )
    assert (prepared.width, prepared.height) == (100, 50)
    assert prepared.prediction_json is not None
    assert prepared.prediction_json["image"] == {"width": 100, "height": 50}
    assert prepared.prediction_json["top"] == "cat"
    assert [p["class"] for p in prepared.prediction_json["predictions"]] == ["cat", "dog"]


def test_no_prediction_when_not_persisted_or_stub() -> None:
    image = scene(640, 480)
    detection = DetectionPrediction(
        task_type=TaskType.OBJECT_DETECTION, image=ImageSize(640, 480), detections=[]
    )
    assert (
        prepare(
            image, detection, max_image_size=None, jpeg_quality=90, persist_predictions=False
        ).prediction_json
        is None
    )
    stub = StubPrediction(model_id="proj/0", task_type="object-detection")
    prepared = prepare(image, stub, max_image_size=None, jpeg_quality=90, persist_predictions=True)
    assert prepared.prediction_json is None
    assert decode_image(prepared.jpeg, max_pixels=BIG).shape == (480, 640, 3)


def test_quality_is_applied() -> None:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    stub = StubPrediction(model_id="p/0", task_type="classification")
    low = prepare(image, stub, max_image_size=None, jpeg_quality=10, persist_predictions=False)
    high = prepare(image, stub, max_image_size=None, jpeg_quality=95, persist_predictions=False)
    assert len(low.jpeg) < len(high.jpeg) / 2


def test_tags_order_and_dedup() -> None:
    tags = build_tags(
        ["site-a", "prod"],
        ["prod", "cfg"],
        ["strategy-tag", "site-a"],
        ["stream:cam1"],
        "my-project/3",
        True,
    )
    assert tags == ("site-a", "prod", "cfg", "strategy-tag", "stream:cam1", "my-project-3")
    assert build_tags([], ["cfg"], [], [], "my-project/3", False) == ("cfg",)
    assert build_tags([], [], [], [], "p/1", True) == ("p-1",)


# ----------------------------------------------------------------------------- kept as sent


def detection(width: int, height: int) -> DetectionPrediction:
    """One box drawn in :func:`scene`, on an image of ``width`` x ``height``."""
    rect, _colour = RECTS[0]
    return DetectionPrediction(
        task_type=TaskType.OBJECT_DETECTION,
        image=ImageSize(width=width, height=height),
        detections=[box_detection(rect, "red")],
    )


def sent_jpeg(width: int = 640, height: int = 480, quality: int = 80, **save: Any) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(scene(width, height)).save(buffer, format="JPEG", quality=quality, **save)
    return buffer.getvalue()


def served(data: bytes) -> CapturedImage:
    return CapturedImage.from_bytes(data, max_pixels=BIG)


def test_a_jpeg_that_fits_is_kept_as_sent_and_decodes_to_the_served_pixels() -> None:
    data = sent_jpeg()
    image = served(data)
    model_saw = image.pixels()  # what the model was given
    prepared = prepare(
        image, detection(640, 480), max_image_size=None, jpeg_quality=50, persist_predictions=True
    )
    assert prepared.as_sent and prepared.jpeg is data
    assert (prepared.width, prepared.height) == (640, 480)
    assert (decode_image(prepared.jpeg, max_pixels=BIG) == model_saw).all()
    assert prepared.prediction_json is not None
    assert prepared.prediction_json["image"] == {"width": 640, "height": 480}


def test_a_jpeg_kept_as_sent_is_checked_without_being_decoded_in_full() -> None:
    image = served(sent_jpeg())
    prepared = prepare(
        image,
        StubPrediction("a/0", "object-detection"),
        max_image_size=(480, 640),
        jpeg_quality=95,
        persist_predictions=False,
    )
    assert prepared.as_sent and not image.decoded


def test_a_jpeg_broken_after_its_header_is_not_kept() -> None:
    data = sent_jpeg()
    image = served(data[: len(data) // 3])
    with pytest.raises(InvalidImageError):
        prepare(
            image,
            StubPrediction("a/0", "object-detection"),
            max_image_size=None,
            jpeg_quality=95,
            persist_predictions=False,
        )


def test_a_jpeg_that_must_shrink_or_turn_is_encoded_again() -> None:
    big = prepare(
        served(sent_jpeg(1000, 600)),
        detection(1000, 600),
        max_image_size=(300, 500),
        jpeg_quality=90,
        persist_predictions=True,
    )
    assert not big.as_sent and (big.width, big.height) == (500, 300)
    exif = Image.Exif()
    exif[0x0112] = 6
    rotated = served(sent_jpeg(64, 48, exif=exif.tobytes()))
    turned = prepare(
        rotated,
        StubPrediction("a/0", "object-detection"),
        max_image_size=None,
        jpeg_quality=90,
        persist_predictions=False,
    )
    assert not turned.as_sent and (turned.width, turned.height) == (48, 64)
    assert decode_image(turned.jpeg, max_pixels=BIG).shape == (64, 48, 3)


def test_a_cmyk_jpeg_kept_as_sent_decodes_to_the_served_pixels() -> None:
    buffer = io.BytesIO()
    Image.fromarray(scene(64, 48)).convert("CMYK").save(buffer, format="JPEG", quality=90)
    image = served(buffer.getvalue())
    prepared = prepare(
        image,
        StubPrediction("a/0", "object-detection"),
        max_image_size=None,
        jpeg_quality=90,
        persist_predictions=False,
    )
    assert (decode_image(prepared.jpeg, max_pixels=BIG) == image.pixels()).all()


def test_pixels_and_other_formats_are_encoded_at_the_configured_quality() -> None:
    pixels = scene(64, 48)
    low = prepare(
        pixels,
        StubPrediction("a/0", "object-detection"),
        max_image_size=None,
        jpeg_quality=10,
        persist_predictions=False,
    )
    high = prepare(
        CapturedImage.from_pixels(pixels, original=b"\x89PNG..."),
        StubPrediction("a/0", "object-detection"),
        max_image_size=None,
        jpeg_quality=95,
        persist_predictions=False,
    )
    assert not low.as_sent and not high.as_sent and len(low.jpeg) < len(high.jpeg)
