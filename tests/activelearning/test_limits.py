"""Contract suite for limits backends: the same tests against memory://, local:// and redis://."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.activelearning.limits_support import T0, budget, spawned, stored_count
from winnow.activelearning.limits import (
    BatchCap,
    Budget,
    Credit,
    LimitsBackend,
    MemoryLimits,
    TakeOutcome,
    TakeResult,
    Window,
    from_url,
)
from winnow.activelearning.limits.local import LocalLimits
from winnow.activelearning.limits.redis import RedisLimits
from winnow.errors import ConfigurationError, ServiceUnavailableError

TAKEN = TakeOutcome.TAKEN
LIMITED = TakeOutcome.STRATEGY_LIMITED
FULL = TakeOutcome.BATCH_FULL


def at(**delta: float) -> datetime:
    """T0 (2026-11-28 12:00:00 UTC) shifted by ``timedelta(**delta)``."""
    return T0 + timedelta(**delta)


def outcomes(
    backend: LimitsBackend,
    candidates: list[Budget],
    n: int,
    now: datetime = T0,
    batch: BatchCap | None = None,
    source: str | None = None,
) -> list[str]:
    """Take ``n`` times; the paying strategy's name, or the outcome when none paid."""
    result: list[str] = []
    for _ in range(n):
        outcome, credit = backend.take(candidates, batch, now, source=source)
        result.append(credit.strategy if credit is not None else outcome.value)
    return result


@pytest.fixture(
    params=["memory", "local", pytest.param("redis", marks=pytest.mark.redis)],
)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LimitsBackend]:
    """Each backend, fresh (a new local file; the test Redis database flushed)."""
    limits: LimitsBackend
    if request.param == "memory":
        limits = MemoryLimits()
    elif request.param == "local":
        limits = from_url(f"local://{tmp_path / 'limits.db'}")
    else:
        limits = from_url(request.getfixturevalue("redis_url"))
    yield limits
    limits.close()


# --- ordering ------------------------------------------------------------------


def test_first_candidate_with_room_pays(backend: LimitsBackend) -> None:
    a, b = budget("a", minutely=1), budget("b", minutely=2)
    assert outcomes(backend, [a, b], 4) == ["a", "b", "b", "strategy_limited"]


def test_order_of_candidates_decides_who_pays(backend: LimitsBackend) -> None:
    a, b = budget("a", minutely=1), budget("b", minutely=2)
    assert outcomes(backend, [b, a], 4) == ["b", "b", "a", "strategy_limited"]


def test_strategy_without_limits_always_has_room(backend: LimitsBackend) -> None:
    free = budget("free")
    assert outcomes(backend, [free], 60) == ["free"] * 60


def test_no_candidates_takes_nothing(backend: LimitsBackend) -> None:
    batch = BatchCap("ws/proj", "b", 1)
    assert backend.take([], batch, T0) == (LIMITED, None)
    # the batch place was not consumed by the failed take
    assert outcomes(backend, [budget("a")], 2, batch=batch) == ["a", "batch_full"]


def test_credit_says_who_paid_and_when(backend: LimitsBackend) -> None:
    a, b = budget("a", minutely=1), budget("b", hourly=5)
    batch = BatchCap("ws/proj", "al_2026_11_28", 10)
    backend.take([a, b], batch, T0)
    outcome, credit = backend.take([a, b], batch, at(seconds=3))
    assert outcome is TAKEN
    assert credit == Credit(strategy="b", budget=b, batch=batch, taken_at=at(seconds=3))


def test_only_the_paying_strategy_is_consumed(backend: LimitsBackend) -> None:
    a = budget("a", minutely=1, hourly=2)
    b = budget("b")
    # a pays once, then is full for this minute; b pays the rest
    assert outcomes(backend, [a, b], 6) == ["a"] + ["b"] * 5
    # a's hourly count is 1, not 6: the checks that failed consumed nothing
    assert outcomes(backend, [a, b], 1, at(minutes=1)) == ["a"]
    assert outcomes(backend, [a, b], 1, at(minutes=2)) == ["b"]  # hourly 2/2


def test_naive_datetime_is_rejected(backend: LimitsBackend) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        backend.take([budget("a", minutely=1)], None, datetime(2026, 11, 28, 12, 0))


