"""Credit take cost: memory and Redis backends. Prints JSON.

Each strategy has 3 windows (minutely, hourly, daily) and there are 2
candidates. ``first_pays``: candidate 1 has room; ``second_pays``: candidate 1
is full, so every window of it is checked before candidate 2 pays. Also
takes/s with 4 OS processes sharing one Redis.

    .venv/bin/python bench/bench_limits.py [--redis-url redis://127.0.0.1:6379/14]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from datetime import UTC, datetime
from typing import Any

from winnow.activelearning.limits import BatchCap, Budget, LimitsBackend, MemoryLimits, Window
from winnow.activelearning.limits.redis import RedisLimits
from winnow.errors import ServiceUnavailableError

BIG = 10**12
PREFIX = "winnow-bench"


def candidates(first_full: bool) -> list[Budget]:
    """Two candidates with 3 windows each; the first one exhausted when ``first_full``."""
    first = 1 if first_full else BIG
    return [
        Budget(
            "ws/proj",
            "first",
            ((Window.MINUTELY, first), (Window.HOURLY, BIG), (Window.DAILY, BIG)),
        ),
        Budget(
            "ws/proj", "second", ((Window.MINUTELY, BIG), (Window.HOURLY, BIG), (Window.DAILY, BIG))
        ),
    ]


def per_take_us(backend: LimitsBackend, first_full: bool, n: int, clock: bool = False) -> float:
    """Best of 3 runs of n takes, microseconds per take.

    ``clock``: build ``now = datetime.now(UTC)`` for every take (as a caller
    does); otherwise one ``now`` is reused and only ``take`` is timed.
    """
    cands = candidates(first_full)
    batch = BatchCap("ws/proj", "bench_batch", BIG)
    fixed = datetime.now(UTC)
    backend.take(cands, batch, fixed)  # warm up; fills "first" when its limit is 1
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        if clock:
            for _ in range(n):
                backend.take(cands, batch, datetime.now(UTC))
        else:
            for _ in range(n):
                backend.take(cands, batch, fixed)
        best = min(best, (time.perf_counter() - start) / n)
    return round(best * 1e6, 2)


def _process(url: str, n: int, barrier: Any, results: Any) -> None:
    limits = RedisLimits(url, prefix=PREFIX)
    cands = candidates(False)
    batch = BatchCap("ws/proj", "bench_batch", BIG)
    limits.take(cands, batch, datetime.now(UTC))
    barrier.wait()
    start = time.perf_counter()
    for _ in range(n):
        limits.take(cands, batch, datetime.now(UTC))
    results.put((start, time.perf_counter()))
    limits.close()


def processes_rate(url: str, processes: int, n: int) -> float:
    """Takes per second of ``processes`` OS processes hammering one Redis."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(processes)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_process, args=(url, n, barrier, results)) for _ in range(processes)
    ]
    for proc in procs:
        proc.start()
    spans = [results.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
    wall: float = max(end for _, end in spans) - min(start for start, _ in spans)
    return round(processes * n / wall)


def cleanup(url: str) -> None:
    """Delete the bench's keys (never flushes the database)."""
    import redis

    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(f"{PREFIX}:*"))
    if keys:
        client.delete(*keys)
    client.close()


def main() -> None:
    """Run the benchmark and print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--memory-takes", type=int, default=100_000)
    parser.add_argument("--redis-takes", type=int, default=3_000)
    args = parser.parse_args()

    report: dict[str, Any] = {
        "setup": (
            "2 candidates x 3 windows (minutely, hourly, daily), batch cap on, best of 3, "
            "one now reused unless _with_clock"
        ),
        "memory_us_per_take_first_pays": per_take_us(MemoryLimits(), False, args.memory_takes),
        "memory_us_per_take_second_pays": per_take_us(MemoryLimits(), True, args.memory_takes),
        "memory_us_per_take_first_pays_with_clock": per_take_us(
            MemoryLimits(), False, args.memory_takes, clock=True
        ),
    }
    try:
        redis_limits = RedisLimits(args.redis_url, prefix=PREFIX)
        report["redis_us_per_take_first_pays"] = per_take_us(redis_limits, False, args.redis_takes)
        cleanup(args.redis_url)
        report["redis_us_per_take_second_pays"] = per_take_us(redis_limits, True, args.redis_takes)
        redis_limits.close()
        cleanup(args.redis_url)
        report["redis_4_processes_takes_per_s"] = processes_rate(
            args.redis_url, 4, args.redis_takes
        )
        cleanup(args.redis_url)
    except ServiceUnavailableError as exc:
        report["redis"] = f"skipped: {exc}"
    report["cpus"] = multiprocessing.cpu_count()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
