"""Time to prepare a 1080p frame: resize, JPEG-encode, rescale a 100-detection prediction.

Prints JSON: median and mean milliseconds of ``prepare()`` for each
(max_image_size, quality) case, plus its parts (resize alone, encode alone,
rescale alone). Run: ``.venv/bin/python bench/bench_prepare.py [iterations]``.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt

from winnow.activelearning.prepare import prepare
from winnow.images import encode_jpeg, resize_to_fit
from winnow.predictions import (
    Detection,
    DetectionPrediction,
    ImageSize,
    TaskType,
    prediction_to_json,
    rescale_prediction,
)

WIDTH, HEIGHT = 1920, 1080


def frame() -> npt.NDArray[Any]:
    """A 1080p frame with texture (a flat image would flatter the encoder)."""
    rng = np.random.default_rng(0)
    coarse = rng.integers(0, 255, (HEIGHT // 8, WIDTH // 8, 3), dtype=np.uint8)
    image = np.repeat(np.repeat(coarse, 8, axis=0), 8, axis=1)
    noise = rng.integers(0, 24, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    return np.ascontiguousarray(image // 2 + noise)


def detections(n: int = 100) -> DetectionPrediction:
    rng = random.Random(1)
    return DetectionPrediction(
        task_type=TaskType.OBJECT_DETECTION,
        image=ImageSize(WIDTH, HEIGHT),
        detections=[
            Detection(
                x=rng.uniform(0, WIDTH),
                y=rng.uniform(0, HEIGHT),
                width=rng.uniform(10, 300),
                height=rng.uniform(10, 300),
                confidence=rng.random(),
                class_name="car",
                class_id=0,
                detection_id=f"d{i}",
            )
            for i in range(n)
        ],
    )


def timed(fn: Callable[[], object], iterations: int) -> dict[str, float]:
    fn()  # warm up
    samples = []
    for _ in range(iterations):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return {
        "median_ms": round(statistics.median(samples), 3),
        "mean_ms": round(statistics.fmean(samples), 3),
        "min_ms": round(min(samples), 3),
    }


def main() -> None:
    """Run every case and print one JSON object."""
    iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    image = frame()
    prediction = detections()
    results: dict[str, Any] = {"image": f"{WIDTH}x{HEIGHT}", "iterations": iterations}
    for bound in [(1200, 1200), (640, 640)]:
        resized = resize_to_fit(image, bound)
        label = f"{bound[0]}x{bound[1]}"
        results[f"resize_{label}"] = timed(partial(resize_to_fit, image, bound), iterations)
        for quality in (75, 95):
            results[f"encode_{label}_q{quality}"] = timed(
                partial(encode_jpeg, resized, quality), iterations
            )
            results[f"prepare_{label}_q{quality}"] = timed(
                partial(
                    prepare,
                    image,
                    prediction,
                    max_image_size=bound,
                    jpeg_quality=quality,
                    persist_predictions=True,
                ),
                iterations,
            )
        results[f"jpeg_bytes_{label}_q75"] = len(encode_jpeg(resized, 75))
    results["encode_1080p_q95"] = timed(lambda: encode_jpeg(image, 95), iterations)
    results["rescale_100_detections_to_json"] = timed(
        lambda: prediction_to_json(rescale_prediction(prediction, 1200, 675)), iterations
    )
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
