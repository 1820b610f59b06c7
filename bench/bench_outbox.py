"""Outbox accept rate, delivery rate, and the collection pipeline's capacity at 100% sampling.

Prints JSON. ``synchronous=FULL`` (the default: an accepted datapoint survives
a power cut) and ``NORMAL`` (survives a crash of the process, not of the
machine) are both measured. Delivery runs ``DeliveryWorker.run(burst=True)``
with concurrency 1 and 2 against a client that returns at once, so the
figure is the outbox's own cost per delivered entry (claim + settle), with
one entry a claim (``batch1``) and 32 (``batch32``).

``pipeline`` (repeated ``--passes`` times, the two ways alternating, figures
with their spread) measures what 100% random collection of 640x480 JPEGs
costs on both sides, in datapoints per second of one core:

- ``serving_side``: the serving process's collector deciding and writing
  sampled datapoints. ``inline`` is the path before captures (resize and
  encode in the serving process, one fsync'd put each); ``capture`` writes the
  original bytes (one transaction per burst of 64). The serving rate on this
  box (issue 13) is 124-223 req/s: at 100% sampling that is the datapoints/s
  the serving side must accept.
- ``collection_side``: the collection process preparing captures and storing
  them in a real platform (in-process, SQLite, local blobs): ``batch1`` (one
  platform transaction and two outbox writes per datapoint, as before) and
  ``batch32`` (one of each for 32).

``write_cost_per_image``: CPU and wall microseconds per image of writing bursts of
64 images durably through the outbox, beside a plain append and ``fdatasync`` of
the same bytes to one file (the kernel's own cost of the bytes, the floor for any
store of them on this disk).

Run: ``.venv/bin/python bench/bench_outbox.py [--count 300] [--pipeline 200] [--passes 3]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from winnow.activelearning.capture import PrepareSpec
from winnow.activelearning.collector import Collector
from winnow.activelearning.config import validate_config
from winnow.activelearning.datapoint import CollectionContext, Datapoint
from winnow.activelearning.delivery import DeliveryWorker
from winnow.activelearning.limits import MemoryLimits
from winnow.activelearning.outbox import EntryStatus, Outbox, OutboxItem
from winnow.activelearning.platform_client import ProjectConfig
from winnow.images import CapturedImage, decode_image, encode_jpeg
from winnow.metrics import Metrics
from winnow.platform import store
from winnow.platform.clients import InProcessPlatformClient
from winnow.platform.service import Platform
from winnow.predictions import StubPrediction
from winnow.settings import Settings

KEY = "bench-key-0123456789"

JPEG = b"\xff\xd8\xff" + os.urandom(100 * 1024)


def datapoint() -> Datapoint:
    """A datapoint with a 100 KB payload and a 20-detection prediction."""
    return Datapoint(
        idempotency_key=uuid.uuid4().hex,
        api_key="bench-key",
        project="bench",
        batch_name="bench_2026_11_28",
        image_jpeg=JPEG,
        width=1200,
        height=675,
        prediction={
            "image": {"width": 1200, "height": 675},
            "predictions": [
                {"x": 10.0 * i, "y": 5.0 * i, "width": 30.0, "height": 40.0, "class": "car"}
                for i in range(20)
            ],
        },
        task_type="object-detection",
        tags=("bench", "bench-3"),
        strategy="random",
        model_id="bench/3",
        inference_id=uuid.uuid4().hex,
        source="http",
        config_version=1,
        created_at=datetime.now(UTC),
    )


class NoopPlatform:
    """Accepts everything at once."""

    def deliver(self, datapoint: Datapoint) -> str:
        return datapoint.idempotency_key

    def close(self) -> None:
        pass


def bench(
    folder: Path, synchronous: str, count: int, concurrency: int, batch: int = 1
) -> dict[str, Any]:
    outbox = Outbox(
        folder / f"outbox-{synchronous}-{concurrency}-{batch}.db",
        max_bytes=10**10,
        synchronous=synchronous,
    )
    points = [datapoint() for _ in range(count)]
    start = time.perf_counter()
    for point in points:
        outbox.put(point)
    put_seconds = time.perf_counter() - start
    worker = DeliveryWorker(
        outbox, NoopPlatform(), metrics=Metrics(), concurrency=concurrency, batch_size=batch
    )
    start = time.perf_counter()
    worker.run(burst=True)
    deliver_seconds = time.perf_counter() - start
    delivered = outbox.stats().counts[EntryStatus.DELIVERED]
    outbox.close()
    assert delivered == count, (delivered, count)
    return {
        "puts_per_s": round(count / put_seconds, 1),
        "put_ms": round(put_seconds / count * 1000, 3),
        "deliveries_per_s": round(count / deliver_seconds, 1),
    }


def _photos(count: int) -> list[bytes]:
    """Distinct 640x480 JPEGs of realistic size (a gradient with noise, q90)."""
    y, x = np.mgrid[0:480, 0:640]
    base = np.stack([x * 255 // 640, y * 255 // 480, (x + y) * 255 // 1120], axis=-1)
    out = []
    for seed in range(count):
        noise = np.random.default_rng(seed).integers(0, 24, (480, 640, 3))
        out.append(encode_jpeg(np.clip(base + noise, 0, 255).astype(np.uint8), 90))
    return out


class _Config:
    """100% random into one batch; images fitted into 360x480 (640x480 is resized)."""

    def __init__(self) -> None:
        config = validate_config(
            {
                "enabled": True,
                "persist_predictions": True,
                "max_image_size": [360, 480],
                "sampling_strategies": [
                    {"name": "rnd", "type": "random", "traffic_percentage": 1.0}
                ],
                "batching_strategy": {"batches_name_prefix": "b", "recreation_interval": "never"},
            }
        )
        self.value = ProjectConfig("default", "bench", "object-detection", config, 1)

    def get(self, api_key: str, project: str) -> ProjectConfig:
        return self.value


def _serving_side(folder: Path, photos: list[bytes], capture: bool, tag: str) -> float:
    """Sampled datapoints/s the serving process's collector decides and writes."""
    settings = Settings(data_dir=folder)
    outbox = Outbox(folder / f"serving-{tag}.db", max_bytes=10**11)
    collector = Collector(
        settings=settings,
        config_source=_Config(),
        limits=MemoryLimits(),
        outbox=outbox,
        metrics=Metrics(),
        rng=random.Random(0),
    )
    prediction = StubPrediction(model_id="bench/0", task_type="object-detection")
    context = CollectionContext(api_key=KEY, project="bench", model_id="bench/0")
    # The served image as the pipeline hands it over: decoded already (outside the timing).
    images = [
        CapturedImage.from_pixels(
            decode_image(data, max_pixels=10**8), original=data if capture else None
        )
        for data in photos
    ]
    start = time.perf_counter()
    outcomes = []
    for i in range(0, len(images), 64):
        outcomes += collector.process_many([(im, prediction, context) for im in images[i : i + 64]])
    seconds = time.perf_counter() - start
    outbox.close()
    assert all(o.value == "queued" for o in outcomes), set(outcomes)
    return len(images) / seconds


