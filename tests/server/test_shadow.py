"""The shadow path: two tiny ONNX classifiers that disagree on known inputs, served for real.

``pets/1`` says "bright" when the image's mean is over 0.5 of full scale,
``pets/2`` (the shadow) when it is over 0.3: a grey image of level 100
(mean 0.39) is "dark" to one and "bright" to the other; levels 20 and 200 they
agree on. Runners are not started: tests run ``drain()`` to do the shadow work
now, in order, and then assert exactly.
"""

from __future__ import annotations

import base64
import random
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI

from tests.apps import MemoryModelSource, SpyCollector
from tests.factories import KEY, FakeClock
from tests.server.asgi_client import ASGIClient
from tests.server.onnx_models import threshold_classifier
from winnow.activelearning.collector import Collector, Outcome
from winnow.activelearning.config import validate_config
from winnow.activelearning.limits.memory import MemoryLimits
from winnow.activelearning.outbox import Outbox
from winnow.activelearning.platform_client import ProjectConfig, ShadowCount
from winnow.app import include_routes
from winnow.errors import NotFoundError
from winnow.http.errors import install_error_handlers
from winnow.images import encode_jpeg
from winnow.metrics import Metrics
from winnow.models.registry import ModelRegistry
from winnow.predictions import ClassificationPrediction
from winnow.server.services import Services
from winnow.server.shadow import ShadowRunner
from winnow.settings import Role, Settings


def grey_body(level: int, model_id: str = "pets/1") -> dict[str, Any]:
    jpeg = encode_jpeg(np.full((48, 64, 3), level, np.uint8), 95)
    value = base64.b64encode(jpeg).decode()
    return {"api_key": KEY, "model_id": model_id, "image": {"type": "base64", "value": value}}


def al_config(traffic: float = 1.0, **extra: Any) -> dict[str, Any]:
    return {
        "enabled": True,
        "persist_predictions": True,
        "batching_strategy": {"batches_name_prefix": "b", "recreation_interval": "never"},
        "shadow": {"model_id": "pets/2", "traffic_percentage": traffic},
        "sampling_strategies": [{"name": "disagree", "type": "disagreement", "probability": 1.0}],
        **extra,
    }


class Configs:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = ProjectConfig("default", "pets", "classification", validate_config(config), 1)
        self.calls = 0

    def get(self, api_key: str, project: str) -> ProjectConfig:
        self.calls += 1
        return self.config


class Sink:
    def __init__(self) -> None:
        self.reports: list[tuple[str, str, list[ShadowCount]]] = []
        self.fail = False

    def report(self, api_key: str, project: str, counts: list[ShadowCount]) -> None:
        if self.fail:
            raise ConnectionError("platform down")
        self.reports.append((api_key, project, counts))


class Rig:
    """An inference app over pets/1 (served) and pets/2 (shadow), with a shadow runner."""

    def __init__(
        self,
        tmp_path: Path,
        *,
        config: dict[str, Any] | None = None,
        shadow: bool = True,
        collector: Any = None,
        **settings: Any,
    ) -> None:
        source = MemoryModelSource()
        source.files[("default", "pets", 1)] = ("classification", threshold_classifier(0.5))
        source.files[("default", "pets", 2)] = ("classification", threshold_classifier(0.3))
        self.settings = Settings(data_dir=tmp_path / "data", **settings)
        self.metrics = Metrics()
        self.registry = ModelRegistry(
            source, cache_dir=self.settings.data_dir / "models", max_loaded=4
        )
        self.configs = Configs(config or al_config())
        self.collector = collector if collector is not None else SpyCollector()
        self.sink = Sink()
        self.clock = FakeClock()
        self.timer = FakeClock()
        self.runner = ShadowRunner(
            settings=self.settings,
            config_source=self.configs,
            models=self.registry.get,
            metrics=self.metrics,
            sink=self.sink,
            node="node-1",
            rng=random.Random(5),
            clock=lambda: self.clock.now,
            timer=lambda: self.timer.now,
            today=lambda: "2026-12-02",
        )
        app = FastAPI()
        install_error_handlers(app)
        app.state.services = Services(
            settings=self.settings,
            metrics=self.metrics,
            registry=self.registry,
            collector=self.collector,
            fetch_url=lambda url: b"",
            shadow=self.runner if shadow else None,
        )
        include_routes(app, Role.INFERENCE)
        self.app = app

    def value(self, name: str, **labels: str) -> float:
        found = self.metrics.registry.get_sample_value(name, {"project": "pets", **labels})
        return found or 0.0


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return Rig(tmp_path)


