"""The prediction log's cost on the serving path, its flush cost, and bytes per record.

1. ``serving``: what one prediction adds on the serving side, i.e. building the
   ``Entry`` and ``PredictionLog.append`` (all that runs after the response, on the
   event loop or the collector's thread), in microseconds, against one stub
   request through the whole app in-process (``POST /infer/object_detection``,
   role all, 640x480 JPEG, collection off so the pipeline itself records it);
   ``share`` is the ratio (goal: under 5%).
2. ``ab``: the same stub requests with the log on and off, alternated over
   ``--passes`` (after a first flush, so pyarrow's one-time import is not timed); the
   spread of the ratios says how much of a difference is noise.
3. ``flush``: microseconds per record of the flush thread (Arrow batch, stream
   file) and of closing (Parquet, zstd), off the serving path.
5. ``lookup`` (with ``--lookup N``): ``read_records`` of one inference id among N
   stub records in one-minute segments (the platform's layout, local), the query
   ``GET /v1/predictions/{inference_id}`` runs, in seconds.
4. ``size``: Parquet bytes per record of a one-minute segment at 100 predictions/s
   (stub, and detections with 5 and 50 objects), records per GB, and how many days
   of 100 predictions/s the default retention (50 GiB, 30 days) keeps.

    .venv/bin/python bench/bench_predlog.py [--requests 150] [--passes 3] [--lookup 300000]
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from tests.server.asgi_client import ASGIClient

from winnow.app import create_app
from winnow.images import CapturedImage, encode_jpeg
from winnow.predictions import (
    Detection,
    DetectionPrediction,
    ImageSize,
    Prediction,
    StubPrediction,
    TaskType,
)
from winnow.predlog.entry import Entry
from winnow.predlog.writer import PredictionLog
from winnow.settings import Settings

KEY = "bench-key-0123456789"
GIB = 1024**3


def _jpeg_b64() -> str:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    return base64.b64encode(encode_jpeg(pixels, 85)).decode()


def _detections(count: int, seed: int) -> DetectionPrediction:
    """Objects with random boxes, confidences and classes (as incompressible as real ones)."""
    rng = np.random.default_rng(seed)
    return DetectionPrediction(
        task_type=TaskType.OBJECT_DETECTION,
        image=ImageSize(640, 480),
        detections=[
            Detection(
                x=float(rng.uniform(0, 640)),
                y=float(rng.uniform(0, 480)),
                width=float(rng.uniform(5, 200)),
                height=float(rng.uniform(5, 200)),
                confidence=float(rng.uniform(0.25, 1.0)),
                class_name=f"class{int(rng.integers(0, 10))}",
                class_id=0,
            )
            for _ in range(count)
        ],
    )


def _entry(prediction: Prediction, i: int, t: float) -> Entry:
    return Entry(
        time=datetime.fromtimestamp(t, UTC),
        api_key=KEY,
        workspace="default",
        project="cars",
        source="http",
        model_id="cars/3",
        inference_id=str(uuid.uuid4()),  # random, as the pipeline's
        width=640,
        height=480,
        prediction=prediction,
        outcome="not_sampled" if i % 10 else "queued",
        matched=() if i % 10 else ("rnd",),
        paid=None if i % 10 else "rnd",
        config_version=3,
    )


def _requests(data_dir: Path, count: int, *, predlog: bool) -> float:
    """Seconds per stub request through the whole app (collection off)."""
    settings = Settings(
        data_dir=data_dir,
        api_key=KEY,
        active_learning_enabled=False,
        predlog_enabled=predlog,
        blob_sweep_interval_seconds=0,
    )
    body = {"api_key": KEY, "model_id": "cars/0", "image": {"type": "base64", "value": _jpeg_b64()}}
    with ASGIClient(create_app(settings)) as client:
        made = client.post(
            "/v1/projects",
            json={"name": "cars", "type": "object-detection"},
            headers={"Authorization": f"Bearer {KEY}"},
        )
        assert made.status_code in (201, 409), made.text
        for _ in range(20):  # warm up
            client.post("/infer/object_detection", json=body)
        log = client.app.state.runtime.services.predlog
        if log is not None:  # the first flush imports pyarrow (once, ~0.3 s): not timed
            log.flush()
        started = time.perf_counter()
        for _ in range(count):
            response = client.post("/infer/object_detection", json=body)
            assert response.status_code == 200
        return (time.perf_counter() - started) / count


def _serving_cost(folder: Path, count: int) -> float:
    """Seconds per ``served()`` call: Entry built and appended (what runs per prediction)."""
    log = PredictionLog(
        folder, node="bench", workspace_of=lambda key: "default", buffer_records=count + 1
    )
    image = CapturedImage.from_pixels(np.zeros((480, 640, 3), dtype=np.uint8))
    prediction = StubPrediction(model_id="cars/0", task_type="object-detection")
    started = time.perf_counter()
    for i in range(count):
        log.served(
            image,
            prediction,
            api_key=KEY,
            project="cars",
            model_id="cars/0",
            inference_id=f"id-{i}",
            outcome="disabled",
        )
    return (time.perf_counter() - started) / count


def _flush_and_size(folder: Path, predictions: list[Prediction], records: int) -> dict[str, float]:
    clock = [1_800_000_000.0]
    log = PredictionLog(
        folder,
        node="bench",
        workspace_of=lambda key: "default",
        clock=lambda: clock[0],
        buffer_records=records + 1,
        segment_seconds=3600.0,
        segment_bytes=2**40,
    )
    for i in range(records):
        log.append(_entry(predictions[i % len(predictions)], i, clock[0] + i / 100))
    started = time.perf_counter()
    log.flush()
    flushed = time.perf_counter() - started
    started = time.perf_counter()
    (path,) = log.close_segments()
    closed = time.perf_counter() - started
    size = path.stat().st_size
    return {
        "flush_us_per_record": round(flushed / records * 1e6, 2),
        "close_us_per_record": round(closed / records * 1e6, 2),
        "bytes_per_record": round(size / records, 1),
    }


def _lookup(folder: Path, records: int) -> dict[str, Any]:
    """Seconds to find one inference id among ``records`` stub records (6000 per segment)."""
    import pyarrow.parquet as pq

    from winnow.predlog.query import RecordStore, read_records, workspace_dir
    from winnow.predlog.record import to_table

    prediction = StubPrediction(model_id="cars/0", task_type="object-detection")
    start = 1_800_000_000.0
    wanted = ""
    files = 0
    for first in range(0, records, 6000):
        entries = [
            _entry(prediction, i, start + i / 100) for i in range(first, min(records, first + 6000))
        ]
        stamp = datetime.fromtimestamp(entries[0].time.timestamp(), UTC)
        day = folder / workspace_dir("default") / stamp.strftime("%Y-%m-%d")
        day.mkdir(parents=True, exist_ok=True)
        table = to_table(entries, node="bench", workspaces=["default"] * len(entries), cap=100)
        pq.write_table(
            table,
            day / f"bench.{stamp:%Y%m%dT%H%M%S}.1.abcdef.{files:06d}.parquet",
            compression="zstd",
        )
        files += 1
        if first <= records // 2 < first + 6000:
            wanted = entries[records // 2 - first].inference_id
    store = RecordStore.local(str(folder))
    runs = []
    for _ in range(3):
        started = time.perf_counter()
        found = read_records(store, workspace="default", inference_id=wanted)
        runs.append(time.perf_counter() - started)
        assert found.num_rows == 1
    return {"records": records, "segments": files, "seconds": [round(r, 3) for r in runs]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=150)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--lookup", type=int, default=0, help="records for the lookup figure")
    args = parser.parse_args()
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        appends = [_serving_cost(root / f"serve{p}", 20_000) for p in range(args.passes)]
        on: list[float] = []
        off: list[float] = []
        for p in range(args.passes):  # alternated, the order flipped every pass
            first, second = (False, True) if p % 2 == 0 else (True, False)
            for predlog in (first, second):
                seconds = _requests(root / f"{predlog}{p}", args.requests, predlog=predlog)
                (on if predlog else off).append(seconds)
        request = statistics.median(off)
        append = statistics.median(appends)
        out["serving"] = {
            "append_us": round(append * 1e6, 2),
            "append_us_runs": [round(a * 1e6, 2) for a in appends],
            "stub_request_us": round(request * 1e6, 1),
            "share": round(append / request, 4),
        }
        ratios = [a / b for a, b in zip(on, off, strict=True)]
        out["ab"] = {
            "request_us_log_off": [round(x * 1e6, 1) for x in off],
            "request_us_log_on": [round(x * 1e6, 1) for x in on],
            "on_over_off": [round(r, 3) for r in ratios],
        }
        sizes = {}
        cases: list[tuple[str, list[Prediction]]] = [
            ("stub", [StubPrediction(model_id="cars/0", task_type="object-detection")]),
            ("5_objects", [_detections(5, seed) for seed in range(6000)]),
            ("50_objects", [_detections(50, seed) for seed in range(6000)]),
        ]
        for label, predictions in cases:
            sizes[label] = _flush_and_size(root / f"size-{label}", predictions, 6000)
        out["segment_6000_records"] = sizes
        per_day = 100 * 86400
        out["retention"] = {
            label: {
                "records_per_gb": int(GIB / figures["bytes_per_record"]),
                "gb_per_day_at_100_per_s": round(per_day * figures["bytes_per_record"] / GIB, 3),
                "days_in_50_gib": round(50 * GIB / (per_day * figures["bytes_per_record"]), 1),
            }
            for label, figures in sizes.items()
        }
        if args.lookup:
            out["lookup"] = _lookup(root / "lookup", args.lookup)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