# --- windows -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("window", "last_inside", "first_after"),
    [
        (Window.MINUTELY, at(seconds=59.999), at(minutes=1)),
        (Window.HOURLY, at(minutes=59, seconds=59), at(hours=1)),
        (Window.DAILY, at(hours=11, minutes=59, seconds=59), at(hours=12)),
    ],
)
def test_each_window_limits_and_refreshes_at_its_utc_boundary(
    backend: LimitsBackend, window: Window, last_inside: datetime, first_after: datetime
) -> None:
    a = Budget("ws/proj", "a", ((window, 3),))
    assert outcomes(backend, [a], 4, T0) == ["a", "a", "a", "strategy_limited"]
    assert outcomes(backend, [a], 1, last_inside) == ["strategy_limited"]
    assert outcomes(backend, [a], 4, first_after) == ["a", "a", "a", "strategy_limited"]


def test_windows_align_to_utc_whatever_the_zone_of_now(backend: LimitsBackend) -> None:
    tokyo = T0.astimezone(timezone(timedelta(hours=9, minutes=30)))
    a = budget("a", minutely=1)
    assert outcomes(backend, [a], 1, at(seconds=10)) == ["a"]
    # the same instant expressed in another zone falls in the same window
    assert outcomes(backend, [a], 1, tokyo + timedelta(seconds=50)) == ["strategy_limited"]
    assert outcomes(backend, [a], 1, tokyo + timedelta(seconds=60)) == ["a"]


def test_crossing_a_minute_refreshes_minutely_but_not_hourly_or_daily(
    backend: LimitsBackend,
) -> None:
    a = budget("a", minutely=2, hourly=3, daily=4)
    assert outcomes(backend, [a], 3, at(seconds=59)) == ["a", "a", "strategy_limited"]
    # 12:01:00: new minute, but the hour already holds 2 of 3
    assert outcomes(backend, [a], 2, at(minutes=1)) == ["a", "strategy_limited"]
    # 13:00:00: new hour and minute, but the day already holds 3 of 4
    assert outcomes(backend, [a], 2, at(hours=1)) == ["a", "strategy_limited"]
    assert outcomes(backend, [a], 1, at(hours=2, minutes=5)) == ["strategy_limited"]
    # next UTC day: everything is fresh
    assert outcomes(backend, [a], 3, at(hours=12)) == ["a", "a", "strategy_limited"]


def test_windows_are_independent_per_strategy(backend: LimitsBackend) -> None:
    a, b = budget("a", minutely=2), budget("b", minutely=2)
    assert outcomes(backend, [a], 3) == ["a", "a", "strategy_limited"]
    assert outcomes(backend, [b], 3) == ["b", "b", "strategy_limited"]


def test_windows_are_independent_per_scope(backend: LimitsBackend) -> None:
    one = budget("a", scope="ws/p1", minutely=1)
    two = budget("a", scope="ws/p2", minutely=1)
    assert outcomes(backend, [one], 2) == ["a", "strategy_limited"]
    assert outcomes(backend, [two], 2) == ["a", "strategy_limited"]


def test_names_with_separators_do_not_collide(backend: LimitsBackend) -> None:
    one = budget("c", scope="a:b", minutely=1)
    two = budget("b:c", scope="a", minutely=1)
    assert outcomes(backend, [one], 2) == ["c", "strategy_limited"]
    assert outcomes(backend, [two], 2) == ["b:c", "strategy_limited"]


def test_repeated_window_type_uses_the_smallest_limit_once(backend: LimitsBackend) -> None:
    a = Budget("ws/proj", "a", ((Window.MINUTELY, 5), (Window.MINUTELY, 2), (Window.HOURLY, 9)))
    assert outcomes(backend, [a], 3) == ["a", "a", "strategy_limited"]
    # counted once per take: the hour holds 2, so 7 more fit in later minutes
    taken = [o for m in range(1, 6) for o in outcomes(backend, [a], 2, at(minutes=m))]
    assert taken.count("a") == 7


def test_repeated_window_types_are_all_enforced_in_one_take(backend: LimitsBackend) -> None:
    # the reference enforces every entry: two daily limits, the tighter one binds
    a = Budget("ws/proj", "a", ((Window.DAILY, 4), (Window.HOURLY, 3), (Window.DAILY, 2)))
    assert outcomes(backend, [a], 3) == ["a", "a", "strategy_limited"]
    assert outcomes(backend, [a], 1, at(hours=1)) == ["strategy_limited"]


def test_limit_of_zero_never_pays_and_the_next_candidate_does(backend: LimitsBackend) -> None:
    zero, b = budget("zero", hourly=0), budget("b", minutely=1)
    assert outcomes(backend, [zero, b], 2) == ["b", "strategy_limited"]
    assert outcomes(backend, [zero], 1, at(days=1)) == ["strategy_limited"]


