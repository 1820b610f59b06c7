"""Credit take cost: memory, local (SQLite, one host) and Redis backends. Prints JSON.

Each strategy has 3 windows (minutely, hourly, daily) and there are 2
candidates. ``first_pays``: candidate 1 has room; ``second_pays``: candidate 1
is full, so every window of it is checked before candidate 2 pays.
``per_source``: each candidate also has a per-source minutely and hourly
limit (5 windows per candidate), the take naming one of 8 sources in turn.
Also takes/s with 4 OS processes sharing one local file and one Redis.

Every figure is the median of ``--runs`` runs, with its spread
(``min``/``max``) beside it; ratios are taken between medians of this one run.

    .venv/bin/python bench/bench_limits.py [--redis-url redis://127.0.0.1:6379/14]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from winnow.activelearning.limits import BatchCap, Budget, LimitsBackend, MemoryLimits, Window
from winnow.activelearning.limits.local import LocalLimits
from winnow.activelearning.limits.redis import RedisLimits
from winnow.errors import ServiceUnavailableError

BIG = 10**12
PREFIX = "winnow-bench"
SOURCES = tuple(f"cam:{i}" for i in range(8))


def candidates(first_full: bool, per_source: bool = False) -> list[Budget]:
    """Two candidates with 3 windows each (+2 per-source ones); the first exhausted when
    ``first_full``."""
    first = 1 if first_full else BIG
    own = ((Window.HOURLY, BIG), (Window.DAILY, BIG))
    per = ((Window.MINUTELY, BIG), (Window.HOURLY, BIG)) if per_source else ()
    return [
        Budget("ws/proj", "first", ((Window.MINUTELY, first), *own), per),
        Budget("ws/proj", "second", ((Window.MINUTELY, BIG), *own), per),
    ]


def spread(values: list[float], digits: int = 2) -> dict[str, float]:
    """Median and range of repeated runs."""
    return {
        "median": round(statistics.median(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
    }


def per_take_us(
    backend: LimitsBackend,
    first_full: bool,
    n: int,
    runs: int,
    *,
    per_source: bool = False,
    clock: bool = False,
) -> dict[str, float]:
    """``runs`` runs of n takes, microseconds per take.

    ``clock``: build ``now = datetime.now(UTC)`` for every take (as a caller
    does); otherwise one ``now`` is reused and only ``take`` is timed.
    """
    cands = candidates(first_full, per_source)
    batch = BatchCap("ws/proj", "bench_batch", BIG)
    fixed = datetime.now(UTC)
    backend.take(cands, batch, fixed, SOURCES[0])  # warm up; fills "first" when its limit is 1
    sources = [SOURCES[i % len(SOURCES)] for i in range(n)] if per_source else [None] * n
    take: Callable[..., Any] = backend.take
    results: list[float] = []
    for _ in range(runs):
        start = time.perf_counter()
        if clock:
            for source in sources:
                take(cands, batch, datetime.now(UTC), source)
        else:
            for source in sources:
                take(cands, batch, fixed, source)
        results.append((time.perf_counter() - start) / n * 1e6)
    return spread(results)


def _process(url: str, n: int, barrier: Any, results: Any) -> None:
    limits: LimitsBackend
    if url.startswith("local://"):
        limits = LocalLimits(url.removeprefix("local://"))
    else:
        limits = RedisLimits(url, prefix=PREFIX)
    cands = candidates(False, per_source=True)
    batch = BatchCap("ws/proj", "bench_batch", BIG)
    limits.take(cands, batch, datetime.now(UTC), SOURCES[0])
    barrier.wait()
    start = time.perf_counter()
    for i in range(n):
        limits.take(cands, batch, datetime.now(UTC), SOURCES[i % len(SOURCES)])
    results.put((start, time.perf_counter()))
    limits.close()


def processes_rate(url: str, processes: int, n: int) -> float:
    """Takes per second of ``processes`` OS processes hammering one backend (per-source on)."""
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
    return processes * n / wall


def cleanup(url: str) -> None:
    """Delete the bench's keys (never flushes the database)."""
    import redis

    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(f"{PREFIX}:*"))
    if keys:
        client.delete(*keys)
    client.close()


