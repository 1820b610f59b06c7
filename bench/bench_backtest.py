"""Backtest speed: 1,000,000 logged predictions replayed through a configuration. Prints JSON.

The records (``tests.factories.make_records``: a day of detections and
classifications from three cameras, about 4 boxes each) are made once; each
run then replays them through the configuration from scratch (records sorted
and flattened, strategies matched, draws, the limits walk, the actual figures)
in this process. Four configurations: ``reference`` (the four reference
strategy types, limits on each, a batch cap), ``conditions`` (object conditions:
small low-confidence people in the lower half, column-wise), ``uncertainty`` (mean
entropy over a threshold, column-wise) and ``random_unlimited`` (one
random strategy at 30 % without limits: the walk visits 300,000 records).
Reports the min / median / max wall seconds of ``--runs`` runs (goal: under 3 s)
and the median CPU seconds of this process (less sensitive to a loaded machine).
Optionally ``--parquet``: the same through a Parquet file and the log's reader
(read included).

    PYTHONPATH=src:. .venv/bin/python bench/bench_backtest.py [--records 1000000] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.factories import make_records

from winnow.activelearning.config import validate_config
from winnow.backtest.engine import backtest

START = datetime(2026, 12, 1, tzinfo=UTC)
BATCHING = {"batches_name_prefix": "b", "recreation_interval": "daily", "max_batch_images": 5000}
CONFIGS: dict[str, dict[str, Any]] = {
    "reference": {
        "enabled": True,
        "persist_predictions": True,
        "batching_strategy": BATCHING,
        "sampling_strategies": [
            {
                "name": "rand",
                "type": "random",
                "traffic_percentage": 0.1,
                "limits": [{"type": "hourly", "value": 50}],
            },
            {
                "name": "close",
                "type": "close_to_threshold",
                "threshold": 0.5,
                "epsilon": 0.05,
                "probability": 1.0,
                "limits": [{"type": "minutely", "value": 3}],
            },
            {
                "name": "cars",
                "type": "classes_based",
                "selected_class_names": ["car"],
                "probability": 1.0,
            },
            {
                "name": "crowded",
                "type": "detections_number_based",
                "more_than": 8,
                "probability": 1.0,
                "limits": [{"type": "daily", "value": 1000}],
            },
        ],
    },
    "conditions": {
        "enabled": True,
        "persist_predictions": True,
        "batching_strategy": BATCHING,
        "sampling_strategies": [
            {
                "name": "small-unsure-people-below",
                "type": "close_to_threshold",
                "threshold": 0.5,
                "epsilon": 0.2,
                "probability": 1.0,
                "conditions": [
                    {
                        "classes": ["person"],
                        "confidence": [0.0, 0.6],
                        "width": [0, 32],
                        "region": [[0, 0.5], [1, 0.5], [1, 1], [0, 1]],
                    }
                ],
                "limits": [{"type": "hourly", "value": 100}],
            }
        ],
    },
    "uncertainty": {
        "enabled": True,
        "persist_predictions": True,
        "batching_strategy": BATCHING,
        "sampling_strategies": [
            {
                "name": "unsure",
                "type": "uncertainty",
                "measure": "entropy",
                "aggregate": "mean",
                "threshold": 0.6,
                "limits": [{"type": "hourly", "value": 100}],
            }
        ],
    },
    "random_unlimited": {
        "enabled": True,
        "persist_predictions": True,
        "batching_strategy": {"batches_name_prefix": "b", "recreation_interval": "daily"},
        "sampling_strategies": [{"name": "r", "type": "random", "traffic_percentage": 0.3}],
    },
}


def timed(run: Any, runs: int) -> dict[str, Any]:
    seconds, cpu = [], []
    result: Any = None
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        result = run()
        seconds.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return {
        "min_s": round(min(seconds), 3),
        "median_s": round(statistics.median(seconds), 3),
        "max_s": round(max(seconds), 3),
        "runs": [round(s, 3) for s in seconds],
        "cpu_median_s": round(statistics.median(cpu), 3),
        "collected": result["collected"],
        "predictions": result["predictions"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--parquet", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    table = make_records(
        args.records, start=START, tasks=("object-detection", "object-detection", "classification")
    )
    report: dict[str, Any] = {
        "records": table.num_rows,
        "objects": int(sum(len(c.values) for c in table.column("objects").chunks)),
        "arrow_bytes": table.nbytes,
        "make_records_s": round(time.perf_counter() - started, 2),
        "goal_s": 3.0,
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    since, until = START, START + timedelta(days=1)
    for name, raw in CONFIGS.items():
        config = validate_config(raw)
        report[name] = timed(
            lambda c=config: backtest(table, c, since=since, until=until), args.runs
        )
    if args.parquet:
        import pyarrow.parquet as pq

        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "segment.parquet"
            pq.write_table(table, path)
            report["parquet_bytes"] = path.stat().st_size
            config = validate_config(CONFIGS["reference"])
            report["reference_with_parquet_read"] = timed(
                lambda: backtest(pq.read_table(path), config, since=since, until=until), args.runs
            )
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
