"""Stream frames are recorded too: one record per frame, its source and the detector's objects."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.factories import FakeClock
from tests.stream.onnx_detector import OneProjectSource
from winnow.activelearning.collector import Collector
from winnow.activelearning.config import validate_config
from winnow.activelearning.limits import from_url
from winnow.activelearning.outbox import Outbox
from winnow.activelearning.platform_client import ProjectConfig
from winnow.images import encode_jpeg
from winnow.metrics import Metrics
from winnow.models.registry import ModelRegistry
from winnow.predlog.query import RecordStore, read_records
from winnow.predlog.writer import PredictionLog
from winnow.settings import Settings
from winnow.stream.runner import StreamRunner
from winnow.stream.sources import ImageFolderSource

KEY = "stream-key-0123456789"
CONFIG = validate_config(
    {
        "enabled": True,
        "persist_predictions": True,
        "sampling_strategies": [
            {
                "name": "boxes",
                "type": "detections_number_based",
                "selected_class_names": ["green-box"],
                "probability": 1.0,
                "more_than": 0,
            }
        ],
        "batching_strategy": {"batches_name_prefix": "s", "recreation_interval": "never"},
    }
)


class Source:
    def get(self, api_key: str, project: str) -> ProjectConfig:
        return ProjectConfig("default", project, "object-detection", CONFIG, 2)


def test_every_frame_of_a_stream_is_recorded_with_its_decision(tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(4):
        pixels = np.zeros((96, 128, 3), dtype=np.uint8)
        if i % 2 == 0:  # a green box on even frames: the detector finds it
            pixels[20:60, 30:90] = (0, 255, 0)
        (frames / f"{i:03d}.jpg").write_bytes(encode_jpeg(pixels, 90))
    settings = Settings(data_dir=tmp_path / "data", api_key=KEY)
    log = PredictionLog(settings.predlog_dir, node="n1", workspace_of=str, clock=FakeClock())
    collector = Collector(
        settings=settings,
        config_source=Source(),
        limits=from_url("memory://"),
        outbox=Outbox(settings.outbox_path, max_bytes=10**9),
        metrics=Metrics(),
        decisions=log.decision,
    )
    registry = ModelRegistry(OneProjectSource(KEY), cache_dir=tmp_path / "models", max_loaded=2)
    runner = StreamRunner(
        [ImageFolderSource(frames, source_id="cam1")],
        "shapes/1",
        KEY,
        registry=registry,
        collector=collector,
    )
    runner.start()
    assert runner.wait(60)
    runner.stop()
    log.flush()
    log.close_segments()
    rows = read_records(RecordStore.local(str(log.closed_dir), flat=True), workspace="default")
    got = [
        (r["source"], r["outcome"], r["objects_total"], r["config_version"])
        for r in rows.to_pylist()
    ]
    assert sorted(got) == sorted(
        [("stream:cam1", "queued", 1, 2)] * 2 + [("stream:cam1", "not_sampled", 0, 2)] * 2
    )
    assert {r["task"] for r in rows.to_pylist()} == {"object-detection"}
    boxes = [r["objects"][0] for r in rows.to_pylist() if r["objects"]]
    assert all(o["class"] == "green-box" and o["w"] > 30 for o in boxes)