def ratio(report: dict[str, Any], over: str, under: str) -> float:
    """``report[over]`` median / ``report[under]`` median."""
    value: float = report[over]["median"] / report[under]["median"]
    return round(value, 2)


def measure_backend(
    name: str, make: Callable[[], LimitsBackend], n: int, runs: int, report: dict[str, Any]
) -> None:
    """The four single-thread figures of one backend, each on a fresh backend."""
    cases: list[tuple[str, bool, bool, bool]] = [
        ("first_pays", False, False, False),
        ("second_pays", True, False, False),
        ("first_pays_per_source", False, True, False),
        ("first_pays_with_clock", False, False, True),
    ]
    for case, first_full, per_source, clock in cases:
        backend = make()
        report[f"{name}_us_per_take_{case}"] = per_take_us(
            backend, first_full, n, runs, per_source=per_source, clock=clock
        )
        backend.close()


def main() -> None:
    """Run the benchmark and print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--memory-takes", type=int, default=30_000)
    parser.add_argument("--local-takes", type=int, default=2_000)
    parser.add_argument("--redis-takes", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--process-runs", type=int, default=3)
    parser.add_argument("--process-takes", type=int, default=1_000, help="per process")
    args = parser.parse_args()

    report: dict[str, Any] = {
        "setup": (
            "2 candidates x 3 windows (minutely, hourly, daily), batch cap on; per_source: "
            "+2 per-source windows each, 8 sources in turn; one now reused unless _with_clock; "
            f"median/min/max of {args.runs} runs (processes: {args.process_runs} runs)"
        ),
        "cpus": multiprocessing.cpu_count(),
    }
    measure_backend("memory", MemoryLimits, args.memory_takes, args.runs, report)
    with tempfile.TemporaryDirectory(prefix="bench-limits-") as folder:
        files = iter(range(1000))
        measure_backend(
            "local",
            lambda: LocalLimits(Path(folder) / f"limits-{next(files)}.db"),
            args.local_takes,
            args.runs,
            report,
        )
        rates = [
            processes_rate(f"local://{folder}/shared-{i}.db", 4, args.process_takes)
            for i in range(args.process_runs)
        ]
        report["local_4_processes_takes_per_s_per_source"] = spread(rates, 0)
    try:
        redis_limits = RedisLimits(args.redis_url, prefix=PREFIX)
        redis_limits.take([], None, datetime.now(UTC))  # raises when Redis is not there
        redis_limits.close()

        def fresh_redis() -> LimitsBackend:
            cleanup(args.redis_url)
            return RedisLimits(args.redis_url, prefix=PREFIX)

        measure_backend("redis", fresh_redis, args.redis_takes, args.runs, report)
        rates = []
        for _ in range(args.process_runs):
            cleanup(args.redis_url)
            rates.append(processes_rate(args.redis_url, 4, args.process_takes))
        cleanup(args.redis_url)
        report["redis_4_processes_takes_per_s_per_source"] = spread(rates, 0)
    except ServiceUnavailableError as exc:
        report["redis"] = f"skipped: {exc}"

    ratios: dict[str, float] = {}
    for name in ("memory", "local", "redis"):
        if f"{name}_us_per_take_first_pays" in report:
            ratios[f"{name}_per_source_over_plain"] = ratio(
                report,
                f"{name}_us_per_take_first_pays_per_source",
                f"{name}_us_per_take_first_pays",
            )
            ratios[f"{name}_second_over_first_pays"] = ratio(
                report, f"{name}_us_per_take_second_pays", f"{name}_us_per_take_first_pays"
            )
    ratios["local_over_memory"] = ratio(
        report, "local_us_per_take_first_pays", "memory_us_per_take_first_pays"
    )
    if "redis_us_per_take_first_pays" in report:
        ratios["redis_over_local"] = ratio(
            report, "redis_us_per_take_first_pays", "local_us_per_take_first_pays"
        )
        ratios["local_over_redis_4_processes_takes_per_s"] = ratio(
            report,
            "local_4_processes_takes_per_s_per_source",
            "redis_4_processes_takes_per_s_per_source",
        )
    report["ratios_of_medians"] = ratios
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
