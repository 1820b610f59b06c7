"""Helpers of the limits tests: budgets, the start time, counters as stored, spawned takers."""

from __future__ import annotations

import multiprocessing
import sqlite3
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from winnow.activelearning.limits.base import Budget, Window

T0 = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
"""A start of a minute, an hour and a day (UTC)."""


def budget(
    strategy: str, scope: str = "ws/proj", per_source: dict[str, int] | None = None, **limits: int
) -> Budget:
    """A budget from keyword limits: ``budget("a", minutely=2, daily=9)``; ``per_source``
    names the per-source ones: ``budget("a", per_source={"hourly": 3}, daily=9)``."""
    return Budget(
        scope=scope,
        strategy=strategy,
        limits=tuple((Window(name), value) for name, value in limits.items()),
        source_limits=tuple((Window(name), value) for name, value in (per_source or {}).items()),
    )


def spawned(target: Any, argsets: list[tuple[Any, ...]]) -> Counter[str]:
    """One spawned OS process per ``argsets`` entry, ``target(*args, barrier, results)``,
    started together at a barrier; the sum of the counts each puts on ``results``."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(len(argsets))
    results = ctx.Queue()
    processes = [ctx.Process(target=target, args=(*args, barrier, results)) for args in argsets]
    for process in processes:
        process.start()
    try:
        total: Counter[str] = Counter()
        for _ in processes:
            total.update(results.get(timeout=120))
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
    assert all(process.exitcode == 0 for process in processes)
    return total


def stored_count(url: str, key: str) -> int | None:
    """A counter as the backend stored it (Redis key or local row), None when absent."""
    if url.startswith("local://"):
        with sqlite3.connect(url.removeprefix("local://")) as db:
            row = db.execute("SELECT count FROM counters WHERE key = ?", (key,)).fetchone()
        return None if row is None else int(row[0])
    import redis

    client = redis.Redis.from_url(url)
    try:
        value = client.get(key)
    finally:
        client.close()
    return None if value is None else int(value)
