"""``LocalLimits.burst``: many takes in one transaction, with the answers of single takes."""

from __future__ import annotations

import random
import sqlite3
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.activelearning.limits_support import T0, budget, spawned, stored_count
from winnow.activelearning.limits import MemoryLimits, from_url
from winnow.activelearning.limits.base import BatchCap, Credit, LimitsBackend
from winnow.activelearning.limits.local import LocalLimits, _Counters
from winnow.errors import ServiceUnavailableError

BUDGETS = [
    budget("a", minutely=3, hourly=7),
    budget("b", per_source={"minutely": 2}, daily=9),
    budget("c"),
]
SOURCES = ["cam:0", "cam:1", None]


def script(seed: int, steps: int = 400) -> list[tuple[Any, ...]]:
    """A random sequence of takes (time moving forward over minutes), give-backs of an
    earlier credit (by index) and batch learning, the same for every backend."""
    rng = random.Random(seed)
    ops: list[tuple[Any, ...]] = []
    seconds = 0.0
    for _ in range(steps):
        seconds += rng.choice([0.0, 0.5, 7.0, 31.0])
        roll = rng.random()
        if roll < 0.12:
            ops.append(("give_back", rng.randrange(1_000)))
        elif roll < 0.17:
            ops.append(("learn", rng.randrange(0, 12), seconds))
        else:
            candidates = rng.sample(range(len(BUDGETS)), rng.randint(1, 3))
            cap = rng.choice([None, 10, 14])
            ops.append(("take", tuple(candidates), cap, rng.choice(SOURCES), seconds))
    return ops


def play(
    limits: LimitsBackend, ops: list[tuple[Any, ...]], bursts: random.Random | None
) -> list[str]:
    """Run ``ops``; inside bursts of random lengths when ``bursts`` is given. The answers."""
    answers: list[str] = []
    credits: list[Credit] = []

    def run(op: tuple[Any, ...]) -> None:
        if op[0] == "give_back":
            if credits:
                limits.give_back(credits[op[1] % len(credits)])
            answers.append("given")
        elif op[0] == "learn":
            batch = BatchCap("ws/proj", "b1", 14)
            limits.learn_batch(batch, op[1], T0 + timedelta(seconds=op[2]))
            answers.append("learned")
        else:
            _, candidates, cap, source, seconds = op
            batch = BatchCap("ws/proj", "b1", cap)
            outcome, credit = limits.take(
                [BUDGETS[i] for i in candidates], batch, T0 + timedelta(seconds=seconds), source
            )
            if credit is not None:
                credits.append(credit)
            answers.append(credit.strategy if credit is not None else outcome.value)

    position = 0
    while position < len(ops):
        if bursts is None:
            run(ops[position])
            position += 1
            continue
        length = bursts.randint(1, 40)
        assert isinstance(limits, LocalLimits)
        with limits.burst():
            for op in ops[position : position + length]:
                run(op)
        position += length
    return answers


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_bursts_answer_as_single_takes_and_leave_the_same_counters(
    tmp_path: Path, seed: int
) -> None:
    ops = script(seed)
    single = from_url(f"local://{tmp_path / 'single.db'}")
    burst = from_url(f"local://{tmp_path / 'burst.db'}")
    memory = MemoryLimits()
    try:
        expected = play(single, ops, None)
        assert play(burst, ops, random.Random(seed)) == expected
        assert play(memory, ops, None) == expected  # and as the in-memory backend
        assert len(set(expected)) >= 4  # takes paid by several strategies, and refusals
    finally:
        single.close()
        burst.close()
    with sqlite3.connect(tmp_path / "single.db") as a, sqlite3.connect(tmp_path / "burst.db") as b:
        rows = "SELECT key, count, expires FROM counters ORDER BY key"
        assert a.execute(rows).fetchall() == b.execute(rows).fetchall()


def test_a_burst_that_cannot_be_written_records_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limits = LocalLimits(tmp_path / "limits.db")
    one = budget("a", daily=1)

    def broken(self: _Counters) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    handed: list[object] = []

    def spend() -> None:
        with limits.burst():
            handed.append(limits.take([one], None, T0)[1])

    with monkeypatch.context() as patched:
        patched.setattr(_Counters, "flush", broken)
        with pytest.raises(ServiceUnavailableError, match="disk I/O error"):
            spend()
    assert len(handed) == 1 and handed[0] is not None  # handed out inside, not recorded
    # Nothing was recorded: the only credit of the day is still there, once.
    assert [limits.take([one], None, T0)[1] is not None for _ in range(2)] == [True, False]
    limits.close()


def _burst_worker(url: str, barrier: Any, results: Any) -> None:
    """One OS process: 200 takes in bursts of 16, then its counts."""
    limits = from_url(url)
    assert isinstance(limits, LocalLimits)
    candidates = [budget("a", minutely=50, hourly=500), budget("b", hourly=30)]
    batch = BatchCap("ws/proj", "al_2026_11_28", None)
    counts: Counter[str] = Counter()
    barrier.wait()
    for _ in range(200 // 16 + 1):
        with limits.burst():
            for _ in range(16):
                outcome, credit = limits.take(candidates, batch, T0, source="http")
                counts[credit.strategy if credit else outcome.value] += 1
    limits.close()
    results.put(dict(counts))


def test_bursts_stay_exact_across_processes(tmp_path: Path) -> None:
    url = f"local://{tmp_path / 'limits.db'}"
    total = spawned(_burst_worker, [(url,)] * 4)
    takes = 4 * 16 * (200 // 16 + 1)
    assert total == Counter({"a": 50, "b": 30, "strategy_limited": takes - 80})
    assert stored_count(url, "winnow:batch:ws/proj:al_2026_11_28") == 80