# --- batch cap -----------------------------------------------------------------


def test_batch_cap_is_exact(backend: LimitsBackend) -> None:
    batch = BatchCap("ws/proj", "al_2026_11_28", 3)
    assert outcomes(backend, [budget("a")], 5, batch=batch) == ["a"] * 3 + ["batch_full"] * 2


def test_full_batch_consumes_no_strategy_credit(backend: LimitsBackend) -> None:
    a = budget("a", minutely=10)
    full = BatchCap("ws/proj", "b1", 2)
    assert outcomes(backend, [a], 5, batch=full) == ["a", "a"] + ["batch_full"] * 3
    other = BatchCap("ws/proj", "b2", None)
    assert outcomes(backend, [a], 9, batch=other) == ["a"] * 8 + ["strategy_limited"]


def test_limited_strategy_consumes_no_batch_place(backend: LimitsBackend) -> None:
    a, b = budget("a", minutely=1), budget("b")
    batch = BatchCap("ws/proj", "b1", 2)
    assert outcomes(backend, [a], 3, batch=batch) == ["a", "strategy_limited", "strategy_limited"]
    assert outcomes(backend, [b], 2, batch=batch) == ["b", "batch_full"]


def test_batches_are_independent_per_scope_and_name(backend: LimitsBackend) -> None:
    a = budget("a")
    for batch in (BatchCap("p1", "x", 1), BatchCap("p1", "y", 1), BatchCap("p2", "x", 1)):
        assert outcomes(backend, [a], 2, batch=batch) == ["a", "batch_full"]


def test_uncapped_batch_is_still_counted(backend: LimitsBackend) -> None:
    a = budget("a")
    assert outcomes(backend, [a], 4, batch=BatchCap("p", "x", None)) == ["a"] * 4
    # a cap added later sees the four places already taken
    assert outcomes(backend, [a], 2, batch=BatchCap("p", "x", 5)) == ["a", "batch_full"]


def test_batch_cap_zero_is_always_full(backend: LimitsBackend) -> None:
    assert outcomes(backend, [budget("a")], 1, batch=BatchCap("p", "x", 0)) == ["batch_full"]


def test_learned_batch_count_is_raised_never_lowered(backend: LimitsBackend) -> None:
    a = budget("a")
    batch = BatchCap("ws/proj", "learned", 5)
    backend.learn_batch(batch, 3, T0)  # the platform already holds 3
    assert outcomes(backend, [a], 3, batch=batch) == ["a", "a", "batch_full"]
    backend.learn_batch(batch, 1, T0)  # an older, smaller answer changes nothing
    assert outcomes(backend, [a], 1, batch=batch) == ["batch_full"]
    other = BatchCap("ws/proj", "other", 5)
    assert outcomes(backend, [a], 1, batch=other) == ["a"]
    backend.learn_batch(other, 9, T0)
    assert outcomes(backend, [a], 1, batch=other) == ["batch_full"]


# --- give_back -----------------------------------------------------------------


def take_credit(
    backend: LimitsBackend, candidates: list[Budget], now: datetime, batch: BatchCap | None = None
) -> Credit:
    outcome, credit = backend.take(candidates, batch, now)
    assert outcome is TAKEN
    assert credit is not None
    return credit


def test_given_back_credit_is_usable_again(backend: LimitsBackend) -> None:
    a = budget("a", minutely=2, hourly=2, daily=2)
    first = take_credit(backend, [a], T0)
    take_credit(backend, [a], T0)
    assert outcomes(backend, [a], 1) == ["strategy_limited"]
    backend.give_back(first)
    assert outcomes(backend, [a], 2) == ["a", "strategy_limited"]


def test_given_back_batch_place_is_usable_again(backend: LimitsBackend) -> None:
    batch = BatchCap("ws/proj", "b1", 1)
    credit = take_credit(backend, [budget("a", minutely=1)], T0, batch)
    assert outcomes(backend, [budget("b")], 1, batch=batch) == ["batch_full"]
    backend.give_back(credit)
    assert outcomes(backend, [budget("a", minutely=1)], 2, batch=batch) == ["a", "batch_full"]


def test_give_back_after_the_window_rolled_leaves_the_new_window_alone(
    backend: LimitsBackend,
) -> None:
    a = budget("a", minutely=5, hourly=5)
    old = take_credit(backend, [a], at(minutes=59, seconds=59))
    assert outcomes(backend, [a], 6, at(hours=1)) == ["a"] * 5 + ["strategy_limited"]
    backend.give_back(old)
    assert outcomes(backend, [a], 1, at(hours=1, seconds=30)) == ["strategy_limited"]


