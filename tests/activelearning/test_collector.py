"""The collector against the real memory limits, a real outbox and a validated config."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from tests.factories import FakeClock, make_detections
from winnow.activelearning.batching import batch_name
from winnow.activelearning.collector import Collector, Outcome
from winnow.activelearning.config import validate_config
from winnow.activelearning.datapoint import CollectionContext
from winnow.activelearning.limits.base import BatchCap, Budget, TakeOutcome, Window
from winnow.activelearning.limits.memory import MemoryLimits
from winnow.activelearning.outbox import EntryStatus, Outbox
from winnow.activelearning.platform_client import ProjectConfig
from winnow.errors import NotFoundError, ServiceUnavailableError
from winnow.images import CapturedImage, encode_jpeg
from winnow.metrics import Metrics
from winnow.predictions import (
    ClassificationPrediction,
    ClassScore,
    ImageSize,
    StubPrediction,
)
from winnow.settings import Settings

NOW = datetime(2026, 11, 28, 10, 15, 30, tzinfo=UTC)


def config_dict(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "enabled": True,
        "max_image_size": [120, 200],
        "jpeg_compression_level": 80,
        "persist_predictions": True,
        "tags": ["cfg-tag"],
        "sampling_strategies": [
            {
                "name": "everything",
                "type": "random",
                "traffic_percentage": 1.0,
                "tags": ["random-tag"],
                "limits": [{"type": "minutely", "value": 3}],
            }
        ],
        "batching_strategy": {"batches_name_prefix": "al", "recreation_interval": "daily"},
    }
    base.update(overrides)
    return base


class StaticConfigSource:
    """An in-test ConfigSource: one validated config, or an error to raise."""

    def __init__(
        self,
        config: dict[str, Any] | None = None,
        *,
        project_type: str = "object-detection",
        error: Exception | None = None,
    ) -> None:
        self.project_config = ProjectConfig(
            workspace="ws",
            project="proj",
            project_type=project_type,
            config=validate_config(config or config_dict()),
            version=4,
        )
        self.error = error
        self.calls: list[tuple[str, str]] = []

    def get(self, api_key: str, project: str) -> ProjectConfig:
        self.calls.append((api_key, project))
        if self.error is not None:
            raise self.error
        return self.project_config


detection = partial(
    make_detections,
    [[100, 60, 40, 20], [150, 60, 40, 20]],
    class_name=["car", "car"],
    confidence=[0.5, 0.5],
    class_id=[0, 0],
    width=400,
    height=240,
)


def image(seed: int = 0, width: int = 400, height: int = 240) -> npt.NDArray[Any]:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (height // 40, width // 40, 3), dtype=np.uint8)
    return np.repeat(np.repeat(small, 40, axis=0), 40, axis=1)


CONTEXT = CollectionContext(
    api_key="key-1",
    project="proj",
    model_id="proj/3",
    inference_id="inf-9",
    source="stream:cam1",
    source_tags=("cam1",),
)


class Rig:
    """A collector wired to real parts in a temp dir."""

    def __init__(
        self,
        tmp_path: Path,
        source: StaticConfigSource | None = None,
        *,
        max_bytes: int = 10**8,
        **settings: Any,
    ) -> None:
        self.settings = Settings(
            data_dir=tmp_path / "data", active_learning_tags=["site-a"], **settings
        )
        self.source = source or StaticConfigSource()
        self.limits = MemoryLimits()
        self.outbox = Outbox(tmp_path / "outbox.db", max_bytes=max_bytes, clock=FakeClock())
        self.metrics = Metrics()
        self.now = NOW
        self.collector = Collector(
            settings=self.settings,
            config_source=self.source,
            limits=self.limits,
            outbox=self.outbox,
            metrics=self.metrics,
            rng=random.Random(3),
            clock=lambda: self.now,
        )

    def count(self, outcome: str, strategy: str = "everything") -> float:
        value = self.metrics.registry.get_sample_value(
            "winnow_datapoints_total", {"project": "proj", "strategy": strategy, "outcome": outcome}
        )
        return value or 0.0

    def errors(self, cause: str) -> float:
        value = self.metrics.registry.get_sample_value(
            "winnow_collection_errors_total", {"cause": cause}
        )
        return value or 0.0

    def entries(self) -> list[Any]:
        return self.outbox.claim(1000, 4e9)


def test_sampled_datapoint_is_prepared_and_queued_with_provenance(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    assert rig.collector.process(image(), detection(), CONTEXT) is Outcome.QUEUED
    [entry] = rig.entries()
    dp = entry.datapoint
    assert (dp.width, dp.height) == (200, 120)  # 400x240 fitted into (120, 200)
    assert dp.image_jpeg[:3] == b"\xff\xd8\xff"
    assert dp.prediction is not None
    assert dp.prediction["image"] == {"width": 200, "height": 120}
    assert dp.prediction["predictions"][0]["x"] == pytest.approx(50.0)
    assert dp.prediction["predictions"][0]["width"] == pytest.approx(20.0)
    assert dp.tags == ("site-a", "cfg-tag", "random-tag", "cam1", "proj-3")
    assert dp.batch_name == batch_name("al", "daily", NOW) == "al_2026_11_28"
    assert dp.strategy == "everything"
    assert dp.model_id == "proj/3"
    assert dp.inference_id == "inf-9"
    assert dp.source == "stream:cam1"
    assert dp.config_version == 4
    assert dp.created_at == NOW
    assert dp.project == "proj"
    assert dp.api_key == "key-1"
    assert dp.task_type == "object-detection"
    assert len(dp.idempotency_key) == 32
    assert rig.source.calls == [("key-1", "proj")]
    assert rig.count("sampled") == 1
    assert rig.count("queued") == 1


def test_strategy_limit_is_enforced_then_limited(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    outcomes = [rig.collector.process(image(i), detection(), CONTEXT) for i in range(5)]
    assert outcomes == [Outcome.QUEUED] * 3 + [Outcome.LIMITED] * 2
    assert len(rig.entries()) == 3
    assert rig.count("limited") == 2
    assert rig.count("batch_full") == 0
    assert rig.count("sampled") == 5


def test_first_strategy_with_budget_pays(tmp_path: Path) -> None:
    strategies = [
        {
            "name": "first",
            "type": "random",
            "traffic_percentage": 1.0,
            "tags": ["t1"],
            "limits": [{"type": "hourly", "value": 1}],
        },
        {"name": "second", "type": "random", "traffic_percentage": 1.0, "tags": ["t2"]},
    ]
    rig = Rig(tmp_path, StaticConfigSource(config_dict(sampling_strategies=strategies)))
    for i in range(3):
        assert rig.collector.process(image(i), detection(), CONTEXT) is Outcome.QUEUED
    entries = rig.entries()
    assert [e.datapoint.strategy for e in entries] == ["first", "second", "second"]
    assert "t1" in entries[0].datapoint.tags and "t2" not in entries[0].datapoint.tags
    assert "t2" in entries[1].datapoint.tags
    assert rig.count("queued", "second") == 2


def test_per_source_limit_gives_every_source_its_own_budget(tmp_path: Path) -> None:
    limits = [{"type": "hourly", "value": 2, "per": "source"}, {"type": "daily", "value": 5}]
    strategies = [{"name": "cams", "type": "random", "traffic_percentage": 1.0, "limits": limits}]
    rig = Rig(tmp_path, StaticConfigSource(config_dict(sampling_strategies=strategies)))

    def process(source: str, seed: int) -> Outcome:
        context = dataclasses.replace(CONTEXT, source=source)
        return rig.collector.process(image(seed), detection(), context)

    busy = [process("stream:busy", i) for i in range(4)]
    assert busy == [Outcome.QUEUED] * 2 + [Outcome.LIMITED] * 2
    quiet = [process("stream:quiet", 10 + i) for i in range(3)]
    assert quiet == [Outcome.QUEUED] * 2 + [Outcome.LIMITED]
    rig.now = NOW + timedelta(hours=1)  # new hour: the strategy's daily 5 has 1 left
    later = [process("stream:other", 20 + i) for i in range(2)]
    assert later == [Outcome.QUEUED, Outcome.LIMITED]
    sources = [entry.datapoint.source for entry in rig.entries()]
    assert sorted(sources) == ["stream:busy"] * 2 + ["stream:other"] + ["stream:quiet"] * 2


def test_batch_cap_limits_collection(tmp_path: Path) -> None:
    batching = {"batches_name_prefix": "al", "recreation_interval": "never", "max_batch_images": 2}
    rig = Rig(tmp_path, StaticConfigSource(config_dict(batching_strategy=batching)))
    outcomes = [rig.collector.process(image(i), detection(), CONTEXT) for i in range(3)]
    assert outcomes == [Outcome.QUEUED, Outcome.QUEUED, Outcome.BATCH_FULL]
    assert {e.datapoint.batch_name for e in rig.entries()} == {"al"}
    # a full batch is counted apart from a spent strategy
    assert rig.count("batch_full") == 1
    assert rig.count("limited") == 0
    assert rig.count("queued") == 2


def test_full_batch_and_spent_strategy_are_counted_apart(tmp_path: Path) -> None:
    batching = {"batches_name_prefix": "al", "recreation_interval": "never", "max_batch_images": 4}
    rig = Rig(tmp_path, StaticConfigSource(config_dict(batching_strategy=batching)))
    # the strategy allows 3 a minute: 3 queued, then limited until the minute turns
    minute = [rig.collector.process(image(i), detection(), CONTEXT) for i in range(5)]
    assert minute == [Outcome.QUEUED] * 3 + [Outcome.LIMITED] * 2
    rig.now = NOW + timedelta(minutes=1)
    later = [rig.collector.process(image(10 + i), detection(), CONTEXT) for i in range(3)]
    assert later == [Outcome.QUEUED, Outcome.BATCH_FULL, Outcome.BATCH_FULL]
    assert (rig.count("queued"), rig.count("limited"), rig.count("batch_full")) == (4, 2, 2)


def test_not_sampled_and_disabled(tmp_path: Path) -> None:
    never = [{"name": "never", "type": "random", "traffic_percentage": 0.0}]
    rig = Rig(tmp_path, StaticConfigSource(config_dict(sampling_strategies=never)))
    assert rig.collector.process(image(), detection(), CONTEXT) is Outcome.NOT_SAMPLED
    rig = Rig(tmp_path / "b", StaticConfigSource({"enabled": False}))
    assert rig.collector.process(image(), detection(), CONTEXT) is Outcome.DISABLED
    assert rig.entries() == []


def test_master_switch_off_does_nothing_at_all(tmp_path: Path) -> None:
    rig = Rig(tmp_path, active_learning_enabled=False)
    assert rig.collector.submit(image(), detection(), CONTEXT) is False
    assert rig.collector.process(image(), detection(), CONTEXT) is Outcome.DISABLED
    assert rig.source.calls == []


def test_persist_predictions_false_stores_no_prediction_and_no_model_tag(tmp_path: Path) -> None:
    rig = Rig(tmp_path, StaticConfigSource(config_dict(persist_predictions=False)))
    assert rig.collector.process(image(), detection(), CONTEXT) is Outcome.QUEUED
    [entry] = rig.entries()
    assert entry.datapoint.prediction is None
    assert "proj-3" not in entry.datapoint.tags


def test_task_mismatch_is_refused_and_stubs_fit_any_project(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rig = Rig(tmp_path, StaticConfigSource(project_type="classification"))
    with caplog.at_level(logging.WARNING, logger="winnow.activelearning.collector"):
        for i in range(3):
            assert rig.collector.process(image(i), detection(), CONTEXT) is Outcome.REFUSED
    assert len([r for r in caplog.records if "does not fit" in r.getMessage()]) == 1
    assert rig.errors("task_mismatch") == 3
    classification = ClassificationPrediction(
        image=ImageSize(400, 240),
        classes=[ClassScore("cat", 0, 0.9)],
        predicted_classes=["cat"],
    )
    assert rig.collector.process(image(), classification, CONTEXT) is Outcome.QUEUED
    stub = StubPrediction(model_id="proj/0", task_type="classification")
    assert rig.collector.process(image(1), stub, CONTEXT) is Outcome.QUEUED
    entries = rig.entries()
    assert entries[1].datapoint.prediction is None
    assert entries[1].datapoint.task_type == "classification"

    detection_rig = Rig(tmp_path / "det")
    assert detection_rig.collector.process(image(), classification, CONTEXT) is Outcome.REFUSED


def test_full_outbox_refuses_and_returns_the_credit(tmp_path: Path) -> None:
    rig = Rig(tmp_path, max_bytes=100)
    assert rig.collector.process(image(), detection(), CONTEXT) is Outcome.REFUSED
    assert rig.count("refused") == 1
    assert rig.errors("outbox_full") == 1
    # the 3-per-minute budget is intact: three credits can still be taken
    budget = Budget(scope="ws/proj", strategy="everything", limits=((Window.MINUTELY, 3),))
    cap = BatchCap(scope="ws/proj", batch_name="al_2026_11_28", max_images=None)
    for _ in range(3):
        assert rig.limits.take([budget], cap, NOW)[0] is TakeOutcome.TAKEN
    assert rig.limits.take([budget], cap, NOW)[0] is TakeOutcome.STRATEGY_LIMITED


def test_failures_are_counted_logged_once_and_never_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    down = StaticConfigSource(error=ServiceUnavailableError("platform unreachable"))
    rig = Rig(tmp_path, down)
    with caplog.at_level(logging.WARNING, logger="winnow.activelearning.collector"):
        for i in range(5):
            assert rig.collector.process(image(i), detection(), CONTEXT) is Outcome.ERROR
        rig.source.error = NotFoundError("no such project")
        assert rig.collector.process(image(), detection(), CONTEXT) is Outcome.ERROR
    assert rig.errors("config:ServiceUnavailableError") == 5
    assert rig.errors("config:NotFoundError") == 1
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2
    assert "platform unreachable" in warnings[0]


class BrokenLimits(MemoryLimits):
    def take(self, *args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("redis is down")


def test_limits_backend_down_is_an_error_not_an_exception(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.collector.limits = BrokenLimits()
    assert rig.collector.process(image(), detection(), CONTEXT) is Outcome.ERROR
    assert rig.errors("limits:ConnectionError") == 1
    assert rig.entries() == []


def test_failure_after_the_credit_gives_it_back(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    empty = np.zeros((0, 0, 3), dtype=np.uint8)  # cannot be encoded
    for _ in range(4):
        assert rig.collector.process(empty, detection(), CONTEXT) is Outcome.ERROR
    assert _error_counts(rig) == {"prepare:ValueError": 4}
    # every credit was given back: 3 fresh datapoints still fit the 3-per-minute limit
    for i in range(3):
        assert rig.collector.process(image(i), detection(), CONTEXT) is Outcome.QUEUED


def _error_counts(rig: Rig) -> dict[str, float]:
    counts: dict[str, float] = {}
    for metric in rig.metrics.registry.collect():
        for sample in metric.samples:
            if sample.name == "winnow_collection_errors_total":
                counts[sample.labels["cause"]] = sample.value
    return counts


def test_near_duplicates_are_skipped_before_spending_budget(tmp_path: Path) -> None:
    dedup = {"enabled": True, "max_distance": 4, "window_seconds": 60}
    rig = Rig(tmp_path, StaticConfigSource(config_dict(dedup=dedup)))
    frame = image(1)
    assert rig.collector.process(frame, detection(), CONTEXT) is Outcome.QUEUED
    assert rig.collector.process(frame.copy(), detection(), CONTEXT) is Outcome.DUPLICATE
    other_source = CollectionContext(api_key="key-1", project="proj", model_id="proj/3", source="b")
    assert rig.collector.process(frame, detection(), other_source) is Outcome.QUEUED
    assert rig.collector.process(image(2), detection(), CONTEXT) is Outcome.QUEUED
    assert len(rig.entries()) == 3  # the duplicate spent no credit of the 3-per-minute budget
    assert rig.count("duplicate") == 1


def test_a_frame_refused_by_a_limit_does_not_suppress_its_successors(tmp_path: Path) -> None:
    dedup = {"enabled": True, "max_distance": 4, "window_seconds": 60}
    rig = Rig(tmp_path, StaticConfigSource(config_dict(dedup=dedup)))
    for i in range(3):  # spend the 3-per-minute budget on distinct frames
        assert rig.collector.process(image(10 + i), detection(), CONTEXT) is Outcome.QUEUED
    frame = image(1)
    assert rig.collector.process(frame, detection(), CONTEXT) is Outcome.LIMITED
    # the limited frame was never collected, so it is not remembered as a duplicate
    assert rig.collector.process(frame.copy(), detection(), CONTEXT) is Outcome.LIMITED
    assert rig.count("duplicate") == 0


def test_submit_is_bounded_and_drops_visibly(tmp_path: Path) -> None:
    rig = Rig(tmp_path, collector_queue_size=2)
    frames = [image(i) for i in range(5)]
    accepted = [rig.collector.submit(f, detection(), CONTEXT) for f in frames]
    assert accepted == [True, True, False, False, False]
    assert rig.errors("queue_full") == 3
    assert rig.count("dropped", "-") == 3
    assert rig.metrics.registry.get_sample_value("winnow_collector_queue") == 2
    assert rig.collector.drain() == [Outcome.QUEUED, Outcome.QUEUED]
    assert rig.metrics.registry.get_sample_value("winnow_collector_queue") == 0


def test_worker_thread_processes_submissions(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.collector.start()
    try:
        for i in range(3):
            assert rig.collector.submit(image(i), detection(), CONTEXT)
        deadline = time.monotonic() + 20
        while rig.count("queued") < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        rig.collector.stop(timeout=5)
    assert rig.count("queued") == 3
    assert rig.outbox.stats().counts[EntryStatus.PENDING] == 3


def test_submit_hands_over_the_same_objects_without_copying(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    seen: list[tuple[object, ...]] = []
    original = rig.collector.process_many

    # The worker hands what is queued to process_many, in bursts.
    def spy(items: Any) -> list[Outcome]:
        seen.extend(items)
        return original(items)

    rig.collector.process_many = spy  # type: ignore[method-assign]
    frame, prediction = image(), detection()
    assert rig.collector.submit(frame, prediction, CONTEXT)
    assert rig.collector.drain() == [Outcome.QUEUED]
    [(got_image, got_prediction, got_context, *_rest)] = seen
    assert isinstance(got_image, CapturedImage) and got_image.pixels() is frame
    assert got_prediction is prediction and got_context is CONTEXT
    assert frame.flags.writeable  # untouched and still the caller's array


def test_target_project_takes_uploads_limits_and_batch_counts(tmp_path: Path) -> None:
    rig = Rig(tmp_path, StaticConfigSource(config_dict(target_project="dataset")))
    assert [rig.collector.process(image(i), detection(), CONTEXT) for i in range(4)] == [
        Outcome.QUEUED
    ] * 3 + [Outcome.LIMITED]
    assert {entry.datapoint.project for entry in rig.entries()} == {"dataset"}
    value = rig.metrics.registry.get_sample_value(
        "winnow_datapoints_total",
        {"project": "dataset", "strategy": "everything", "outcome": "queued"},
    )
    assert value == 3


def test_target_in_the_same_workspace_is_allowed(tmp_path: Path) -> None:
    config = config_dict(target_workspace="ws", target_project="proj")
    rig = Rig(tmp_path, StaticConfigSource(config))
    assert rig.collector.process(image(), detection(), CONTEXT) is Outcome.QUEUED


def test_foreign_target_workspace_is_refused_counted_and_nothing_collected(
    tmp_path: Path,
) -> None:
    config = config_dict(target_workspace="elsewhere", target_project="dataset")
    rig = Rig(tmp_path, StaticConfigSource(config))
    assert rig.collector.process(image(), detection(), CONTEXT) is Outcome.REFUSED
    assert rig.errors("foreign_target_workspace") == 1
    assert rig.count("refused", "-") == 1
    assert rig.entries() == []


def test_config_warnings_are_counted_once_per_configuration(tmp_path: Path) -> None:
    rig = Rig(tmp_path, StaticConfigSource(config_dict(colour=1, shape=2)))
    for i in range(3):
        rig.collector.process(image(i), detection(), CONTEXT)
    value = rig.metrics.registry.get_sample_value(
        "winnow_config_warnings_total", {"project": "proj"}
    )
    assert value == 2


@pytest.mark.parametrize(
    "extra",
    [
        {"score": float("nan")},
        {"score": float("inf")},
        {"nested": [1, {"x": float("-inf")}]},
        {"raw": b"\x00\x01"},
        {"when": datetime(2026, 12, 1, tzinfo=UTC)},
        {"ids": {1, 2}},
    ],
)
def test_extra_that_is_not_json_is_refused_before_credit_and_outbox(
    tmp_path: Path, extra: dict[str, Any]
) -> None:
    rig = Rig(tmp_path)
    context = dataclasses.replace(CONTEXT, extra=extra)
    for i in range(4):
        assert rig.collector.process(image(i), detection(), context) is Outcome.REFUSED
    assert rig.entries() == []
    assert rig.count("refused", strategy="-") == 4
    assert _error_counts(rig) == {"invalid_extra": 4}
    # no credit was taken: the whole 3-per-minute budget is still there
    good = dataclasses.replace(CONTEXT, extra={"frame": 7, "t": 1.5})
    outcomes = [rig.collector.process(image(i), detection(), good) for i in range(4)]
    assert outcomes == [Outcome.QUEUED] * 3 + [Outcome.LIMITED]
    assert [e.datapoint.extra for e in rig.entries()] == [{"frame": 7, "t": 1.5}] * 3


def test_top_fraction_ranks_in_the_collectors_window_of_the_project(tmp_path: Path) -> None:
    unsure = {
        "name": "unsure",
        "type": "uncertainty",
        "measure": "least_confidence",
        "top_fraction": 0.5,
        "window": 10,
    }
    rig = Rig(tmp_path, StaticConfigSource(config_dict(sampling_strategies=[unsure])))

    def confident(confidence: float) -> Any:
        return make_detections(class_name=["car"], confidence=[confidence])

    outcomes = [
        rig.collector.process(image(i), confident(c), CONTEXT)
        for i, c in enumerate((0.5, 0.1, 0.95))
    ]
    # alone (half of one), above the one seen, below both seen
    assert outcomes == [Outcome.NOT_SAMPLED, Outcome.QUEUED, Outcome.NOT_SAMPLED]
    window = rig.collector.score_windows.window(("ws/proj", "unsure"))
    assert window is not None and len(window) == 3


class FreshConfigSource(StaticConfigSource):
    """A source that also answers ``fresh`` (as the caching source does), never loading."""

    def __init__(self, config: dict[str, Any] | None, *, known: bool = True) -> None:
        super().__init__(config)
        self.known = known

    def fresh(self, api_key: str, project: str) -> ProjectConfig | None:
        return self.project_config if self.known else None


def test_a_project_known_to_collect_nothing_is_decided_at_submit_without_queueing(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path, FreshConfigSource(config_dict(enabled=False)))
    told: list[Any] = []
    rig.collector.decisions = lambda *args: told.append(args[-1])
    assert rig.collector.submit(image(), detection(), CONTEXT)  # decided, not dropped
    assert rig.metrics.registry.get_sample_value("winnow_collector_queue") in (None, 0)
    assert rig.collector.drain() == []  # nothing was queued for the worker
    assert rig.source.calls == []  # the source was not asked to load
    [decision] = told
    assert decision.outcome == Outcome.DISABLED.value
    assert (decision.workspace, decision.config_version) == ("ws", 4)


def test_a_project_that_collects_or_is_not_cached_is_queued(tmp_path: Path) -> None:
    for source in (FreshConfigSource(config_dict()), FreshConfigSource(None, known=False)):
        rig = Rig(tmp_path / str(id(source)), source)
        assert rig.collector.submit(image(), detection(), CONTEXT)
        assert rig.collector.drain() == [Outcome.QUEUED]


def test_the_hand_off_queue_is_bounded_by_bytes_too(tmp_path: Path) -> None:
    jpeg = CapturedImage.from_bytes(encode_jpeg(image(), 90), max_pixels=10**8)
    assert jpeg.original is not None
    rig = Rig(tmp_path, collector_queue_max_bytes=2 * len(jpeg.original) + 10)
    accepted = [rig.collector.submit(jpeg, detection(), CONTEXT) for _ in range(3)]
    assert accepted == [True, True, False]
    assert rig.errors("queue_full") == 1
    assert rig.collector.drain() == [Outcome.QUEUED, Outcome.QUEUED]
    # Taken off the queue, its bytes are free again.
    assert rig.collector.submit(jpeg, detection(), CONTEXT)


class BurstFailsLimits(MemoryLimits):
    """Limits whose bursts cannot be recorded: the exit raises, as LocalLimits' would."""

    @contextlib.contextmanager
    def burst(self) -> Iterator[None]:
        yield
        raise ServiceUnavailableError("limits backend unavailable (disk I/O error)")


