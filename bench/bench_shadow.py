"""The serving cost of a shadow model: requests/s and latency without a shadow, at 10% and 100%.

One in-process inference app (the real routes, pipeline and shadow runner
with its worker thread started; a collector that only counts) serves
``POST /infer/object_detection`` with a 640x480 JPEG from one client, one
request at a time. The served model and the shadow are both a real detector
(nudenet's 320n.onnx, an Ultralytics YOLOv8n export) registered as versions 1
and 2, so the shadow costs what a candidate of the same size costs.
Scenarios: ``off`` (no shadow), ``shadow_10pct``, ``shadow_100pct`` (over the
default time budget of 0.25 s per second: most runs are skipped and counted).
Every scenario runs ``--passes`` times, in turn; the figures are the median
of the passes with their spread (min..max). Prints one JSON document.

    .venv/bin/python bench/bench_shadow.py [--seconds 3] [--passes 3] [--detector PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from fastapi import FastAPI

from winnow.activelearning.config import validate_config
from winnow.activelearning.datapoint import CollectionContext
from winnow.activelearning.platform_client import ProjectConfig
from winnow.app import include_routes
from winnow.http.errors import install_error_handlers
from winnow.images import CapturedImage, encode_jpeg
from winnow.metrics import Metrics
from winnow.models.base import Image, InferenceParams
from winnow.models.registry import ModelRegistry
from winnow.models.source import ModelInfo
from winnow.predictions import Prediction
from winnow.server.services import Services
from winnow.server.shadow import ShadowRunner
from winnow.settings import Role, Settings

KEY = "bench-key-0123456789"
SCENARIOS = {"off": None, "shadow_10pct": 0.1, "shadow_100pct": 1.0}


class Source:
    """A model source of one workspace: project ``cars`` with the detector as versions 1, 2."""

    def __init__(self, onnx: bytes) -> None:
        self.onnx = onnx

    def workspace_of(self, api_key: str) -> str:
        return "bench"

    def project_type(self, api_key: str, project: str) -> str:
        return "object-detection"

    def model_info(self, api_key: str, project: str, version: int) -> ModelInfo:
        return ModelInfo(
            workspace="bench",
            project=project,
            version=version,
            task_type="object-detection",
            class_names=(),
            sha256=hashlib.sha256(self.onnx).hexdigest(),
            size_bytes=len(self.onnx),
        )

    def model_file(self, api_key: str, project: str, version: int) -> bytes:
        return self.onnx


class Configs:
    def __init__(self, percentage: float | None) -> None:
        config: dict[str, Any] = {"enabled": False}
        if percentage is not None:
            config["shadow"] = {"model_id": "cars/2", "traffic_percentage": percentage}
        self.config = ProjectConfig("bench", "cars", "object-detection", validate_config(config), 1)

    def get(self, api_key: str, project: str) -> ProjectConfig:
        return self.config


class Counting:
    """A collector that only counts what it is handed (and how many had a shadow run)."""

    def __init__(self) -> None:
        self.images = 0
        self.shadowed = 0

    def submit(
        self, image: CapturedImage, prediction: Prediction, context: CollectionContext
    ) -> bool:
        self.images += 1
        self.shadowed += context.shadow is not None
        return True


def build(
    data_dir: Path, onnx: bytes, percentage: float | None
) -> tuple[FastAPI, ShadowRunner | None, Metrics, Counting]:
    settings = Settings(data_dir=data_dir, config_cache_seconds=60.0)
    metrics = Metrics()
    registry = ModelRegistry(Source(onnx), cache_dir=data_dir / "models", max_loaded=4)
    collector = Counting()
    runner = None
    if percentage is not None:
        runner = ShadowRunner(
            settings=settings,
            config_source=Configs(percentage),
            models=registry.get,
            metrics=metrics,
        )
    app = FastAPI()
    install_error_handlers(app)
    app.state.services = Services(
        settings=settings,
        metrics=metrics,
        registry=registry,
        collector=collector,
        fetch_url=lambda url: b"",
        shadow=runner,
    )
    include_routes(app, Role.INFERENCE)
    warm: list[Image] = [np.zeros((480, 640, 3), np.uint8)]
    for model_id in ("cars/1", "cars/2"):  # loaded and run once: no first-run cost measured
        registry.get(KEY, model_id).infer(warm, InferenceParams())
    return app, runner, metrics, collector


def jpeg_b64() -> str:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:480, 0:640]
    base = np.stack([x * 255 // 640, y * 255 // 480, (x + y) * 255 // 1120], axis=-1)
    image = np.clip(base + rng.integers(0, 24, (480, 640, 3)), 0, 255).astype(np.uint8)
    return base64.b64encode(encode_jpeg(image, 90)).decode()


async def drive(app: FastAPI, body: dict[str, Any], seconds: float) -> list[float]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for _ in range(5):  # warm-up
            (await client.post("/infer/object_detection", json=body)).raise_for_status()
        latencies = []
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            started = time.perf_counter()
            response = await client.post("/infer/object_detection", json=body)
            latencies.append(time.perf_counter() - started)
            response.raise_for_status()
        return latencies


def value(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, {"project": "cars", **labels}) or 0.0


def one_pass(onnx: bytes, percentage: float | None, seconds: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        app, runner, metrics, collector = build(Path(tmp), onnx, percentage)
        if runner is not None:
            runner.start()
        body = {
            "api_key": KEY,
            "model_id": "cars/1",
            "image": {"type": "base64", "value": jpeg_b64()},
        }
        started = time.perf_counter()
        latencies = asyncio.run(drive(app, body, seconds))
        elapsed = time.perf_counter() - started
        if runner is not None:
            runner.stop()
        latencies.sort()
        served = len(latencies)
        skipped = sum(
            value(metrics, "winnow_shadow_skipped_total", reason=reason)
            for reason in ("queue_full", "time_budget", "task_mismatch", "error")
        )
        return {
            "requests_per_s": served / elapsed,
            "p50_ms": 1000 * statistics.median(latencies),
            "p99_ms": 1000 * latencies[int(0.99 * (served - 1))],
            "shadow_runs": value(metrics, "winnow_shadow_runs_total"),
            "shadow_skipped": skipped,
            "shadow_seconds_per_request_ms": 1000
            * value(metrics, "winnow_shadow_seconds_total")
            / max(served, 1),
            "collected_images": collector.images,
            "served": served,
        }


def summary(passes: list[dict[str, float]]) -> dict[str, Any]:
    out: dict[str, Any] = {"passes": len(passes)}
    for key in passes[0]:
        values = [p[key] for p in passes]
        out[key] = {
            "median": round(statistics.median(values), 3),
            "min": round(min(values), 3),
            "max": round(max(values), 3),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--detector", type=Path, default=None, help="an Ultralytics ONNX detector")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_models import detector_file

    path = args.detector or detector_file()
    if path is None:
        raise SystemExit("no detector: pass --detector PATH")
    onnx = path.read_bytes()
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in SCENARIOS}
    for _ in range(args.passes):
        for name, percentage in SCENARIOS.items():
            runs[name].append(one_pass(onnx, percentage, args.seconds))
    result: dict[str, Any] = {
        "model": path.name,
        "seconds_per_pass": args.seconds,
        "scenarios": {name: summary(passes) for name, passes in runs.items()},
    }
    off = statistics.median(p["requests_per_s"] for p in runs["off"])
    ten = statistics.median(p["requests_per_s"] for p in runs["shadow_10pct"])
    result["throughput_10pct_vs_off"] = round(ten / off, 3)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