def infer(app: FastAPI, *levels: int) -> list[bytes]:
    with ASGIClient(app) as client:
        bodies = []
        for level in levels:
            response = client.post("/infer/classification", json=grey_body(level))
            assert response.status_code == 200, response.text
            bodies.append(response.content)
        return bodies


def top(prediction: object) -> str | None:
    assert isinstance(prediction, ClassificationPrediction)
    return None if prediction.top is None else prediction.top.class_name


def test_the_shadow_runs_on_the_same_image_and_the_collector_sees_its_prediction(
    rig: Rig,
) -> None:
    infer(rig.app, 100, 200, 20)
    assert rig.collector.calls == []  # everything waits for its shadow run
    assert rig.runner.drain() == 3
    calls = rig.collector.calls
    assert [top(p) for _, p, _ in calls] == ["dark", "bright", "dark"]
    shadows = [c.shadow for _, _, c in calls]
    assert all(s is not None and s.model_id == "pets/2" for s in shadows)
    assert [top(s.prediction) for s in shadows if s is not None] == ["bright", "bright", "dark"]
    assert rig.value("winnow_shadow_runs_total") == 3
    assert rig.value("winnow_shadow_disagreements_total") == 1
    assert rig.value("winnow_shadow_seconds_total") == 0  # the fake timer did not move
    assert rig.runner.counts() == {(KEY, "pets", "2026-12-02", "pets/2"): (3, 1)}
    assert rig.configs.calls == 1  # learned once, by the worker