def _collection_side(folder: Path, photos: list[bytes], batch: int, tag: str) -> float:
    """Captures/s the collection process prepares and stores in an in-process platform."""
    settings = Settings(data_dir=folder / f"platform-{tag}", api_key=KEY)
    platform = Platform.open(settings)
    with platform.db.write() as session:
        store.create_project(
            session=session,
            workspace=platform.workspace(KEY),
            name="bench",
            type="object-detection",
        )
    outbox = Outbox(folder / f"collection-{tag}.db", max_bytes=10**11)
    spec = PrepareSpec(
        max_image_size=None, jpeg_quality=75, persist_predictions=True, max_pixels=10**8
    )
    outbox.put_many(
        [
            OutboxItem(
                replace(datapoint(), api_key=KEY, image_jpeg=data, width=640, height=480),
                spec,
            )
            for data in photos
        ]
    )
    worker = DeliveryWorker(
        outbox,
        InProcessPlatformClient(platform),
        metrics=Metrics(),
        concurrency=1,
        batch_size=batch,
    )
    start = time.perf_counter()
    worker.run(burst=True)
    seconds = time.perf_counter() - start
    delivered = outbox.stats().counts[EntryStatus.DELIVERED]
    outbox.close()
    platform.close()
    assert delivered == len(photos), (delivered, len(photos))
    return len(photos) / seconds


def _spread(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 1),
        "min": round(min(values), 1),
        "max": round(max(values), 1),
    }


