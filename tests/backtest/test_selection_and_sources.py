"""The backtest with winnow's own selection: per-source limits, object conditions, uncertainty.

Each test needs its feature in the configuration model (``per`` on a limit, ``conditions``,
the ``uncertainty`` type) and is skipped until it is there. The decisions are checked against
the real parts: the samplers (``samplers.matches``) and ``MemoryLimits.take`` with a source.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.factories import make_records
from winnow.activelearning.batching import batch_name
from winnow.activelearning.config import STRATEGY_TYPES, Limit, validate_config
from winnow.activelearning.limits import BatchCap, MemoryLimits
from winnow.activelearning.samplers import matches
from winnow.backtest.engine import backtest
from winnow.backtest.matching import score_windows, strategy_mask, vectorized
from winnow.backtest.records import columns, record_prediction

START = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
END = START + timedelta(hours=4)
per_source = pytest.mark.skipif(
    "per" not in Limit.model_fields, reason="per-source limits are not in the config model yet"
)
selection = pytest.mark.skipif(
    "uncertainty" not in STRATEGY_TYPES, reason="uncertainty and conditions are not in yet"
)


def config(strategies: list[dict[str, Any]], cap: int | None = None) -> Any:
    batching: dict[str, Any] = {"batches_name_prefix": "al", "recreation_interval": "daily"}
    if cap is not None:
        batching["max_batch_images"] = cap
    return validate_config(
        {
            "enabled": True,
            "persist_predictions": True,
            "sampling_strategies": strategies,
            "batching_strategy": batching,
        }
    )


@per_source
def test_per_source_limits_replay_as_memory_limits_take_them() -> None:
    from winnow.activelearning.limits import Budget

    cfg = config(
        [
            {
                "name": "cams",
                "type": "random",
                "traffic_percentage": 1.0,
                "limits": [
                    {"type": "hourly", "value": 5, "per": "source"},
                    {"type": "hourly", "value": 20},
                ],
            },
            {
                "name": "spare",
                "type": "random",
                "traffic_percentage": 1.0,
                "limits": [{"type": "minutely", "value": 1, "per": "source"}],
            },
        ],
        cap=60,
    )
    table = make_records(800, seed=21, start=START, seconds=4 * 3600, sources=("a", "b", "c"))
    result = backtest(table, cfg, since=START, until=END)
    # the same records through the real limits, with each record's source
    memory = MemoryLimits()

    def budget(strategy: Any) -> Any:
        per = [getattr(x, "per", None) for x in strategy.limits]
        windows: dict[str, Any] = {
            "limits": tuple(
                (x.type, x.value) for x, p in zip(strategy.limits, per, strict=True) if p is None
            ),
            "source_limits": tuple(
                (x.type, x.value)
                for x, p in zip(strategy.limits, per, strict=True)
                if p == "source"
            ),
        }
        return Budget(scope="s", strategy=strategy.name, **windows)

    budgets = [budget(s) for s in cfg.sampling_strategies]
    paid: dict[str, int] = {}
    refusals: dict[str, int] = {}
    for row in columns(table).table.to_pylist():
        if row["task"] != "object-detection":
            continue
        cap = BatchCap("s", batch_name("al", "daily", row["time"]), 60)
        taken: Any = memory.take(budgets, cap, row["time"], **{"source": row["source"]})
        if taken.credit is not None:
            paid[taken.credit.strategy] = paid.get(taken.credit.strategy, 0) + 1
        else:
            refusals[taken.limited_by] = refusals.get(taken.limited_by, 0) + 1
    assert {k: v["collected"] for k, v in result["strategies"].items()} == paid
    assert result["limited_by"] == refusals
    assert any(key.endswith(":source") for key in refusals)


def random_records() -> Any:
    tasks = ("object-detection", "classification", "multi-label-classification", "stub")
    return make_records(500, seed=31, start=START, seconds=4 * 3600, tasks=tasks)


@selection
def test_conditions_and_uncertainty_match_as_the_samplers_say() -> None:
    cfg = config(
        [
            {
                "name": "small-unsure-cars",
                "type": "detections_number_based",
                "more_than": 0,
                "probability": 1.0,
                "conditions": [{"classes": ["car"], "confidence": [0.0, 0.6], "width": [0, 120]}],
                "min_objects": 1,
            },
            {
                "name": "margin",
                "type": "uncertainty",
                "measure": "margin",
                "aggregate": "max",
                "threshold": 0.5,
            },
            {
                "name": "top-entropy",
                "type": "uncertainty",
                "measure": "entropy",
                "aggregate": "mean",
                "top_fraction": 0.2,
                "window": 100,
            },
        ]
    )
    cols = columns(random_records())
    predictions = [record_prediction(r) for r in cols.table.to_pylist()]
    windows, theirs = score_windows(), score_windows()
    for strategy in cfg.sampling_strategies:
        assert vectorized(strategy) == (getattr(strategy, "top_fraction", None) is None)
        live: dict[str, Any] = {"windows": theirs, "scope": "backtest"}
        expected = [matches(strategy, p, **live) for p in predictions]
        got = strategy_mask(strategy, cols, windows)
        assert got.tolist() == expected, strategy.name
        assert 0 < sum(expected) < cols.n, strategy.name


@selection
def test_a_top_fraction_backtest_never_touches_the_live_windows() -> None:
    from winnow.activelearning import samplers

    shared: Any = getattr(samplers, "SHARED_WINDOWS")  # noqa: B009 - absent before selection
    cfg = config(
        [
            {
                "name": "unsure",
                "type": "uncertainty",
                "measure": "least_confidence",
                "aggregate": "max",
                "top_fraction": 0.1,
                "window": 200,
            }
        ]
    )
    before = len(shared)
    runs = [backtest(random_records(), cfg, since=START, until=END)["collected"] for _ in (1, 2)]
    assert runs[0] == runs[1] > 0  # each replay ranks among its own records, from empty
    assert len(shared) == before
    share = runs[0] / 500
    assert share < 0.3


def random_conditions(rng: Any) -> dict[str, Any]:
    """A strategy's ``conditions`` (one or two, random fields) and count bounds."""

    def one() -> dict[str, Any]:
        fields: dict[str, Any] = {}
        if rng.random() < 0.5:
            fields["classes"] = rng.sample(["car", "truck", "bus", "person", "bike"], 2)
        if rng.random() < 0.5:
            fields["confidence"] = rng.choice([[0.0, 0.6], [0.3, None], [None, 0.8]])
        if rng.random() < 0.4:
            fields["width"] = rng.choice([[0, 120], [40, None]])
        if rng.random() < 0.3:
            fields["height"] = [10, 150]
        if rng.random() < 0.3:
            fields["area"] = rng.choice([[0.0, 0.05], [0.01, 1.0]])
        if rng.random() < 0.3:
            fields["aspect"] = [0.5, 2.0]
        if rng.random() < 0.3:
            fields["region"] = [[0, 0.5], [1, 0.5], [1, 1], [0, 1]]  # the lower half
        return fields or {"confidence": [0.0, 1.0]}

    out: dict[str, Any] = {"conditions": [one() for _ in range(rng.randint(1, 2))]}
    if rng.random() < 0.4:
        out["min_objects"] = rng.randint(1, 3)
    if rng.random() < 0.3:
        out["max_objects"] = rng.randint(3, 6)
    return out