def test_only_disagreements_are_collected_by_a_disagreement_strategy(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    config = al_config()
    outbox = Outbox(tmp_path / "outbox.db", max_bytes=10**8, clock=FakeClock())
    collector = Collector(
        settings=settings,
        config_source=Configs(config),
        limits=MemoryLimits(),
        outbox=outbox,
        metrics=Metrics(),
    )
    rig = Rig(tmp_path, config=config, collector=collector)
    infer(rig.app, 20, 100, 200, 100)
    rig.runner.drain()
    no, yes = Outcome.NOT_SAMPLED, Outcome.QUEUED
    assert collector.drain() == [no, yes, no, yes]
    entries = outbox.claim(10, 4e9)
    assert [e.datapoint.strategy for e in entries] == ["disagree", "disagree"]
    assert all(e.datapoint.prediction["top"] == "dark" for e in entries)  # type: ignore[index]


def test_without_a_shadow_run_a_disagreement_strategy_does_not_match(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    outbox = Outbox(tmp_path / "outbox.db", max_bytes=10**8, clock=FakeClock())
    collector = Collector(
        settings=settings,
        config_source=Configs(al_config()),
        limits=MemoryLimits(),
        outbox=outbox,
        metrics=Metrics(),
    )
    rig = Rig(tmp_path, config=al_config(), collector=collector, shadow=False)
    infer(rig.app, 100, 100)
    assert collector.drain() == [Outcome.NOT_SAMPLED, Outcome.NOT_SAMPLED]


def test_traffic_percentage_is_the_share_of_requests_shadowed(tmp_path: Path) -> None:
    rig = Rig(tmp_path, config=al_config(traffic=0.25), shadow_queue_size=64)
    infer(rig.app, 100)  # the first one teaches the runner the configuration
    rig.runner.drain()
    infer(rig.app, *([100] * 40))
    direct = len(rig.collector.calls)
    rig.runner.drain()
    shadowed = sum(1 for _, _, c in rig.collector.calls if c.shadow is not None)
    assert len(rig.collector.calls) == 41
    assert shadowed == 41 - direct  # what waited is exactly what was shadowed
    # random.Random(5) draws: a fixed, honest count near 25 % of 40 (+1 for the first)
    assert 1 + 4 <= shadowed <= 1 + 18
    assert rig.value("winnow_shadow_runs_total") == shadowed


def test_a_full_queue_skips_the_shadow_counts_it_and_still_collects(tmp_path: Path) -> None:
    rig = Rig(tmp_path, shadow_queue_size=1)
    infer(rig.app, 100)
    rig.runner.drain()
    infer(rig.app, 100, 100, 100)
    assert len(rig.collector.calls) == 1 + 2  # two went on without a shadow, at once
    assert rig.value("winnow_shadow_skipped_total", reason="queue_full") == 2
    rig.runner.drain()
    assert len(rig.collector.calls) == 4  # every image reached the collector exactly once
    assert [c.shadow is not None for _, _, c in rig.collector.calls] == [True, False, False, True]
    assert rig.value("winnow_shadow_runs_total") == 2


def test_the_time_budget_skips_runs_until_it_refills(tmp_path: Path) -> None:
    # 0.1 s per second, saved up to 1 s; each run takes 0.6 s on the fake timer.
    rig = Rig(tmp_path, shadow_time_budget=0.1, shadow_queue_size=64)
    rig.registry.get(KEY, "pets/2")  # loaded before the timer is watched

    def slow_timer() -> float:
        rig.timer.now += 0.6  # read before and after each run: 0.6 s a run
        return rig.timer.now

    rig.runner._timer = slow_timer
    infer(rig.app, 100)
    rig.runner.drain()  # 1.0 - 0.6 = 0.4 s left
    infer(rig.app, 100)
    rig.runner.drain()  # 0.4 - 0.6 < 0
    infer(rig.app, 100, 100)
    assert rig.value("winnow_shadow_skipped_total", reason="time_budget") == 2
    rig.clock.now += 3.0  # + 0.3 s: positive again
    infer(rig.app, 100)
    rig.runner.drain()
    assert rig.value("winnow_shadow_runs_total") == 3
    assert rig.value("winnow_shadow_seconds_total") == pytest.approx(1.8)
    assert len(rig.collector.calls) == 5


def test_a_zero_budget_never_runs_a_shadow(tmp_path: Path) -> None:
    rig = Rig(tmp_path, shadow_time_budget=0)
    infer(rig.app, 100, 100)
    rig.runner.drain()
    assert rig.value("winnow_shadow_runs_total") == 0
    assert rig.value("winnow_shadow_skipped_total", reason="time_budget") == 2
    assert [c.shadow for _, _, c in rig.collector.calls] == [None, None]


def test_a_shadow_of_another_task_or_unknown_is_skipped_and_counted(tmp_path: Path) -> None:
    config = al_config()
    config["shadow"] = {"model_id": "cars/1", "traffic_percentage": 1.0}  # a detector
    rig = Rig(tmp_path, config=config)
    infer(rig.app, 100)
    rig.runner.drain()
    assert rig.value("winnow_shadow_skipped_total", reason="task_mismatch") == 1
    config["shadow"] = {"model_id": "pets/9", "traffic_percentage": 1.0}  # not registered
    rig = Rig(tmp_path, config=config)
    infer(rig.app, 100)
    rig.runner.drain()
    assert rig.value("winnow_shadow_skipped_total", reason="error") == 1
    assert [c.shadow for _, _, c in rig.collector.calls] == [None]


def test_responses_are_byte_identical_with_and_without_a_shadow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The two fields that differ between any two requests: the id and the model time.
    monkeypatch.setattr(
        "winnow.server.pipeline.uuid", SimpleNamespace(uuid4=lambda: uuid.UUID(int=7))
    )
    monkeypatch.setattr("winnow.server.pipeline.time", SimpleNamespace(perf_counter=lambda: 1.0))
    levels = (100, 200, 20, 100)
    without = infer(Rig(tmp_path / "a", shadow=False).app, *levels)
    shadowed = Rig(tmp_path / "b")
    with_shadow = infer(shadowed.app, *levels)
    shadowed.runner.drain()
    busy = Rig(tmp_path / "c", shadow_queue_size=1)
    infer(busy.app, 20)
    busy.runner.drain()
    busy_bodies = infer(busy.app, *levels)
    assert with_shadow == without == busy_bodies
    assert shadowed.value("winnow_shadow_disagreements_total") == 2
    assert busy.value("winnow_shadow_skipped_total", reason="queue_full") == 3


def test_counts_are_reported_as_totals_of_the_day_and_resent_after_a_failure(rig: Rig) -> None:
    infer(rig.app, 100, 200)
    rig.runner.drain()
    rig.sink.fail = True
    rig.runner.report()
    assert rig.sink.reports == []
    assert rig.value("winnow_shadow_skipped_total", reason="error") == 0  # a report is no run
    rig.sink.fail = False
    infer(rig.app, 100)
    rig.runner.drain()
    rig.runner.report()
    assert rig.sink.reports == [
        (KEY, "pets", [ShadowCount("2026-12-02", "node-1", "pets/2", 3, 2)])
    ]  # 100 and 200, then 100: three runs, two disagreements, in one report
    rig.runner.report()  # nothing new: nothing sent
    assert len(rig.sink.reports) == 1


def test_with_the_worker_running_drain_waits_until_every_image_reached_the_collector(
    rig: Rig,
) -> None:
    rig.runner.start()
    try:
        infer(rig.app, 100, 200, 110, 20)
        rig.runner.drain(timeout=30)
        assert len(rig.collector.calls) == 4
        assert all(c.shadow is not None for _, _, c in rig.collector.calls)
    finally:
        rig.runner.stop()
    assert rig.sink.reports == [
        (KEY, "pets", [ShadowCount("2026-12-02", "node-1", "pets/2", 4, 2)])
    ]  # stop() reports


def test_a_configuration_source_down_collects_without_a_shadow_and_counts_no_skip(
    rig: Rig,
) -> None:
    def down(api_key: str, project: str) -> ProjectConfig:
        raise ConnectionError("platform down")

    rig.configs.get = down  # type: ignore[method-assign]
    infer(rig.app, 100)
    rig.runner.drain()
    assert [c.shadow for _, _, c in rig.collector.calls] == [None]
    assert rig.value("winnow_shadow_skipped_total", reason="error") == 0
    errors = rig.metrics.registry.get_sample_value(
        "winnow_collection_errors_total", {"cause": "shadow_config:ConnectionError"}
    )
    assert errors == 1


def test_queued_runs_are_skipped_once_the_budget_is_spent_by_the_runs_before(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path, shadow_time_budget=0.1, shadow_queue_size=64)
    rig.registry.get(KEY, "pets/2")

    def slow_timer() -> float:
        rig.timer.now += 0.6
        return rig.timer.now

    rig.runner._timer = slow_timer
    infer(rig.app, 100)
    rig.runner.drain()  # 0.4 s left: the next four are all queued
    infer(rig.app, 100, 100, 100, 100)
    rig.runner.drain()
    assert rig.value("winnow_shadow_runs_total") == 2  # the second spends the rest
    assert rig.value("winnow_shadow_skipped_total", reason="time_budget") == 3
    assert len(rig.collector.calls) == 5


def test_a_report_refused_for_good_is_not_sent_again(rig: Rig) -> None:
    calls: list[str] = []

    def gone(api_key: str, project: str, counts: list[ShadowCount]) -> None:
        calls.append(project)
        raise NotFoundError(f"project {project!r} not found")

    rig.sink.report = gone  # type: ignore[method-assign]
    infer(rig.app, 100)
    rig.runner.drain()
    rig.runner.report()
    rig.runner.report()
    assert calls == ["pets"]
