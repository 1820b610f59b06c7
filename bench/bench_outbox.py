"""Outbox accept rate (puts/s with 100 KB JPEGs) and delivery rate to a no-op platform.

Prints JSON. ``synchronous=FULL`` (the default: an accepted datapoint survives
a power cut) and ``NORMAL`` (survives a crash of the process, not of the
machine) are both measured. Delivery runs ``DeliveryWorker.run(burst=True)``
with concurrency 1 and 2 against a client that returns at once, so the
figure is the outbox's own cost per delivered entry (claim + mark).
Run: ``.venv/bin/python bench/bench_outbox.py [count]``.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from winnow.activelearning.datapoint import Datapoint
from winnow.activelearning.delivery import DeliveryWorker
from winnow.activelearning.outbox import EntryStatus, Outbox
from winnow.metrics import Metrics

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


def bench(folder: Path, synchronous: str, count: int, concurrency: int) -> dict[str, Any]:
    outbox = Outbox(
        folder / f"outbox-{synchronous}-{concurrency}.db", max_bytes=10**10, synchronous=synchronous
    )
    points = [datapoint() for _ in range(count)]
    start = time.perf_counter()
    for point in points:
        outbox.put(point)
    put_seconds = time.perf_counter() - start
    worker = DeliveryWorker(outbox, NoopPlatform(), metrics=Metrics(), concurrency=concurrency)
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


def main() -> None:
    """Run each mode and print one JSON object."""
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    results: dict[str, Any] = {"count": count, "jpeg_bytes": len(JPEG)}
    with tempfile.TemporaryDirectory() as tmp:
        for synchronous in ("FULL", "NORMAL"):
            for concurrency in (1, 2):
                key = f"{synchronous.lower()}_concurrency{concurrency}"
                results[key] = bench(Path(tmp), synchronous, count, concurrency)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