@selection
@pytest.mark.parametrize("seed", range(4))
def test_vectorized_conditions_equal_the_samplers(seed: int) -> None:
    import random

    from tests.factories import make_records as records_of

    rng = random.Random(seed)
    strategies = []
    for i in range(10):
        kind = rng.choice(
            ["random", "close_to_threshold", "classes_based", "detections_number_based"]
        )
        base: dict[str, Any] = {"name": f"s{i}", "type": kind, **random_conditions(rng)}
        if kind == "random":
            base["traffic_percentage"] = 1.0
        else:
            base["probability"] = 1.0
        if kind == "close_to_threshold":
            base.update(threshold=0.5, epsilon=0.3, only_top_classes=rng.random() < 0.5)
        if kind == "classes_based":
            base["selected_class_names"] = ["car", "bus"]
        if kind == "detections_number_based":
            base["more_than"] = rng.choice([0, 1])
        strategies.append(base)
    # a triangle region: judged by the samplers, one record at a time
    strategies.append(
        {
            "name": "triangle",
            "type": "random",
            "traffic_percentage": 1.0,
            "conditions": [{"region": [[0, 0], [1, 0], [0, 1]]}],
        }
    )
    cfg = config(strategies)
    tasks = ("object-detection", "classification", "multi-label-classification", "stub")
    cols = columns(records_of(600, seed=seed, start=START, tasks=tasks, mean_objects=3.0))
    selective = 0
    for strategy in cfg.sampling_strategies:
        assert vectorized(strategy) == (strategy.name != "triangle")
        expected = [matches(strategy, p) for p in cols.predictions]
        assert strategy_mask(strategy, cols).tolist() == expected, strategy.name
        selective += 0 < sum(expected) < cols.n
    assert selective >= 3  # the conditions select: the equality is not between empty masks


@selection
@pytest.mark.parametrize("seed", range(3))
def test_vectorized_uncertainty_equals_the_samplers(seed: int) -> None:
    import random

    from tests.factories import make_records as records_of

    rng = random.Random(seed)
    strategies = []
    for measure in ("least_confidence", "margin", "entropy", "mean_object_confidence"):
        aggregates = ["mean"] if measure == "mean_object_confidence" else ["max", "mean", "sum"]
        for aggregate in aggregates:
            document: dict[str, Any] = {
                "name": f"{measure}-{aggregate}",
                "type": "uncertainty",
                "measure": measure,
                "aggregate": aggregate,
                "threshold": round(rng.uniform(0.2, 0.9), 2),
            }
            if rng.random() < 0.4:
                document.update(random_conditions(rng))
            strategies.append(document)
    cfg = config(strategies)
    tasks = ("object-detection", "classification", "multi-label-classification", "stub")
    cols = columns(records_of(800, seed=seed, start=START, tasks=tasks, mean_objects=3.0))
    selective = 0
    for strategy in cfg.sampling_strategies:
        assert vectorized(strategy)
        expected = [matches(strategy, p) for p in cols.predictions]
        assert strategy_mask(strategy, cols).tolist() == expected, strategy.name
        selective += 0 < sum(expected) < cols.n
    assert selective >= len(strategies) // 2
