"""Crops: geometry pixel for pixel, then the collector's crops datapoints and their credits."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from tests.factories import FakeClock, make_detections
from winnow.activelearning.collector import Collector, Outcome
from winnow.activelearning.config import validate_config
from winnow.activelearning.crops import (
    CropBox,
    crop_box,
    crop_objects,
    crop_pixels,
    crop_prediction,
)
from winnow.activelearning.datapoint import CollectionContext
from winnow.activelearning.limits.memory import MemoryLimits
from winnow.activelearning.outbox import Outbox
from winnow.activelearning.platform_client import ProjectConfig
from winnow.images import decode_image
from winnow.metrics import Metrics
from winnow.predictions import Detection, DetectionPrediction, ImageSize, Keypoint, TaskType
from winnow.settings import Settings


def noise(width: int = 160, height: int = 120, seed: int = 1) -> npt.NDArray[np.uint8]:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def one(x0: float, y0: float, x1: float, y1: float, **extra: Any) -> DetectionPrediction:
    return DetectionPrediction(
        task_type=TaskType.OBJECT_DETECTION,
        image=ImageSize(160, 120),
        detections=[
            Detection(
                x=(x0 + x1) / 2,
                y=(y0 + y1) / 2,
                width=x1 - x0,
                height=y1 - y0,
                confidence=0.8,
                class_name="car",
                class_id=0,
                **extra,
            )
        ],
    )


@pytest.mark.parametrize(
    ("box", "padding", "expected"),
    [
        ((40, 30, 60, 50), 0, CropBox(40, 30, 60, 50)),  # whole pixels: the box itself
        ((40.5, 30.2, 59.5, 49.9), 0, CropBox(40, 30, 60, 50)),  # widened to whole pixels
        ((40, 30, 60, 50), 0.25, CropBox(35, 25, 65, 55)),  # a quarter of 20 px per side
        ((40, 30, 60, 50), 8, CropBox(32, 22, 68, 58)),  # 8 pixels per side
        ((-10, -5, 10, 20), 4, CropBox(0, 0, 14, 24)),  # clipped at the image's edges
        ((150, 110, 170, 130), 0, CropBox(150, 110, 160, 120)),
        ((170, 130, 180, 140), 0, None),  # wholly outside: no crop
        ((50, 50, 50, 60), 0, None),  # no width
    ],
)
def test_crop_box(
    box: tuple[float, float, float, float], padding: float, expected: CropBox | None
) -> None:
    assert crop_box(one(*box).detections[0], 160, 120, padding) == expected


def test_crop_pixels_are_the_source_region_and_the_box_lands_on_the_object() -> None:
    image = noise()
    image[30:50, 40:60] = (255, 0, 0)  # the object: a red 20x20 square
    prediction = one(40, 30, 60, 50)
    box = crop_box(prediction.detections[0], 160, 120, 6)
    assert box == CropBox(34, 24, 66, 56)
    crop = crop_pixels(image, box)
    assert np.array_equal(crop, image[24:56, 34:66])
    mapped = crop_prediction(prediction, 0, box)
    assert (mapped.image.width, mapped.image.height) == (crop.shape[1], crop.shape[0]) == (32, 32)
    [d] = mapped.detections
    left, top, right, bottom = (int(v) for v in d.xyxy())
    assert (left, top, right, bottom) == (6, 6, 26, 26)
    assert (crop[top:bottom, left:right] == (255, 0, 0)).all()  # exactly the object's pixels
    inside = np.zeros(crop.shape[:2], bool)
    inside[top:bottom, left:right] = True
    assert not (crop[~inside] == (255, 0, 0)).all(axis=-1).any()  # and nothing of it outside
    assert prediction.detections[0].x == 50  # the source prediction is untouched


def test_box_partly_outside_the_image_is_clipped_to_its_visible_part() -> None:
    prediction = one(-10, 100, 20, 140)
    box = crop_box(prediction.detections[0], 160, 120, 0)
    assert box == CropBox(0, 100, 20, 120)
    [d] = crop_prediction(prediction, 0, box).detections
    assert d.xyxy() == (0, 0, 20, 20)


def test_polygon_points_and_keypoints_are_translated_clipped_and_dropped() -> None:
    points = [(40.0, 30.0), (60.0, 30.0), (60.0, 50.0), (30.0, 50.0)]
    keypoints = [Keypoint(45, 35, 0.9, 0, "a"), Keypoint(5, 5, 0.9, 1, "b")]
    prediction = one(40, 30, 60, 50, points=points, keypoints=keypoints)
    box = crop_box(prediction.detections[0], 160, 120, 2)
    assert box == CropBox(38, 28, 62, 52)
    [d] = crop_prediction(prediction, 0, box).detections
    assert d.points == [(2.0, 2.0), (22.0, 2.0), (22.0, 22.0), (0.0, 22.0)]  # 30 - 38 clipped to 0
    assert d.keypoints is not None
    assert [(k.x, k.y, k.class_name) for k in d.keypoints] == [(7, 7, "a")]  # "b" is outside


def test_crop_objects_per_strategy() -> None:
    prediction = make_detections(
        [[20, 20, 10, 10], [60, 60, 10, 10], [100, 100, 10, 10]],
        class_name=["car", "person", "car"],
        confidence=[0.5, 0.9, 0.7],
    )

    def strategy(**fields: Any) -> Any:
        config = validate_config(
            {
                "enabled": True,
                "persist_predictions": True,
                "batching_strategy": {"batches_name_prefix": "b", "recreation_interval": "never"},
                "shadow": {"model_id": "p/2", "traffic_percentage": 1.0},
                "sampling_strategies": [{"name": "s", "collect": "crops", **fields}],
            }
        )
        return config.sampling_strategies[0]

    every = strategy(type="random", traffic_percentage=1.0)
    assert crop_objects(every, prediction, None) == [1, 2, 0]  # most confident first
    cars = strategy(type="detections_number_based", probability=1.0, selected_class_names=["car"])
    assert crop_objects(cars, prediction, None) == [2, 0]
    close = strategy(type="close_to_threshold", threshold=0.5, epsilon=0.1, probability=1.0)
    assert crop_objects(close, prediction, None) == [0]
    disagreement = strategy(type="disagreement", probability=1.0)
    assert crop_objects(disagreement, prediction, None) == []
    shadow = make_detections([[60, 60, 10, 10]], class_name=["person"])
    assert crop_objects(disagreement, prediction, shadow) == [2, 0]


# ---------------------------------------------------------------------------- the collector


class OneConfig:
    def __init__(self, config: dict[str, Any]) -> None:
        self.project_config = ProjectConfig(
            "ws", "proj", "object-detection", validate_config(config), 1
        )

    def get(self, api_key: str, project: str) -> ProjectConfig:
        return self.project_config


def crops_config(limit: int, *, cap: int | None = None, padding: float = 4) -> dict[str, Any]:
    return {
        "enabled": True,
        "persist_predictions": True,
        "jpeg_compression_level": 100,
        "batching_strategy": {
            "batches_name_prefix": "b",
            "recreation_interval": "never",
            "max_batch_images": cap,
        },
        "sampling_strategies": [
            {
                "name": "objects",
                "type": "random",
                "traffic_percentage": 1.0,
                "collect": "crops",
                "crop_padding": padding,
                "limits": [{"type": "hourly", "value": limit}],
            }
        ],
    }


def collector(tmp_path: Path, config: dict[str, Any]) -> tuple[Collector, Outbox, Metrics]:
    outbox = Outbox(tmp_path / "outbox.db", max_bytes=10**8, clock=FakeClock())
    metrics = Metrics()
    c = Collector(
        settings=Settings(data_dir=tmp_path / "data"),
        config_source=OneConfig(config),
        limits=MemoryLimits(),
        outbox=outbox,
        metrics=metrics,
        rng=random.Random(1),
    )
    return c, outbox, metrics


CONTEXT = CollectionContext(api_key="k", project="proj", model_id="proj/1", inference_id="inf")


def flat_image() -> npt.NDArray[np.uint8]:
    # Grey 8x8 blocks: JPEG (quality 100, chroma subsampled) keeps them within a grey level.
    rng = np.random.default_rng(7)
    grey = np.repeat(np.repeat(rng.integers(0, 256, (15, 20, 1), np.uint8), 8, 0), 8, 1)
    return np.repeat(grey, 3, axis=2)


def three_objects() -> DetectionPrediction:
    return make_detections(
        [[36, 28, 24, 24], [100, 60, 32, 16], [140, 100, 16, 16]],
        class_name=["car", "person", "car"],
        confidence=[0.9, 0.8, 0.7],
        width=160,
        height=120,
    )


def test_each_object_is_a_datapoint_of_its_own_pixels_and_annotation(tmp_path: Path) -> None:
    c, outbox, metrics = collector(tmp_path, crops_config(10))
    image = flat_image()
    prediction = three_objects()
    assert c.process(image, prediction, CONTEXT) is Outcome.QUEUED
    entries = outbox.claim(100, 4e9)
    assert len(entries) == 3
    for entry, source in zip(entries, prediction.detections, strict=True):
        dp = entry.datapoint
        assert dp.extra is not None
        where = dp.extra["crop"]
        x0, y0 = where["x"], where["y"]
        assert where["of"] == [160, 120]
        assert dp.prediction is not None
        [mapped] = dp.prediction["predictions"]
        assert mapped["class"] == source.class_name
        assert (mapped["x"] + x0, mapped["y"] + y0) == (source.x, source.y)
        assert (mapped["width"], mapped["height"]) == (source.width, source.height)
        decoded = decode_image(dp.image_jpeg, max_pixels=10**6).astype(int)
        w, h = where["width"], where["height"]
        assert (dp.width, dp.height) == (w, h) == (decoded.shape[1], decoded.shape[0])
        # The JPEG of exactly that region: closer to it than to the region one pixel over.
        error = np.abs(decoded - image[y0 : y0 + h, x0 : x0 + w]).mean()
        shifted = np.abs(decoded - image[y0 + 1 : y0 + 1 + h, x0 + 1 : x0 + 1 + w]).mean()
        assert error < 0.5 and shifted > 5
        assert dp.inference_id == "inf" and dp.strategy == "objects"
    assert len({e.datapoint.idempotency_key for e in entries}) == 3
    queued = metrics.registry.get_sample_value(
        "winnow_datapoints_total", {"project": "proj", "strategy": "objects", "outcome": "queued"}
    )
    assert queued == 3  # one per crop


def test_one_credit_per_crop_crops_stop_when_the_limit_is_spent(tmp_path: Path) -> None:
    c, outbox, _ = collector(tmp_path, crops_config(4))
    assert c.process(flat_image(), three_objects(), CONTEXT) is Outcome.QUEUED  # 3 crops
    assert c.process(flat_image(), three_objects(), CONTEXT) is Outcome.QUEUED  # 1 crop left
    assert c.process(flat_image(), three_objects(), CONTEXT) is Outcome.LIMITED
    entries = outbox.claim(100, 4e9)
    assert len(entries) == 4
    assert (entries[-1].datapoint.extra or {})["crop"]["object"] == 0  # the most confident first


def test_crops_count_against_the_batch_cap(tmp_path: Path) -> None:
    c, outbox, _ = collector(tmp_path, crops_config(100, cap=2))
    assert c.process(flat_image(), three_objects(), CONTEXT) is Outcome.QUEUED
    assert len(outbox.claim(100, 4e9)) == 2


def test_a_detection_without_objects_is_not_taken_by_a_crops_strategy(tmp_path: Path) -> None:
    c, outbox, _ = collector(tmp_path, crops_config(10))
    empty = make_detections([], class_name=[], width=160, height=120)
    assert c.process(flat_image(), empty, CONTEXT) is Outcome.NOT_SAMPLED
    outside = make_detections([[500, 500, 10, 10]], class_name=["car"], width=160, height=120)
    assert c.process(flat_image(), outside, CONTEXT) is Outcome.NOT_SAMPLED
    assert outbox.claim(100, 4e9) == []
    # the credit of the object outside the image was given back: 10 crops still fit
    for _ in range(3):
        assert c.process(flat_image(), three_objects(), CONTEXT) is Outcome.QUEUED
    assert len(outbox.claim(100, 4e9)) == 9


def test_crops_are_only_of_objects_passing_the_strategys_conditions() -> None:
    prediction = make_detections(
        [[20, 20, 10, 10], [60, 60, 40, 40], [100, 100, 10, 10]],
        class_name=["car", "car", "person"],
        confidence=[0.5, 0.9, 0.7],
        width=160,
        height=120,
    )
    config = validate_config(
        {
            "enabled": True,
            "persist_predictions": True,
            "batching_strategy": {"batches_name_prefix": "b", "recreation_interval": "never"},
            "shadow": {"model_id": "p/2", "traffic_percentage": 1.0},
            "sampling_strategies": [
                {
                    "name": "small",
                    "type": "random",
                    "traffic_percentage": 1.0,
                    "collect": "crops",
                    "conditions": [{"width": [None, 20]}],
                },
                {
                    "name": "small disagreements",
                    "type": "disagreement",
                    "probability": 1.0,
                    "collect": "crops",
                    "conditions": [{"width": [None, 20]}],
                },
            ],
        }
    )
    small, small_disagreements = config.sampling_strategies
    assert crop_objects(small, prediction, None) == [2, 0]
    # the shadow saw only the big car: among small objects, both are unmatched
    shadow = make_detections([[60, 60, 40, 40]], class_name=["car"], width=160, height=120)
    assert crop_objects(small_disagreements, prediction, shadow) == [2, 0]
    # the shadow agrees on the small car: only the person is left
    shadow = make_detections([[20, 20, 10, 10]], class_name=["car"], width=160, height=120)
    assert crop_objects(small_disagreements, prediction, shadow) == [2]


def test_a_segmentation_crop_is_resized_with_its_polygon_as_whole_images_are(
    tmp_path: Path,
) -> None:
    config = crops_config(10, padding=0)
    config["max_image_size"] = [12, 12]  # the 24x24 crop is halved
    c, outbox, _ = collector(tmp_path, config)
    polygon = [(24.0, 16.0), (48.0, 16.0), (48.0, 40.0), (24.0, 40.0)]
    prediction = DetectionPrediction(
        task_type=TaskType.INSTANCE_SEGMENTATION,
        image=ImageSize(160, 120),
        detections=[Detection(36, 28, 24, 24, 0.9, "blob", 0, points=polygon)],
    )
    assert c.process(flat_image(), prediction, CONTEXT) is Outcome.QUEUED
    [entry] = outbox.claim(10, 4e9)
    dp = entry.datapoint
    assert (dp.width, dp.height) == (12, 12)
    assert dp.task_type == "instance-segmentation"
    assert dp.prediction is not None
    [mapped] = dp.prediction["predictions"]
    assert [(p["x"], p["y"]) for p in mapped["points"]] == [(0, 0), (12, 0), (12, 12), (0, 12)]
    assert (mapped["x"], mapped["y"], mapped["width"], mapped["height"]) == (6, 6, 12, 12)


def test_per_source_limits_count_every_crop(tmp_path: Path) -> None:
    config = crops_config(100)
    config["sampling_strategies"][0]["limits"].append(
        {"type": "hourly", "value": 2, "per": "source"}
    )
    c, outbox, _ = collector(tmp_path, config)
    door = dataclasses.replace(CONTEXT, source="door")
    yard = dataclasses.replace(CONTEXT, source="yard")
    assert c.process(flat_image(), three_objects(), door) is Outcome.QUEUED  # 2 of 3 crops
    assert c.process(flat_image(), three_objects(), door) is Outcome.LIMITED
    assert c.process(flat_image(), three_objects(), yard) is Outcome.QUEUED  # its own 2
    sources = [e.datapoint.source for e in outbox.claim(100, 4e9)]
    assert sources == ["door", "door", "yard", "yard"]