def test_give_back_never_drives_counts_below_zero(backend: LimitsBackend) -> None:
    a = budget("a", minutely=1)
    batch = BatchCap("ws/proj", "b1", 1)
    credit = take_credit(backend, [a], T0, batch)
    for _ in range(3):  # returned more often than taken
        backend.give_back(credit)
    assert outcomes(backend, [a], 2, batch=batch) == ["a", "batch_full"]
    assert outcomes(backend, [a], 1, batch=BatchCap("ws/proj", "b2", 9)) == ["strategy_limited"]


def test_give_back_long_after_the_window_is_a_no_op(backend: LimitsBackend) -> None:
    a = budget("a", minutely=1)
    old = take_credit(backend, [a], T0)
    # a day later (the memory backend has purged the old windows by now)
    assert outcomes(backend, [a], 2, at(days=1)) == ["a", "strategy_limited"]
    backend.give_back(old)
    assert outcomes(backend, [a], 1, at(days=1, seconds=5)) == ["strategy_limited"]


# --- per-source limits --------------------------------------------------------


def test_every_source_has_its_own_per_source_limit(backend: LimitsBackend) -> None:
    a = budget("a", per_source={"hourly": 2})
    assert outcomes(backend, [a], 3, source="cam1") == ["a", "a", "strategy_limited"]
    assert outcomes(backend, [a], 3, source="cam2") == ["a", "a", "strategy_limited"]
    # the next hour, each source starts again
    assert outcomes(backend, [a], 3, at(hours=1), source="cam1") == ["a", "a", "strategy_limited"]


def test_a_busy_source_cannot_spend_another_sources_budget(backend: LimitsBackend) -> None:
    a, b = budget("a", per_source={"minutely": 3}, daily=100), budget("b", minutely=2)
    busy = outcomes(backend, [a, b], 10, source="busy")
    assert busy == ["a"] * 3 + ["b"] * 2 + ["strategy_limited"] * 5
    # the quiet camera still has all of a's per-source budget (b's is shared, and spent)
    quiet = outcomes(backend, [a, b], 4, source="quiet")
    assert quiet == ["a"] * 3 + ["strategy_limited"]


def test_per_source_limits_are_inside_the_strategys_other_limits(backend: LimitsBackend) -> None:
    a = budget("a", per_source={"minutely": 3}, minutely=4)
    assert outcomes(backend, [a], 4, source="cam1") == ["a", "a", "a", "strategy_limited"]
    # cam2 has room of its own, but the strategy holds 3 of its 4 this minute
    assert outcomes(backend, [a], 2, source="cam2") == ["a", "strategy_limited"]


def test_a_take_without_a_source_counts_as_one_source(backend: LimitsBackend) -> None:
    a = budget("a", per_source={"minutely": 1})
    assert outcomes(backend, [a], 2) == ["a", "strategy_limited"]
    assert outcomes(backend, [a], 1, source="cam1") == ["a"]
    assert outcomes(backend, [a], 1, source="") == ["strategy_limited"]  # the same as None


def test_source_names_with_separators_do_not_collide(backend: LimitsBackend) -> None:
    a = budget("a", per_source={"minutely": 1})
    for source in ("a:b", "a%3Ab", "a", "b"):
        assert outcomes(backend, [a], 2, source=source) == ["a", "strategy_limited"], source


def test_per_source_and_strategy_windows_are_counted_together(backend: LimitsBackend) -> None:
    # a hourly limit of 2 per source and a daily one of 3 for all: both counted, apart
    a = budget("a", per_source={"hourly": 2}, daily=3)
    assert outcomes(backend, [a], 3, source="cam1") == ["a", "a", "strategy_limited"]
    assert outcomes(backend, [a], 2, source="cam2") == ["a", "strategy_limited"]
    assert outcomes(backend, [a], 1, at(hours=1), source="cam3") == ["strategy_limited"]


def test_given_back_credit_returns_its_sources_window(backend: LimitsBackend) -> None:
    a = budget("a", per_source={"minutely": 1}, minutely=5)
    first = backend.take([a], None, T0, source="cam1").credit
    assert first is not None and first.source == "cam1"
    assert outcomes(backend, [a], 1, source="cam1") == ["strategy_limited"]
    backend.give_back(first)
    assert outcomes(backend, [a], 2, source="cam1") == ["a", "strategy_limited"]
    # the strategy's window was given back too: 1 of 5 used, so four other sources fit
    paid = [outcomes(backend, [a], 1, source=f"cam{i}")[0] for i in range(2, 7)]
    assert paid == ["a"] * 4 + ["strategy_limited"]


