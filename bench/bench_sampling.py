"""Time of the sampling decision: ``sample()`` with one strategy of each type.

Prints JSON: mean and median microseconds per call on a 100-detection
prediction (goal: under 50 us) and on a single-label classification.
Run: ``.venv/bin/python bench/bench_sampling.py [iterations]``.
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


def make_config() -> ActiveLearningConfig:
    """Four strategies, one per type, in the order a user would likely write them."""
    return validate_config(
        {
            "enabled": True,
            "persist_predictions": True,
            "batching_strategy": {"batches_name_prefix": "bench", "recreation_interval": "daily"},
            "sampling_strategies": [
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
            ],
        }
    )


def detections(n: int, rng: random.Random) -> Prediction:
    """A detection prediction with ``n`` boxes of random classes and confidences."""
    return DetectionPrediction(
        task_type=TaskType.OBJECT_DETECTION,
        image=ImageSize(1920, 1080),
        detections=[
            Detection(
                x=rng.uniform(0, 1920),
                y=rng.uniform(0, 1080),
                width=50,
                height=50,
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


def measure(
    config: ActiveLearningConfig, prediction: Prediction, iterations: int
) -> dict[str, Any]:
    """Mean and median of per-call times over ``iterations`` calls, in microseconds."""
    rng = random.Random(7)
    for _ in range(1000):  # warm up
        sample(config, prediction, rng)
    batch = 100  # time batches of calls: one perf_counter_ns pair per call adds ~0.1 us
    times = []
    for _ in range(max(1, iterations // batch)):
        start = time.perf_counter_ns()
        for _ in range(batch):
            sample(config, prediction, rng)
        times.append((time.perf_counter_ns() - start) / batch / 1000)
    return {
        "mean_us": round(statistics.fmean(times), 2),
        "median_us": round(statistics.median(times), 2),
        "calls": len(times) * batch,
    }


def main() -> None:
    """Run both measurements and print one JSON object."""
    iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    rng = random.Random(42)
    config = make_config()
    result = {
        "benchmark": "sampling",
        "strategies": [s.type for s in config.sampling_strategies],
        "detections_100": measure(config, detections(100, rng), iterations),
        "classification": measure(config, classification(rng), iterations),
        "goal_us": 50,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
