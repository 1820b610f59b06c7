"""The limits walk decides as ``MemoryLimits.take`` does, on the records' own times."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from winnow.activelearning.batching import batch_name
from winnow.activelearning.config import Limit
from winnow.activelearning.limits import BatchCap, Budget, MemoryLimits, TakeOutcome, Window
from winnow.backtest.engine import _batch_keys
from winnow.backtest.replay import BATCH_FULL, LIMITED, TAKEN, Allowance, allowances, walk

T0 = datetime(2026, 11, 28, 23, 58, 0, tzinfo=UTC)  # a Saturday, just before a new day
NAMES = ["a", "b", "c"]


def random_limits(rng: random.Random) -> list[Limit]:
    return [
        Limit(type=rng.choice(list(Window)), value=rng.choice([0, 1, 2, 3, 5, 8]))
        for _ in range(rng.randint(0, 3))
    ]


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("interval", ["never", "daily", "weekly", "monthly"])
def test_walk_takes_exactly_what_memory_limits_take(seed: int, interval: str) -> None:
    rng = random.Random(seed)
    limits = [random_limits(rng) for _ in NAMES]
    cap = rng.choice([None, 4, 10, 40])
    n = 400
    # two and a half days, so minutes, hours, days, weeks (and a month end) turn over
    offsets = sorted(rng.uniform(0, 60 * 3600) for _ in range(n))
    times = [T0 + timedelta(seconds=s) for s in offsets]
    sampled = [rng.randint(1, 7) for _ in range(n)]

    memory = MemoryLimits()
    budgets = [
        Budget(scope="ws/p", strategy=name, limits=tuple((x.type, x.value) for x in lim))
        for name, lim in zip(NAMES, limits, strict=True)
    ]
    expected: list[tuple[int, int]] = []
    for bits, moment in zip(sampled, times, strict=True):
        candidates = [budgets[s] for s in range(3) if bits >> s & 1]
        batch = BatchCap("ws/p", batch_name("al", interval, moment), cap)
        outcome, credit = memory.take(candidates, batch, moment)
        code = {TakeOutcome.TAKEN: TAKEN, TakeOutcome.STRATEGY_LIMITED: LIMITED}.get(
            outcome, BATCH_FULL
        )
        expected.append((code, NAMES.index(credit.strategy) if credit else -1))

    seconds = np.array([int(t.timestamp()) for t in times], dtype=np.int64)
    result = walk(
        names=NAMES,
        budgets=[allowances(lim) for lim in limits],
        sampled=np.array(sampled, dtype=np.int64),
        seconds=seconds,
        sources=np.zeros(n, dtype=np.int32),
        batches=_batch_keys(interval, seconds),
        cap=cap,
    )
    got = list(zip(result.outcome.tolist(), result.paid.tolist(), strict=True))
    assert got == expected
    assert {code for code, _ in expected} >= {TAKEN}


def test_batch_keys_change_exactly_where_batch_names_do() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    moments = [start + timedelta(hours=7 * i) for i in range(2000)]
    seconds = np.array([int(m.timestamp()) for m in moments], dtype=np.int64)
    for interval in ("never", "daily", "weekly", "monthly"):
        keys = _batch_keys(interval, seconds).tolist()
        names = [batch_name("al", interval, m) for m in moments]
        for i in range(1, len(moments)):
            assert (keys[i] == keys[i - 1]) == (names[i] == names[i - 1]), (interval, moments[i])


def test_limited_names_the_first_full_window_of_the_first_sampled_strategy() -> None:
    budgets = [
        (Allowance(Window.HOURLY, 2),),
        (Allowance(Window.MINUTELY, 1),),
    ]
    t = int(datetime(2026, 11, 28, 10, 0, tzinfo=UTC).timestamp())
    seconds = np.array([t, t + 1, t + 2, t + 3, t + 61], dtype=np.int64)
    result = walk(
        names=NAMES[:2],
        budgets=budgets,
        sampled=np.array([0b11] * 5, dtype=np.int64),
        seconds=seconds,
        sources=np.zeros(5, dtype=np.int32),
        batches=np.zeros(5, dtype=np.int64),
        cap=None,
    )
    assert result.paid.tolist() == [0, 0, 1, -1, 1]
    assert result.limited_by == [None, None, None, "a:hourly", None]


def test_per_source_limits_give_every_source_its_own_budget_inside_the_overall_one() -> None:
    budgets = [(Allowance(Window.HOURLY, 3), Allowance(Window.HOURLY, 2, per_source=True))]
    t = int(datetime(2026, 11, 28, 10, 0, tzinfo=UTC).timestamp())
    sources = np.array([0, 0, 0, 1, 1, 2, 0, 1], dtype=np.int32)
    result = walk(
        names=["a"],
        budgets=budgets,
        sampled=np.ones(8, dtype=np.int64),
        seconds=np.array([t + i for i in range(7)] + [t + 3600], dtype=np.int64),
        sources=sources,
        batches=np.zeros(8, dtype=np.int64),
        cap=None,
    )
    # source 0 spends its 2; source 1 takes the overall third; source 2 finds the hour spent
    # (the strategy's own window is named first); the next hour starts afresh
    assert result.paid.tolist() == [0, 0, -1, 0, -1, -1, -1, 0]
    assert result.limited_by == [
        None,
        None,
        "a:hourly:source",
        None,
        "a:hourly",
        "a:hourly",
        "a:hourly",
        None,
    ]


def test_allowances_merge_repeated_types_to_the_smallest() -> None:
    merged = allowances(
        [
            Limit(type=Window.HOURLY, value=5),
            Limit(type=Window.MINUTELY, value=2),
            Limit(type=Window.HOURLY, value=3),
        ]
    )
    assert merged == (Allowance(Window.HOURLY, 3), Allowance(Window.MINUTELY, 2))


def test_per_source_windows_come_after_the_strategys_own() -> None:
    class PerSource:
        def __init__(self, type: str, value: int, per: str | None) -> None:
            self.type, self.value, self.per = type, value, per

    merged = allowances(
        [
            PerSource("hourly", 2, "source"),
            PerSource("daily", 9, None),
            PerSource("hourly", 5, None),
        ]
    )
    assert merged == (
        Allowance(Window.DAILY, 9),
        Allowance(Window.HOURLY, 5),
        Allowance(Window.HOURLY, 2, per_source=True),
    )