# --- what refused --------------------------------------------------------------


def test_taken_result_names_nothing(backend: LimitsBackend) -> None:
    result = backend.take([budget("a", minutely=1)], BatchCap("p", "x", 2), T0)
    assert isinstance(result, TakeResult)
    assert (result.outcome, result.limited_by) == (TAKEN, None)
    assert result.credit is not None and result.credit.strategy == "a"


def test_refusal_names_the_first_strategys_full_window(backend: LimitsBackend) -> None:
    a = budget("a", minutely=5, hourly=1)
    b = budget("b", daily=1)
    assert outcomes(backend, [a, b], 2) == ["a", "b"]
    result = backend.take([a, b], None, T0)
    assert result.limited_by == "a:hourly"
    assert result == (LIMITED, None)  # unpacks and compares as (outcome, credit)
    # the first matched strategy is named, even when a later one was refused too
    assert backend.take([b, a], None, T0).limited_by == "b:daily"


def test_refusal_names_the_first_full_window_in_configuration_order(
    backend: LimitsBackend,
) -> None:
    a = budget("a", daily=1, minutely=1)
    assert outcomes(backend, [a], 1) == ["a"]
    assert backend.take([a], None, T0).limited_by == "a:daily"


def test_refusal_names_a_per_source_window(backend: LimitsBackend) -> None:
    a = budget("a", per_source={"minutely": 1}, hourly=10)
    assert outcomes(backend, [a], 1, source="cam1") == ["a"]
    result = backend.take([a], None, T0, source="cam1")
    assert (result.outcome, result.limited_by) == (LIMITED, "a:minutely:source")
    # the strategy's own window is named when it is the one that is full
    full = budget("f", per_source={"minutely": 5}, hourly=1)
    assert outcomes(backend, [full], 1, source="cam1") == ["f"]
    assert backend.take([full], None, T0, source="cam2").limited_by == "f:hourly"


def test_refusal_by_the_batch_cap_names_the_batch(backend: LimitsBackend) -> None:
    a = budget("a", minutely=1)
    batch = BatchCap("ws/proj", "b1", 1)
    assert outcomes(backend, [budget("free")], 1, batch=batch) == ["free"]
    result = backend.take([a], batch, T0)
    assert (result.outcome, result.credit, result.limited_by) == (FULL, None, "batch")


def test_take_result_keeps_limited_by_through_pickle_and_copy() -> None:
    import copy
    import pickle

    result = TakeResult(LIMITED, None, "a:hourly:source")
    for again in (pickle.loads(pickle.dumps(result)), copy.copy(result), copy.deepcopy(result)):
        assert isinstance(again, TakeResult)
        assert (again.outcome, again.credit, again.limited_by) == (LIMITED, None, "a:hourly:source")


def test_refusal_without_candidates_names_nothing(backend: LimitsBackend) -> None:
    result = backend.take([], None, T0)
    assert (result.outcome, result.limited_by) == (LIMITED, None)


# --- concurrency ---------------------------------------------------------------