def test_a_burst_of_decisions_whose_takes_were_not_recorded_collects_none_of_them(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path, StaticConfigSource(config_dict(enabled=True)))
    rig.collector.limits = BurstFailsLimits()
    items = [(CapturedImage.from_pixels(image(i)), detection(), CONTEXT) for i in range(2)]
    assert rig.collector.process_many(items) == [Outcome.ERROR, Outcome.ERROR]
    assert rig.entries() == []
    assert rig.errors("limits:ServiceUnavailableError") == 1


def test_sampling_at_submit_decides_as_the_worker_would(tmp_path: Path) -> None:
    half = config_dict(
        sampling_strategies=[{"name": "half", "type": "random", "traffic_percentage": 0.5}]
    )
    decided: dict[str, list[str]] = {}
    for name, source in (
        ("worker", StaticConfigSource(half)),  # no fresh(): the worker samples
        ("submit", FreshConfigSource(half)),  # fresh(): sampled at submit
    ):
        rig = Rig(tmp_path / name, source, collector_queue_size=1000)
        told: list[str] = []
        rig.collector.decisions = lambda *args, told=told: told.append(args[-1].outcome)
        for i in range(60):
            assert rig.collector.submit(image(i % 3), detection(), CONTEXT)
        rig.collector.drain()
        decided[name] = told
        if name == "submit":
            assert source.calls == []  # the worker never asked for the configuration
    # The same draws of the same seeded generator: the same datapoints sampled, in order
    # (not-sampled ones are told at submit, before the sampled ones are drained).
    worker, submit = decided["worker"], decided["submit"]
    assert sorted(worker) == sorted(submit)
    assert {"not_sampled", "queued"} <= set(worker)
    assert 15 <= worker.count("not_sampled") <= 45


def test_near_duplicates_within_one_burst_are_found_and_limited_ones_do_not_count(
    tmp_path: Path,
) -> None:
    dedup = {"enabled": True, "max_distance": 4, "window_seconds": 60}
    rig = Rig(tmp_path, StaticConfigSource(config_dict(dedup=dedup)))
    frames = [image(10), image(11), image(12), image(1), image(1), image(2)]
    items = [(CapturedImage.from_pixels(f), detection(), CONTEXT) for f in frames]
    # One burst: three distinct frames spend the 3-per-minute budget, then a frame is
    # limited; its copy right after is limited again (not a duplicate of a frame never kept).
    assert rig.collector.process_many(items) == [Outcome.QUEUED] * 3 + [Outcome.LIMITED] * 3
    rig.now = NOW + timedelta(minutes=1)
    again = [(CapturedImage.from_pixels(f), detection(), CONTEXT) for f in (image(1), image(1))]
    assert rig.collector.process_many(again) == [Outcome.QUEUED, Outcome.DUPLICATE]
