"""The runner feeding the real collector: tags, near-duplicates, limits, nothing lost on stop."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.stream.media import MJPEGServer, make_video
from tests.stream.onnx_detector import OneProjectSource
from winnow.activelearning.collector import Collector
from winnow.activelearning.config import validate_config
from winnow.activelearning.limits import from_url
from winnow.activelearning.outbox import Entry, Outbox
from winnow.activelearning.platform_client import ProjectConfig
from winnow.metrics import Metrics
from winnow.models.registry import ModelRegistry
from winnow.settings import Settings
from winnow.stream.runner import StreamRunner
from winnow.stream.sources import FrameSource, PyAVSource

KEY = "stream-key-0123456789"
NOON = datetime(2026, 11, 28, 12, 0, 30, tzinfo=UTC)


def _config(*, limit: int | None = None, dedup: dict[str, Any] | None = None) -> dict[str, Any]:
    strategy: dict[str, Any] = {"name": "everything", "type": "random", "traffic_percentage": 1.0}
    if limit is not None:
        strategy["limits"] = [{"type": "minutely", "value": limit}]
    config: dict[str, Any] = {
        "enabled": True,
        "persist_predictions": True,
        "sampling_strategies": [strategy],
        "batching_strategy": {"batches_name_prefix": "stream", "recreation_interval": "never"},
        "tags": ["from-config"],
    }
    if dedup is not None:
        config["dedup"] = dedup
    return config


class StaticConfigSource:
    """One project ``shapes`` (object detection) with a fixed configuration."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = validate_config(config)

    def get(self, api_key: str, project: str) -> ProjectConfig:
        return ProjectConfig("default", project, "object-detection", self.config, 1)


class Stack:
    def __init__(
        self, tmp_path: Path, config: dict[str, Any], limits_url: str = "memory://"
    ) -> None:
        self.settings = Settings(data_dir=tmp_path / "data", api_key=KEY)
        self.outbox = Outbox(self.settings.outbox_path, max_bytes=10**9, synchronous="NORMAL")
        self.collector = Collector(
            settings=self.settings,
            config_source=StaticConfigSource(config),
            limits=from_url(limits_url),
            outbox=self.outbox,
            metrics=Metrics(),
            clock=lambda: NOON,
        )
        self.registry = ModelRegistry(
            OneProjectSource(KEY), cache_dir=tmp_path / "models", max_loaded=2
        )

    def runner(self, sources: list[FrameSource], **kwargs: Any) -> StreamRunner:
        return StreamRunner(
            sources, "shapes/1", KEY, registry=self.registry, collector=self.collector, **kwargs
        )

    def entries(self) -> list[Entry]:
        return self.outbox.claim(10_000, time.time() + 1)


def _run(runner: StreamRunner) -> None:
    runner.start()
    assert runner.wait(60)
    runner.stop()


def test_datapoints_are_tagged_with_their_source(tmp_path: Path) -> None:
    stack = Stack(tmp_path, _config())
    front = make_video(tmp_path / "front.mp4", 6)
    back = make_video(tmp_path / "back.mp4", 4)
    runner = stack.runner(
        [
            PyAVSource(str(front), source_id="front", live=False),
            PyAVSource(str(back), source_id="back", live=False),
        ]
    )
    _run(runner)
    entries = stack.entries()
    assert len(entries) == 10
    by_source: dict[str, int] = {}
    for entry in entries:
        dp = entry.datapoint
        assert dp.source is not None
        sid = dp.source.removeprefix("stream:")
        by_source[sid] = by_source.get(sid, 0) + 1
        assert f"source:{sid}" in dp.tags
        assert "from-config" in dp.tags
        assert dp.model_id == "shapes/1"
        assert dp.prediction is not None
        assert dp.prediction["predictions"][0]["class"] == "green-box"
    assert by_source == {"front": 6, "back": 4}
    assert [s.collected for s in runner.status()] == [6, 4]
    # the frame index and time of CollectionContext.extra travel with the datapoint
    indices: dict[str | None, list[int]] = {}
    for entry in entries:
        extra = entry.datapoint.extra
        assert extra is not None and set(extra) == {"frame_index", "frame_time"}
        assert isinstance(extra["frame_time"], float)
        indices.setdefault(entry.datapoint.source, []).append(extra["frame_index"])
    assert {k: sorted(v) for k, v in indices.items()} == {
        "stream:front": list(range(6)),
        "stream:back": list(range(4)),
    }


