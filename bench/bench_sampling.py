"""Time of the sampling decision: ``sample()`` with four strategies.

Three configurations: ``reference`` (one strategy of each reference type),
``selection`` (the four with object conditions, one of them an uncertainty
strategy with ``top_fraction``, so its rolling window is updated on every
call) and ``uncertainty`` (four uncertainty strategies, one per measure).
Prints JSON: per configuration and prediction (100 detections, goal under
50 us a decision; a single-label classification), the mean, median, p10 and
p90 and standard deviation over batches of 100 calls, and the median of each
of ``repeats`` repeated runs (the spread between runs).
Run: ``.venv/bin/python bench/bench_sampling.py [iterations] [repeats]``.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import time
from typing import Any

from winnow.activelearning.config import ActiveLearningConfig, validate_config
from winnow.activelearning.samplers import sample
from winnow.activelearning.score_windows import ScoreWindows
from winnow.predictions import (
    ClassificationPrediction,
    ClassScore,
    Detection,
    DetectionPrediction,
    ImageSize,
    Prediction,
    TaskType,
)

CLASSES = ["car", "truck", "bus", "person", "bike"]


def _config(strategies: list[dict[str, Any]]) -> ActiveLearningConfig:
    return validate_config(
        {
            "enabled": True,
            "persist_predictions": True,
            "batching_strategy": {"batches_name_prefix": "bench", "recreation_interval": "daily"},
            "sampling_strategies": strategies,
        }
    )


LOWER_HALF = [[0, 0.5], [1, 0.5], [1, 1], [0, 1]]


def make_selection_config() -> ActiveLearningConfig:
    """The four strategy kinds with object conditions; one uncertainty with top_fraction."""
    return _config(
        [
            {
                "name": "near",
                "type": "close_to_threshold",
                "threshold": 0.5,
                "epsilon": 0.05,
                "probability": 0.5,
                "minimum_objects_close_to_threshold": 200,
                "conditions": [{"classes": ["car", "truck"], "area": [0.0005, 0.5]}],
            },
            {
                "name": "crowd, lower half",
                "type": "detections_number_based",
                "probability": 0.5,
                "more_than": 10,
                "conditions": [{"classes": ["person"], "width": [None, 64], "region": LOWER_HALF}],
            },
            {
                "name": "unsure cars",
                "type": "uncertainty",
                "measure": "entropy",
                "top_fraction": 0.05,
                "conditions": [{"classes": ["car"], "confidence": [0.2, None]}],
            },
            {
                "name": "small unsure people, lower half",
                "type": "random",
                "traffic_percentage": 0.2,
                "conditions": [
                    {
                        "classes": ["person"],
                        "width": [None, 32],
                        "height": [None, 32],
                        "confidence": [None, 0.6],
                        "region": LOWER_HALF,
                    }
                ],
            },
        ]
    )


def make_uncertainty_config() -> ActiveLearningConfig:
    """One uncertainty strategy per measure, without conditions, two of them top_fraction."""
    return _config(
        [
            {"name": "lc", "type": "uncertainty", "measure": "least_confidence", "threshold": 0.9},
            {"name": "m", "type": "uncertainty", "measure": "margin", "top_fraction": 0.1},
            {
                "name": "e",
                "type": "uncertainty",
                "measure": "entropy",
                "aggregate": "sum",
                "threshold": 5,
            },
            {
                "name": "moc",
                "type": "uncertainty",
                "measure": "mean_object_confidence",
                "top_fraction": 0.02,
            },
        ]
    )


def make_config() -> ActiveLearningConfig:
    """Four strategies, one per type, in the order a user would likely write them."""
    return _config(
        [
            {
                "name": "near",
                "type": "close_to_threshold",
                "threshold": 0.5,
                "epsilon": 0.05,
                "probability": 0.5,
                "selected_class_names": ["car", "truck"],
                "minimum_objects_close_to_threshold": 200,
            },
            {
                "name": "crowd",
                "type": "detections_number_based",
                "probability": 0.5,
                "more_than": 10,
                "selected_class_names": ["person"],
            },
            {
                "name": "cats",
                "type": "classes_based",
                "selected_class_names": ["car"],
                "probability": 0.5,
            },
            {"name": "rand", "type": "random", "traffic_percentage": 0.01},
        ]
    )


def detections(n: int, rng: random.Random) -> Prediction:
    """A detection prediction with ``n`` boxes of random classes, sizes and confidences."""
    return DetectionPrediction(
        task_type=TaskType.OBJECT_DETECTION,
        image=ImageSize(1920, 1080),
        detections=[
            Detection(
                x=rng.uniform(0, 1920),
                y=rng.uniform(0, 1080),
                width=rng.uniform(8, 120),
                height=rng.uniform(8, 120),
                confidence=rng.random(),
                class_name=rng.choice(CLASSES),
                class_id=i,
            )
            for i in range(n)
        ],
    )


def classification(rng: random.Random) -> Prediction:
    """A single-label classification over five classes."""
    scores = sorted(
        (ClassScore(name, i, rng.random()) for i, name in enumerate(CLASSES)),
        key=lambda s: s.confidence,
        reverse=True,
    )
    return ClassificationPrediction(
        image=ImageSize(224, 224), classes=scores, predicted_classes=[scores[0].class_name]
    )


def _stats(times: list[float], medians: list[float], batch: int) -> dict[str, Any]:
    deciles = statistics.quantiles(times, n=10)
    return {
        "mean_us": round(statistics.fmean(times), 2),
        "median_us": round(statistics.median(times), 2),
        "p10_us": round(deciles[0], 2),
        "p90_us": round(deciles[-1], 2),
        "stdev_us": round(statistics.stdev(times), 2),
        "median_per_repeat_us": medians,
        "calls": len(times) * batch,
    }


def measure(
    config: ActiveLearningConfig, predictions: list[Prediction], iterations: int, repeats: int
) -> dict[str, Any]:
    """Per-call times in microseconds over batches of 100 calls, cycling through ``predictions``.

    ``cpu``: this thread's CPU time (what the decision costs, unaffected by other
    processes taking the core); ``wall``: elapsed time. Each repeat starts with
    fresh score windows (as a restarted node would) and a warm-up of 1000 calls,
    so the ``top_fraction`` windows are full and ranking.
    """
    rng = random.Random(7)
    batch = 100  # time batches of calls: one clock pair per call would add ~0.1 us
    cpu: list[float] = []
    wall: list[float] = []
    cpu_medians: list[float] = []
    wall_medians: list[float] = []
    pool = len(predictions)
    for _ in range(repeats):
        windows = ScoreWindows()
        for i in range(1000):  # warm up; fills the windows
            sample(config, predictions[i % pool], rng, windows=windows, scope="bench")
        run_cpu: list[float] = []
        run_wall: list[float] = []
        k = 0
        for _ in range(max(2, iterations // batch)):
            start_cpu, start_wall = time.thread_time_ns(), time.perf_counter_ns()
            for _ in range(batch):
                sample(config, predictions[k % pool], rng, windows=windows, scope="bench")
                k += 1
            run_wall.append((time.perf_counter_ns() - start_wall) / batch / 1000)
            run_cpu.append((time.thread_time_ns() - start_cpu) / batch / 1000)
        cpu_medians.append(round(statistics.median(run_cpu), 2))
        wall_medians.append(round(statistics.median(run_wall), 2))
        cpu += run_cpu
        wall += run_wall
    return {"cpu": _stats(cpu, cpu_medians, batch), "wall": _stats(wall, wall_medians, batch)}


def main() -> None:
    """Run every configuration on both predictions and print one JSON object."""
    iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    rng = random.Random(42)
    detection_pool = [detections(100, rng) for _ in range(50)]
    classification_pool = [classification(rng) for _ in range(50)]
    configs = {
        "reference": make_config(),
        "selection": make_selection_config(),
        "uncertainty": make_uncertainty_config(),
    }
    result: dict[str, Any] = {"benchmark": "sampling", "goal_us": 50, "configs": {}}
    for name, config in configs.items():
        result["configs"][name] = {
            "strategies": [s.type for s in config.sampling_strategies],
            "detections_100": measure(config, detection_pool, iterations, repeats),
            "classification": measure(config, classification_pool, iterations, repeats),
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