def hammer(
    backend: LimitsBackend, candidates: list[Budget], batch: BatchCap | None
) -> Counter[str]:
    """8 threads x 100 takes at once; how often each strategy paid, and the refusals."""
    counts: Counter[str] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(8)

    def worker() -> None:
        mine = Counter[str]()
        start.wait()
        for _ in range(100):
            outcome, credit = backend.take(candidates, batch, T0)
            mine[credit.strategy if credit else outcome.value] += 1
        with lock:
            counts.update(mine)

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        threads = [threading.Thread(target=worker) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        sys.setswitchinterval(old)
    return counts


def test_threads_never_over_count(backend: LimitsBackend) -> None:
    a, b = budget("a", minutely=50, daily=1000), budget("b", minutely=30)
    counts = hammer(backend, [a, b], None)
    assert counts == Counter({"a": 50, "b": 30, "strategy_limited": 720})


def test_threads_never_overfill_a_batch(backend: LimitsBackend) -> None:
    a, b = budget("a", minutely=50), budget("b", hourly=30)
    counts = hammer(backend, [a, b], BatchCap("ws/proj", "b1", 60))
    assert counts == Counter({"a": 50, "b": 10, "batch_full": 740})


def _process_worker(
    url: str, candidates: list[Budget], source: str, barrier: Any, results: Any
) -> None:
    """One OS process: 200 takes for ``source`` against the shared backend, then report
    how often each strategy paid (``"<source>/<strategy>"``) and the refusals."""
    limits = from_url(url)
    batch = BatchCap("ws/proj", "al_2026_11_28", None)
    counts: Counter[str] = Counter()
    barrier.wait()
    for _ in range(200):
        outcome, credit = limits.take(candidates, batch, T0, source=source)
        counts[f"{source}/{credit.strategy}" if credit else outcome.value] += 1
    limits.close()
    results.put(dict(counts))


def in_processes(url: str, candidates: list[Budget], sources: list[str]) -> Counter[str]:
    """One spawned OS process per entry of ``sources``, all taking at once; their counts."""
    return spawned(_process_worker, [(url, candidates, source) for source in sources])


@pytest.fixture(params=["local", pytest.param("redis", marks=pytest.mark.redis)])
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of each backend that is shared between processes (a fresh one)."""
    if request.param == "local":
        return f"local://{tmp_path / 'limits.db'}"
    url: str = request.getfixturevalue("redis_url")
    return url


def test_limit_is_exact_across_processes(shared_url: str) -> None:
    candidates = [budget("a", minutely=50, hourly=500), budget("b", hourly=30)]
    total = in_processes(shared_url, candidates, ["http"] * 4)
    assert total == Counter({"http/a": 50, "http/b": 30, "strategy_limited": 720})
    start = int(T0.timestamp())  # T0 starts a minute, an hour and a day
    assert stored_count(shared_url, f"winnow:limit:ws/proj:a:minutely:{start}") == 50
    assert stored_count(shared_url, f"winnow:limit:ws/proj:b:hourly:{start}") == 30
    assert stored_count(shared_url, "winnow:batch:ws/proj:al_2026_11_28") == 80


def test_per_source_limits_are_exact_across_processes(shared_url: str) -> None:
    # two processes per source; the per-source minutely 25 and the strategy's 45 both bind
    a = budget("a", per_source={"minutely": 25}, minutely=45)
    b = budget("b", hourly=30)
    total = in_processes(shared_url, [a, b], ["cam:0", "cam:1", "cam:0", "cam:1"])
    paid_a = {source: total[f"{source}/a"] for source in ("cam:0", "cam:1")}
    assert sum(paid_a.values()) == 45
    assert all(20 <= paid <= 25 for paid in paid_a.values()), paid_a
    assert total["cam:0/b"] + total["cam:1/b"] == 30
    assert total["strategy_limited"] == 800 - 75
    start = int(T0.timestamp())
    key = f"winnow:limit:ws/proj:a:minutely:{start}"
    assert stored_count(shared_url, key) == 45
    for source, paid in paid_a.items():
        assert stored_count(shared_url, f"{key}:{source.replace(':', '%3A')}") == paid


def test_a_busy_source_cannot_spend_another_sources_budget_across_processes(
    shared_url: str,
) -> None:
    a = budget("a", per_source={"hourly": 10}, daily=1000)
    total = in_processes(shared_url, [a], ["busy", "busy", "busy", "quiet"])
    assert total == Counter({"busy/a": 10, "quiet/a": 10, "strategy_limited": 780})


# --- Redis specifics -----------------------------------------------------------


@pytest.mark.redis
def test_redis_keys_expire_after_their_window(redis_url: str) -> None:
    import redis

    limits = RedisLimits(redis_url)
    client = redis.Redis.from_url(redis_url)
    try:
        take_credit(
            limits,
            [budget("a", minutely=1, hourly=1, daily=1)],
            at(seconds=1),
            BatchCap("ws/proj", "b1", 5),
        )
        start = int(T0.timestamp())
        for window, length in (("minutely", 60), ("hourly", 3600), ("daily", 86400)):
            ttl = client.ttl(f"winnow:limit:ws/proj:a:{window}:{start - start % length}")
            assert length < ttl <= length + 60
        assert client.ttl("winnow:batch:ws/proj:b1") > 30 * 86400
    finally:
        client.close()
        limits.close()


@pytest.mark.redis
def test_redis_take_is_one_round_trip_with_per_source_limits(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    limits = RedisLimits(redis_url)
    a = budget("a", per_source={"minutely": 1, "hourly": 5}, daily=9)
    b = budget("b", per_source={"hourly": 1}, minutely=3)
    batch = BatchCap("ws/proj", "b1", 10)
    assert outcomes(limits, [a, b], 1, source="cam1") == ["a"]  # the script is loaded now
    sent: list[object] = []
    client: Any = limits._client
    execute = client.execute_command

    def counting(*args: Any, **options: Any) -> Any:
        sent.append(args[0])
        return execute(*args, **options)

    monkeypatch.setattr(client, "execute_command", counting)
    assert outcomes(limits, [a, b], 3, batch=batch, source="cam1") == [
        "b",
        "strategy_limited",
        "strategy_limited",
    ]
    assert sent == ["EVALSHA"] * 3
    limits.close()


@pytest.mark.redis
def test_redis_take_survives_a_script_flush(redis_url: str) -> None:
    import redis

    limits = RedisLimits(redis_url)
    a = budget("a", minutely=2)
    try:
        assert outcomes(limits, [a], 1) == ["a"]
        client = redis.Redis.from_url(redis_url)
        client.script_flush()
        client.close()
        assert outcomes(limits, [a], 2) == ["a", "strategy_limited"]
    finally:
        limits.close()


def test_unreachable_redis_raises_service_unavailable() -> None:
    limits = RedisLimits("redis://127.0.0.1:1/0", socket_timeout=0.5)
    with pytest.raises(ServiceUnavailableError, match="limits backend unavailable"):
        limits.take([budget("a", minutely=1)], None, T0)
    credit = Credit("a", budget("a", minutely=1), None, T0)
    with pytest.raises(ServiceUnavailableError):
        limits.give_back(credit)
    limits.close()


# --- local specifics -----------------------------------------------------------


def test_local_counts_survive_a_restart(tmp_path: Path) -> None:
    a = budget("a", per_source={"hourly": 2}, daily=3)
    first = LocalLimits(tmp_path / "limits.db")
    assert outcomes(first, [a], 1, source="cam1") == ["a"]
    first.learn_batch(BatchCap("p", "x", 5), 4, T0)
    first.close()
    second = LocalLimits(tmp_path / "limits.db")
    assert outcomes(second, [a], 2, source="cam1") == ["a", "strategy_limited"]
    assert outcomes(second, [a], 2, batch=BatchCap("p", "x", 5)) == ["a", "batch_full"]
    second.close()


def test_local_instances_on_one_file_share_counts(tmp_path: Path) -> None:
    one, two = LocalLimits(tmp_path / "l.db"), LocalLimits(tmp_path / "l.db")
    a = budget("a", minutely=3)
    assert outcomes(one, [a], 2) == ["a", "a"]
    assert outcomes(two, [a], 2) == ["a", "strategy_limited"]
    one.close()
    two.close()


def test_local_expired_counters_read_as_absent_and_are_purged(tmp_path: Path) -> None:
    limits = LocalLimits(tmp_path / "limits.db")
    batch = BatchCap("p", "x", 1)
    assert outcomes(limits, [budget("a", minutely=1)], 1, batch=batch) == ["a"]
    # a batch count untouched for 400 days expires, as its Redis key does
    later = at(days=401)
    assert outcomes(limits, [budget("a", minutely=1)], 2, later, batch) == ["a", "batch_full"]
    with sqlite3.connect(tmp_path / "limits.db") as db:
        keys = [row[0] for row in db.execute("SELECT key FROM counters ORDER BY key")]
    start = int(later.timestamp()) - int(later.timestamp()) % 60
    assert keys == ["winnow:batch:p:x", f"winnow:limit:ws/proj:a:minutely:{start}"]
    limits.close()


def _forked_take(limits: LocalLimits, a: Budget) -> int:
    """In a forked child: take with the instance inherited from the parent."""
    outcome, _ = limits.take([a], None, T0)
    return 0 if outcome is TAKEN else 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_local_works_in_a_forked_child(tmp_path: Path) -> None:
    limits = LocalLimits(tmp_path / "limits.db")
    a = budget("a", minutely=2)
    assert outcomes(limits, [a], 1) == ["a"]
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 2
        try:
            code = _forked_take(limits, a)
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    # the parent's connection still works, and sees the child's take
    assert outcomes(limits, [a], 1) == ["strategy_limited"]
    limits.close()


def _die_inside_a_take(path: str, inside: Any) -> None:
    """A spawned process: half a take (lock held, a counter incremented, no commit), then hang."""
    limits = LocalLimits(path)
    with limits._transaction() as db:
        db.execute(
            "INSERT INTO counters (key, count, expires) VALUES (?, 1, ?)"
            " ON CONFLICT (key) DO UPDATE SET count = count + 1",
            (f"winnow:limit:ws/proj:a:minutely:{int(T0.timestamp())}", 2**40),
        )
        inside.set()
        threading.Event().wait(120)  # killed here


def test_local_process_killed_inside_a_take_changes_nothing_and_blocks_no_one(
    tmp_path: Path,
) -> None:
    path = tmp_path / "limits.db"
    a = budget("a", minutely=2)
    limits = LocalLimits(path)
    assert outcomes(limits, [a], 1) == ["a"]
    ctx = multiprocessing.get_context("spawn")
    inside = ctx.Event()
    process = ctx.Process(target=_die_inside_a_take, args=(str(path), inside))
    process.start()
    try:
        assert inside.wait(60)
        process.kill()  # SIGKILL while it holds the flock and an open write transaction
        process.join(10)
        assert process.exitcode == -9
        # its increment was never committed, and its locks died with it
        assert outcomes(limits, [a], 2) == ["a", "strategy_limited"]
    finally:
        if process.is_alive():
            process.kill()
        limits.close()


def test_local_unusable_file_raises_service_unavailable(tmp_path: Path) -> None:
    limits = LocalLimits(tmp_path / "limits.db")
    limits.close()
    (tmp_path / "limits.db").unlink()
    (tmp_path / "limits.db").mkdir()  # the file became a folder
    with pytest.raises(ServiceUnavailableError, match="limits backend unavailable"):
        limits.take([budget("a", minutely=1)], None, T0)


# --- from_url ------------------------------------------------------------------


def test_from_url_memory() -> None:
    assert isinstance(from_url("memory://"), MemoryLimits)


@pytest.mark.parametrize(
    "url", ["redis://127.0.0.1:6379/0", "rediss://cache.example:6380/1", "unix:///tmp/r.sock"]
)
def test_from_url_redis_schemes(url: str) -> None:
    limits = from_url(url)  # no connection is made until the first take
    assert isinstance(limits, RedisLimits)
    limits.close()


@pytest.mark.parametrize("url", ["http://localhost", "memcached://x", "", "redis-ish"])
def test_from_url_rejects_other_schemes(url: str) -> None:
    with pytest.raises(
        ConfigurationError, match=r"memory://, local://, redis://, rediss:// or unix://"
    ):
        from_url(url)


def test_from_url_local_with_a_path(tmp_path: Path) -> None:
    limits = from_url(f"local://{tmp_path}/sub/dir/counts.db")
    assert isinstance(limits, LocalLimits)
    assert limits.path == tmp_path / "sub" / "dir" / "counts.db"
    assert limits.path.is_file()  # created (with its folders) at once
    limits.close()


def test_from_url_local_without_a_path_is_in_the_data_dir(tmp_path: Path) -> None:
    for url in ("local://", "local:///"):
        limits = from_url(url, tmp_path)
        assert isinstance(limits, LocalLimits)
        assert limits.path == tmp_path / "limits.db"
        limits.close()
    folder = from_url(f"local://{tmp_path}/folder/")
    assert isinstance(folder, LocalLimits)
    assert folder.path == tmp_path / "folder" / "limits.db"
    folder.close()


def test_start_up_puts_local_limits_in_the_data_dir(tmp_path: Path) -> None:
    from winnow.app import preflight
    from winnow.settings import Settings

    preflight(Settings(data_dir=tmp_path / "data", limits_url="local://"))
    assert (tmp_path / "data" / "limits.db").is_file()
    with pytest.raises(ConfigurationError, match="local:// takes an absolute path"):
        preflight(Settings(data_dir=tmp_path / "data", limits_url="local://relative/x.db"))


def test_from_url_local_without_a_path_or_a_data_dir_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="names no file"):
        from_url("local://")


def test_from_url_local_with_a_host_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"no host \(local:///var/limits.db"):
        from_url("local://var/limits.db")


def test_from_url_local_that_cannot_be_created_names_the_file(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigurationError, match="cannot open the local limits file"):
        from_url(f"local://{blocker}/limits.db")


@pytest.mark.parametrize("url", ["redis://127.0.0.1:notaport/0", "redis://[::1"])
def test_from_url_rejects_a_malformed_redis_url(url: str) -> None:
    # "[::1" once escaped urlsplit as a bare ValueError: a startup traceback naming no setting
    with pytest.raises(ConfigurationError, match="invalid limits URL"):
        from_url(url)
