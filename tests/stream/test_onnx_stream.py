"""The runner through the real model registry and a real ONNX detector built in the test."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.stream.doubles import RecordingCollector
from tests.stream.media import make_video, read_index
from tests.stream.onnx_detector import OneProjectSource
from winnow.errors import NotFoundError, UnauthorizedError
from winnow.models.registry import ModelRegistry
from winnow.stream.runner import StreamRunner
from winnow.stream.sources import PyAVSource

KEY = "stream-key-0123456789"


def _registry(tmp_path: Path) -> ModelRegistry:
    return ModelRegistry(OneProjectSource(KEY), cache_dir=tmp_path / "models", max_loaded=2)


def test_onnx_detector_finds_the_moving_box_in_every_frame(tmp_path: Path) -> None:
    video = make_video(tmp_path / "moving.mp4", 45)
    collector = RecordingCollector()
    runner = StreamRunner(
        [PyAVSource(str(video), source_id="yard", live=False)],
        "shapes/1",
        KEY,
        registry=_registry(tmp_path),
        collector=collector,
    )
    runner.start()
    assert runner.wait(60)
    runner.stop()
    assert runner.status()[0].processed == 45
    assert len(collector.records) == 45
    for image, prediction, context in collector.records:
        index = read_index(image)
        expected_x = 10 + (index * 3) % 110 + 15  # centre of the rectangle drawn in that frame
        (box,) = prediction.detections  # type: ignore[union-attr]
        assert box.class_name == "green-box"
        assert box.x == pytest.approx(expected_x, abs=3)
        assert box.y == pytest.approx(70, abs=3)
        assert context.source == "stream:yard"
        assert context.model_id == "shapes/1"


def test_runner_refuses_to_start_with_a_model_it_cannot_load(tmp_path: Path) -> None:
    video = make_video(tmp_path / "v.mp4", 2)
    for model_id, key, error in [
        ("shapes/7", KEY, NotFoundError),
        ("shapes/1", "wrong-key-0123456789", UnauthorizedError),
    ]:
        runner = StreamRunner(
            [PyAVSource(str(video), source_id="v", live=False)],
            model_id,
            key,
            registry=_registry(tmp_path),
            collector=RecordingCollector(),
        )
        with pytest.raises(error):
            runner.start()
