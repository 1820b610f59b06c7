"""Captures: the serving process stores the original bytes; the collection side prepares them.

A capture prepared later must be exactly what preparing at once would have stored,
for every task type; the serving side must do no pixel work for it.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.factories import make_detections, make_jpeg, make_pixels
from winnow.activelearning.capture import (
    PrepareSpec,
    credit_from_json,
    credit_to_json,
    prepare_capture,
)
from winnow.activelearning.collector import Collector, Outcome
from winnow.activelearning.config import validate_config
from winnow.activelearning.datapoint import CollectionContext, Datapoint
from winnow.activelearning.delivery import CreditReturns, DeliveryWorker
from winnow.activelearning.limits import MemoryLimits
from winnow.activelearning.limits.base import BatchCap, Budget, Credit, Window
from winnow.activelearning.outbox import Entry, EntryStatus, Outbox
from winnow.activelearning.platform_client import ProjectConfig
from winnow.activelearning.prepare import prepare
from winnow.errors import DeliveryError
from winnow.images import CapturedImage, decode_image
from winnow.metrics import Metrics
from winnow.predictions import (
    ClassificationPrediction,
    ClassScore,
    Detection,
    DetectionPrediction,
    ImageSize,
    Keypoint,
    Prediction,
    StubPrediction,
    TaskType,
    prediction_to_json,
)
from winnow.settings import Settings

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
BIG = 50_000_000


def predictions(width: int, height: int) -> dict[str, Prediction]:
    size = ImageSize(width=width, height=height)
    return {
        "detection": make_detections(
            [(100.5, 80.25, 40.0, 30.0), (300.0, 200.0, 10.0, 12.5)],
            class_name=["car", "bus"],
            width=width,
            height=height,
        ),
        "segmentation": DetectionPrediction(
            task_type=TaskType.INSTANCE_SEGMENTATION,
            image=size,
            detections=[
                Detection(
                    x=200.0,
                    y=150.0,
                    width=80.0,
                    height=60.0,
                    confidence=0.8,
                    class_name="blob",
                    class_id=1,
                    points=[(160.0, 120.0), (240.0, 125.5), (200.0, 180.0)],
                )
            ],
        ),
        "keypoints": DetectionPrediction(
            task_type=TaskType.KEYPOINT_DETECTION,
            image=size,
            detections=[
                Detection(
                    x=320.0,
                    y=240.0,
                    width=50.0,
                    height=90.0,
                    confidence=0.7,
                    class_name="person",
                    class_id=0,
                    keypoints=[
                        Keypoint(x=310.0, y=200.0, confidence=0.9, class_id=0, class_name="nose"),
                        Keypoint(x=330.5, y=260.0, confidence=0.4, class_id=1, class_name="knee"),
                    ],
                )
            ],
        ),
        "classification": ClassificationPrediction(
            image=size,
            classes=[ClassScore("cat", 0, 0.8), ClassScore("dog", 1, 0.2)],
        ),
        "multi-label": ClassificationPrediction(
            image=size,
            classes=[ClassScore("cat", 0, 0.8), ClassScore("dog", 1, 0.6)],
            multi_label=True,
            predicted_classes=["cat", "dog"],
        ),
        "stub": StubPrediction(model_id="p/0", task_type="object-detection"),
    }


def captured_datapoint(
    original: bytes, prediction: Prediction, width: int, height: int
) -> Datapoint:
    task = (
        prediction.task_type.value
        if isinstance(prediction, DetectionPrediction | ClassificationPrediction)
        else prediction.task_type
    )
    return Datapoint(
        idempotency_key="k",
        api_key="key",
        project="p",
        batch_name="b",
        image_jpeg=original,
        width=width,
        height=height,
        prediction=None
        if isinstance(prediction, StubPrediction)
        else prediction_to_json(prediction),
        task_type=task,
        created_at=NOW,
    )


@pytest.mark.parametrize("task", list(predictions(8, 8)))
@pytest.mark.parametrize("max_size", [(120, 200), None])
def test_a_prepared_capture_is_what_preparing_at_once_stores(
    task: str, max_size: tuple[int, int] | None
) -> None:
    original = make_jpeg(640, 480, seed=4, pattern="gradient")
    prediction = predictions(640, 480)[task]
    spec = PrepareSpec(
        max_image_size=max_size, jpeg_quality=75, persist_predictions=True, max_pixels=BIG
    )
    later = prepare_capture(captured_datapoint(original, prediction, 640, 480), spec)
    at_once = prepare(
        CapturedImage.from_bytes(original, max_pixels=BIG),
        prediction,
        max_image_size=max_size,
        jpeg_quality=75,
        persist_predictions=True,
    )
    assert later.image_jpeg == at_once.jpeg
    assert (later.width, later.height) == (at_once.width, at_once.height)
    assert later.prediction == at_once.prediction_json
    if max_size is not None:
        assert (later.width, later.height) == (160, 120)
    else:  # a JPEG that needs no work is kept as sent (prepare.py)
        assert later.image_jpeg == original
        assert (
            decode_image(later.image_jpeg, max_pixels=BIG) == decode_image(original, max_pixels=BIG)
        ).all()


def test_a_capture_without_persisted_predictions_stores_none() -> None:
    original = make_jpeg(64, 48)
    spec = PrepareSpec(
        max_image_size=None, jpeg_quality=75, persist_predictions=False, max_pixels=BIG
    )
    prediction = predictions(64, 48)["detection"]
    dp = replace(captured_datapoint(original, prediction, 64, 48), prediction=None)
    assert prepare_capture(dp, spec).prediction is None


def test_credit_round_trips_through_json() -> None:
    credit = Credit(
        strategy="rnd",
        budget=Budget(
            scope="ws/p",
            strategy="rnd",
            limits=((Window.DAILY, 5), (Window.HOURLY, 2)),
            source_limits=((Window.MINUTELY, 1),),
        ),
        batch=BatchCap(scope="ws/p", batch_name="al", max_images=9),
        taken_at=NOW,
        source="cam-1",
    )
    assert credit_from_json(credit_to_json(credit)) == credit


class Config:
    def __init__(self, config: dict[str, Any]) -> None:
        self.value = ProjectConfig(
            workspace="ws",
            project="p",
            project_type="object-detection",
            config=validate_config(config),
            version=3,
        )

    def get(self, api_key: str, project: str) -> ProjectConfig:
        return self.value


CONFIG = {
    "enabled": True,
    "persist_predictions": True,
    "max_image_size": [120, 200],
    "jpeg_compression_level": 70,
    "sampling_strategies": [
        {
            "name": "all",
            "type": "random",
            "traffic_percentage": 1.0,
            "limits": [{"type": "daily", "value": 3}],
        }
    ],
    "batching_strategy": {"batches_name_prefix": "al", "recreation_interval": "never"},
}
CONTEXT = CollectionContext(api_key="key", project="p", model_id="p/3", source="http")


def never_decoded() -> Any:
    raise AssertionError("the serving side decoded the image")


def collector(tmp_path: Path, limits: MemoryLimits) -> tuple[Collector, Outbox]:
    outbox = Outbox(tmp_path / "outbox.db", max_bytes=10**8)
    return (
        Collector(
            settings=Settings(data_dir=tmp_path),
            config_source=Config(CONFIG),
            limits=limits,
            outbox=outbox,
            metrics=Metrics(),
            rng=random.Random(1),
            clock=lambda: NOW,
        ),
        outbox,
    )


class Recording:
    def __init__(self) -> None:
        self.delivered: list[Datapoint] = []

    def deliver(self, dp: Datapoint) -> str:
        self.delivered.append(dp)
        return f"id-{len(self.delivered)}"

    def close(self) -> None:
        pass


def test_the_serving_side_writes_the_original_and_delivery_prepares_it(tmp_path: Path) -> None:
    original = make_jpeg(640, 480, seed=2)
    prediction = predictions(640, 480)["detection"]
    image = CapturedImage(width=640, height=480, original=original, decode=never_decoded)
    limits = MemoryLimits()
    node, outbox = collector(tmp_path, limits)
    assert node.process(image, prediction, CONTEXT) is Outcome.QUEUED
    [entry] = outbox.claim(10, 4e9)
    assert entry.capture == PrepareSpec(
        max_image_size=(120, 200),
        jpeg_quality=70,
        persist_predictions=True,
        max_pixels=Settings().max_image_pixels,
    )
    assert entry.datapoint.image_jpeg == original  # as the client sent it
    assert entry.credit is not None and entry.credit.strategy == "all"
    outbox.recover()
    platform = Recording()
    DeliveryWorker(outbox, platform, metrics=Metrics(), concurrency=1).run(burst=True)
    [delivered] = platform.delivered
    assert (delivered.width, delivered.height) == (160, 120)
    assert decode_image(delivered.image_jpeg, max_pixels=BIG).shape == (120, 160, 3)
    assert delivered.prediction is not None
    assert delivered.prediction["image"] == {"width": 160, "height": 120}
    assert delivered.prediction["predictions"][0]["x"] == pytest.approx(100.5 / 4)
    assert outbox.stats().counts[EntryStatus.DELIVERED] == 1
    outbox.close()


def test_a_frame_without_its_bytes_is_prepared_at_once(tmp_path: Path) -> None:
    node, outbox = collector(tmp_path, MemoryLimits())
    frame = make_pixels(640, 480)
    assert node.process(frame, predictions(640, 480)["detection"], CONTEXT) is Outcome.QUEUED
    [entry] = outbox.claim(10, 4e9)
    assert entry.capture is None and (entry.datapoint.width, entry.datapoint.height) == (160, 120)
    outbox.close()


def test_a_capture_that_does_not_decode_fails_for_good(tmp_path: Path) -> None:
    # A stub answers from the header alone, so broken bytes can be captured.
    broken = make_jpeg(64, 48)[:200]
    image = CapturedImage(width=64, height=48, original=broken, decode=never_decoded)
    node, outbox = collector(tmp_path, MemoryLimits())
    stub = predictions(64, 48)["stub"]
    assert node.process(image, stub, CONTEXT) is Outcome.QUEUED
    platform = Recording()
    DeliveryWorker(outbox, platform, metrics=Metrics(), concurrency=1).run(burst=True)
    assert platform.delivered == []
    stats = outbox.stats()
    assert stats.counts[EntryStatus.FAILED] == 1 and stats.counts[EntryStatus.PENDING] == 0
    outbox.close()


def test_credit_returns_give_back_what_an_entry_paid(tmp_path: Path) -> None:
    limits = MemoryLimits()
    node, outbox = collector(tmp_path, limits)
    for seed in range(4):
        jpeg = make_jpeg(64, 48, seed=seed)
        image = CapturedImage(width=64, height=48, original=jpeg, decode=never_decoded)
        node.process(image, predictions(64, 48)["detection"], CONTEXT)
    entries: list[Entry] = outbox.claim(10, 4e9)
    assert len(entries) == 3  # the daily limit of 3; the fourth was limited
    returns = CreditReturns(limits, clock=lambda: NOW)
    assert returns.duplicate(entries[0])
    # The credit is back: one more datapoint is collected, and then none.
    image = CapturedImage(width=64, height=48, original=make_jpeg(seed=9), decode=never_decoded)
    assert node.process(image, predictions(64, 48)["detection"], CONTEXT) is Outcome.QUEUED
    image = CapturedImage(width=64, height=48, original=make_jpeg(seed=10), decode=never_decoded)
    assert node.process(image, predictions(64, 48)["detection"], CONTEXT) is Outcome.LIMITED
    outbox.close()


class Down:
    def deliver(self, dp: Datapoint) -> str:
        raise DeliveryError("platform unreachable", retryable=True)

    def close(self) -> None:
        pass


def test_a_capture_is_prepared_once_even_when_its_delivery_is_retried(tmp_path: Path) -> None:
    original = make_jpeg(640, 480, seed=3)
    image = CapturedImage(width=640, height=480, original=original, decode=never_decoded)
    node, outbox = collector(tmp_path, MemoryLimits())
    assert node.process(image, predictions(640, 480)["detection"], CONTEXT) is Outcome.QUEUED
    held_as_capture = outbox.stats().bytes
    DeliveryWorker(outbox, Down(), metrics=Metrics(), concurrency=1).run(burst=True)
    [entry] = outbox.claim(10, 4e9)
    # Pending again, holding the prepared datapoint: the next attempt prepares nothing.
    assert entry.capture is None and entry.attempts == 2
    assert (entry.datapoint.width, entry.datapoint.height) == (160, 120)
    assert entry.datapoint.image_jpeg != original
    assert entry.credit is not None
    held = outbox.stats().bytes
    assert held == entry.size < held_as_capture  # the bound counts the prepared bytes now
    outbox.close()
