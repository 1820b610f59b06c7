"""Self-check: the configuration in force, backtested, collects what the real collector collected.

Records are made by running the real ``Collector`` (memory limits, a real
outbox) over the logged predictions with a clock set to each record's time;
the records then carry the collector's decisions, and the backtest of the same
configuration must reproduce them: exactly for deterministic strategies, within
sampling error for random ones.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from tests.factories import FakeClock, make_records
from winnow.activelearning import collector as collector_module
from winnow.activelearning.collector import Collector
from winnow.activelearning.config import ActiveLearningConfig, validate_config
from winnow.activelearning.datapoint import CollectionContext
from winnow.activelearning.limits import MemoryLimits
from winnow.activelearning.outbox import Outbox
from winnow.activelearning.platform_client import ProjectConfig
from winnow.backtest.engine import backtest
from winnow.backtest.records import record_prediction
from winnow.metrics import Metrics
from winnow.settings import Settings

START = datetime(2026, 11, 30, 21, 0, tzinfo=UTC)  # the window crosses midnight (a new batch)
END = START + timedelta(hours=6)
PIXELS = np.zeros((24, 32, 3), dtype=np.uint8)
TASKS = ("object-detection", "object-detection", "classification", "stub")


class Source:
    def __init__(self, config: ActiveLearningConfig) -> None:
        self.project_config = ProjectConfig(
            workspace="default",
            project="proj",
            project_type="object-detection",
            config=config,
            version=7,
        )

    def get(self, api_key: str, project: str) -> ProjectConfig:
        return self.project_config


def collect(
    table: pa.Table, config: ActiveLearningConfig, tmp_path: Path, monkeypatch: Any, seed: int
) -> pa.Table:
    """The records with the decisions the real collector took for each, in time order."""
    sampled: list[list[str]] = []
    real_sample = collector_module.sample  # type: ignore[attr-defined]

    def spy(*args: Any, **kwargs: Any) -> Any:
        strategies = real_sample(*args, **kwargs)
        sampled[-1] = [s.name for s in strategies]
        return strategies

    monkeypatch.setattr(collector_module, "sample", spy)
    now = [START]
    outbox = Outbox(tmp_path / "outbox.db", max_bytes=10**9, clock=FakeClock())
    collector = Collector(
        settings=Settings(data_dir=tmp_path / "data"),
        config_source=Source(config),
        limits=MemoryLimits(),
        outbox=outbox,
        metrics=Metrics(),
        rng=random.Random(seed),
        clock=lambda: now[0],
    )
    outcomes = []
    for row in table.to_pylist():
        now[0] = row["time"]
        sampled.append([])
        context = CollectionContext(
            api_key="k",
            project="proj",
            model_id=row["model_id"],
            inference_id=row["inference_id"],
            source=row["source"],
        )
        outcomes.append(collector.process(PIXELS, record_prediction(row), context).value)
    paid = {e.datapoint.inference_id: e.datapoint.strategy for e in outbox.claim(10**6, 4e9)}
    ids = table.column("inference_id").to_pylist()
    decided = {
        "matched": pa.array(sampled, type=pa.list_(pa.string())),
        "outcome": pa.array(outcomes),
        "paid": pa.array([paid.get(i) for i in ids], type=pa.string()),
        "config_version": pa.array([7] * len(ids), type=pa.int32()),
    }
    for name, column in decided.items():
        table = table.set_column(table.schema.get_field_index(name), name, column)
    return table


def config(strategies: list[dict[str, Any]], cap: int | None = None) -> ActiveLearningConfig:
    batching: dict[str, Any] = {"batches_name_prefix": "al", "recreation_interval": "daily"}
    if cap is not None:
        batching["max_batch_images"] = cap
    return validate_config(
        {
            "enabled": True,
            "persist_predictions": False,
            "sampling_strategies": strategies,
            "batching_strategy": batching,
        }
    )


def records(n: int, seed: int) -> pa.Table:
    return make_records(n, seed=seed, start=START, seconds=6 * 3600, tasks=TASKS)


DETERMINISTIC = [
    {
        "name": "close",
        "type": "close_to_threshold",
        "threshold": 0.5,
        "epsilon": 0.05,
        "probability": 1.0,
        "limits": [{"type": "minutely", "value": 1}, {"type": "hourly", "value": 25}],
    },
    {
        "name": "crowded",
        "type": "detections_number_based",
        "more_than": 5,
        "probability": 1.0,
        # every camera its own 3 an hour, inside the strategy's 12
        "limits": [
            {"type": "hourly", "value": 12},
            {"type": "hourly", "value": 3, "per": "source"},
        ],
    },
    {
        "name": "sparse",
        "type": "detections_number_based",
        "less_than": 3,
        "probability": 1.0,
        "limits": [{"type": "minutely", "value": 2}, {"type": "daily", "value": 150}],
    },
]


def test_deterministic_strategies_are_reproduced_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = config(DETERMINISTIC, cap=170)
    table = collect(records(2500, seed=11), cfg, tmp_path, monkeypatch, seed=0)
    result = backtest(table, cfg, since=START, until=END, seed=5, project_type="object-detection")
    actual = result["actual"]
    assert result["predictions"] == actual["predictions"] == 2500
    assert result["collected"] == actual["collected"] > 0
    assert result["outcomes"] == actual["outcomes"]
    # every outcome the walk can give occurs, so the equality above is not vacuous
    assert set(actual["outcomes"]) >= {"queued", "limited", "batch_full", "not_sampled", "refused"}
    for name, figures in result["strategies"].items():
        for key in ("matched", "collected", "limited", "batch_full"):
            assert figures[key] == actual["strategies"].get(name, {}).get(key, 0), (name, key)
    assert result["per_hour"] == actual["per_hour"]
    assert result["per_source"] == actual["per_source"]
    assert actual["config_versions"] == {"7": 2500}
    assert result["limited_by"]["crowded:hourly:source"] > 0  # the per-source limit binds
    assert sum(result["batches"].values()) == result["collected"]
    assert len(result["batches"]) == 2


def test_random_strategies_are_reproduced_within_sampling_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = config(
        [
            {"name": "some", "type": "random", "traffic_percentage": 0.2},
            {
                "name": "more",
                "type": "random",
                "traffic_percentage": 0.5,
                "limits": [{"type": "hourly", "value": 40}],
            },
        ]
    )
    table = collect(records(3000, seed=12), cfg, tmp_path, monkeypatch, seed=1)
    result = backtest(table, cfg, since=START, until=END, seed=2, project_type="object-detection")
    actual = result["actual"]
    eligible = result["predictions"] - result["outcomes"].get("refused", 0)
    assert eligible == actual["predictions"] - actual["outcomes"]["refused"]
    p = 0.2
    some, some_actual = (
        result["strategies"]["some"]["matched"],
        actual["strategies"]["some"]["matched"],
    )
    # two independent Binomial(eligible, p): their difference within 4 standard deviations
    assert abs(some - some_actual) < 4 * math.sqrt(2 * eligible * p * (1 - p))
    # the hourly limit binds every hour on both sides
    assert result["strategies"]["more"]["collected"] == actual["strategies"]["more"]["collected"]
    assert result["strategies"]["more"]["collected"] == 6 * 40
    assert abs(result["collected"] - actual["collected"]) < 4 * math.sqrt(
        2 * eligible * p * (1 - p)
    )


def test_a_backtest_is_repeatable_by_its_seed() -> None:
    cfg = config([{"name": "some", "type": "random", "traffic_percentage": 0.3}])
    table = records(2000, seed=13)
    runs = [
        backtest(table, cfg, since=START, until=END, seed=seed)["collected"] for seed in (4, 4, 9)
    ]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