def test_static_video_collects_about_one_datapoint_with_dedup(tmp_path: Path) -> None:
    stack = Stack(
        tmp_path, _config(dedup={"enabled": True, "max_distance": 6, "window_seconds": 60})
    )
    video = make_video(tmp_path / "static.mp4", 60, static=True)
    runner = stack.runner([PyAVSource(str(video), source_id="static", live=False)])
    _run(runner)
    status = runner.status()[0]
    assert status.processed == 60
    assert status.collected == 1
    assert len(stack.entries()) == 1


def test_without_dedup_a_static_video_fills_the_outbox(tmp_path: Path) -> None:
    stack = Stack(tmp_path, _config(dedup={"enabled": False}))
    video = make_video(tmp_path / "static.mp4", 20, static=True)
    runner = stack.runner([PyAVSource(str(video), source_id="static", live=False)])
    _run(runner)
    assert len(stack.entries()) == 20


def test_dedup_is_per_source(tmp_path: Path) -> None:
    stack = Stack(
        tmp_path, _config(dedup={"enabled": True, "max_distance": 6, "window_seconds": 60})
    )
    video = make_video(tmp_path / "static.mp4", 10, static=True)
    runner = stack.runner(
        [
            PyAVSource(str(video), source_id="cam1", live=False),
            PyAVSource(str(video), source_id="cam2", live=False),
        ]
    )
    _run(runner)
    assert sorted(str(e.datapoint.source) for e in stack.entries()) == [
        "stream:cam1",
        "stream:cam2",
    ]


def test_limits_are_respected(tmp_path: Path) -> None:
    stack = Stack(tmp_path, _config(limit=7))
    video = make_video(tmp_path / "moving.mp4", 40)
    runner = stack.runner([PyAVSource(str(video), source_id="cam", live=False)])
    _run(runner)
    assert runner.status()[0].processed == 40
    assert runner.status()[0].collected == 7
    assert len(stack.entries()) == 7


def test_nothing_collected_is_lost_when_a_live_stream_is_stopped(tmp_path: Path) -> None:
    stack = Stack(tmp_path, _config())
    server = MJPEGServer(fps=25)
    server.start()
    try:
        runner = stack.runner([PyAVSource(server.url, source_id="live", live=True)])
        runner.start()
        deadline = time.monotonic() + 20
        while runner.status()[0].collected < 10 and time.monotonic() < deadline:
            time.sleep(0.05)
        runner.stop()
    finally:
        server.stop()
    status = runner.status()[0]
    assert status.collected >= 10
    entries = stack.entries()
    assert len(entries) == status.collected
    assert len({e.datapoint.inference_id for e in entries}) == len(entries)


@pytest.mark.redis
def test_limits_hold_across_stream_nodes_sharing_redis(tmp_path: Path, redis_url: str) -> None:
    nodes = [Stack(tmp_path / f"node{i}", _config(limit=6), redis_url) for i in range(2)]
    runners = []
    for i, node in enumerate(nodes):
        video = make_video(tmp_path / f"cam{i}.mp4", 30)
        runners.append(node.runner([PyAVSource(str(video), source_id=f"cam{i}", live=False)]))
    for runner in runners:
        runner.start()
    for runner in runners:
        assert runner.wait(60)
        runner.stop()
    assert [r.status()[0].processed for r in runners] == [30, 30]
    collected = [len(node.entries()) for node in nodes]
    assert sum(collected) == 6
    assert sum(r.status()[0].collected for r in runners) == 6