def pipeline(folder: Path, count: int, passes: int) -> dict[str, Any]:
    """The serving and collection sides at 100% sampling, alternating, ``passes`` times."""
    photos = _photos(count)
    runs: dict[str, list[float]] = {
        "inline": [],
        "capture": [],
        "batch1": [],
        "batch32": [],
    }
    ratios: dict[str, list[float]] = {"serving_capture_over_inline": [], "batch32_over_batch1": []}
    for n in range(passes):
        inline = _serving_side(folder, photos, False, f"inline{n}")
        capture = _serving_side(folder, photos, True, f"capture{n}")
        one = _collection_side(folder, photos, 1, f"b1-{n}")
        many = _collection_side(folder, photos, 32, f"b32-{n}")
        for key, value in (
            ("inline", inline),
            ("capture", capture),
            ("batch1", one),
            ("batch32", many),
        ):
            runs[key].append(value)
        ratios["serving_capture_over_inline"].append(capture / inline)
        ratios["batch32_over_batch1"].append(many / one)
    return {
        "datapoints": count,
        "passes": passes,
        "serving_side_per_s": {
            "inline": _spread(runs["inline"]),
            "capture": _spread(runs["capture"]),
        },
        "collection_side_stored_per_s": {
            "batch1": _spread(runs["batch1"]),
            "batch32": _spread(runs["batch32"]),
        },
        "ratios": {
            key: {k: round(v / 1, 2) for k, v in _spread(vals).items()}
            for key, vals in ratios.items()
        },
    }


def write_cost(folder: Path, bursts: int = 30, burst: int = 64) -> dict[str, Any]:
    """CPU and wall microseconds per image of writing bursts of ``JPEG``-sized images
    durably, two ways, on the same disk: through the outbox (one multi-row INSERT and one
    ``synchronous=FULL`` commit a burst; SQLite copies the bytes into its pages, its WAL
    and, at checkpoints, its database file) and as a plain append to one file (one
    ``writev`` and one ``fdatasync`` a burst). The second is a floor for any store of
    the bytes: what the kernel alone costs to put them on this disk."""
    outbox = Outbox(folder / "write-cost.db", max_bytes=10**12)
    items = [[OutboxItem(datapoint()) for _ in range(burst)] for _ in range(bursts)]
    cpu, wall = time.process_time(), time.perf_counter()
    for burst_items in items:
        outbox.put_many(burst_items)
    sqlite_cpu, sqlite_wall = time.process_time() - cpu, time.perf_counter() - wall
    outbox.close()
    images = [JPEG] * burst
    descriptor = os.open(folder / "write-cost.seg", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    cpu, wall = time.process_time(), time.perf_counter()
    try:
        for _ in range(bursts):
            os.writev(descriptor, images)
            os.fdatasync(descriptor)
    finally:
        file_cpu, file_wall = time.process_time() - cpu, time.perf_counter() - wall
        os.close(descriptor)
    count = bursts * burst
    return {
        "images": count,
        "image_bytes": len(JPEG),
        "outbox_cpu_us": round(sqlite_cpu / count * 1e6, 1),
        "outbox_wall_us": round(sqlite_wall / count * 1e6, 1),
        "append_cpu_us": round(file_cpu / count * 1e6, 1),
        "append_wall_us": round(file_wall / count * 1e6, 1),
    }


def main() -> None:
    """Run each mode and print one JSON object."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=300, help="outbox entries per mode")
    parser.add_argument("--pipeline", type=int, default=200, help="datapoints per pipeline pass")
    parser.add_argument("--passes", type=int, default=3)
    args = parser.parse_args()
    count = args.count
    results: dict[str, Any] = {"count": count, "jpeg_bytes": len(JPEG)}
    with tempfile.TemporaryDirectory() as tmp:
        for synchronous in ("FULL", "NORMAL"):
            for concurrency in (1, 2):
                key = f"{synchronous.lower()}_concurrency{concurrency}"
                results[key] = bench(Path(tmp), synchronous, count, concurrency)
        results["full_concurrency1_batch32"] = bench(Path(tmp), "FULL", count, 1, batch=32)
        start = time.perf_counter()
        outbox = Outbox(Path(tmp) / "many.db", max_bytes=10**10)
        for i in range(0, count, 64):
            outbox.put_many([OutboxItem(datapoint()) for _ in range(min(64, count - i))])
        results["full_put_many64_per_s"] = round(count / (time.perf_counter() - start), 1)
        outbox.close()
        results["write_cost_per_image"] = write_cost(Path(tmp))
        if args.pipeline:
            results["pipeline"] = pipeline(Path(tmp), args.pipeline, args.passes)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
