"""Requests/s and p50/p99 latency of inference over HTTP, collection off vs 10% vs 100%.

For each scenario a fresh ``winnow serve`` (role all: in-process platform,
SQLite, local blobs; with ``--split``, a ``--role platform`` process plus a
``--role inference`` node delivering to it over HTTP) runs as a real
subprocess on a free port, with one
project whose active learning configuration collects nothing, 10% or 100%
of the traffic (random strategy); ``POST /infer/object_detection`` is driven
with a 640x480 JPEG from 1, 8 and 32 client threads (keep-alive
connections). Models: the stub ``<project>/0`` and a real detector
(nudenet's 320n.onnx, an Ultralytics YOLOv8n export, registered as version
1). Every scenario runs ``--passes`` times in turn; the passes are merged.
Prints one JSON document.

    .venv/bin/python bench/bench_server.py [--seconds 4] [--passes 2] [--concurrency 1,8,32]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from winnow.images import encode_jpeg

KEY = "bench-key-0123456789"
SCENARIOS = {"off": None, "random_10pct": 0.1, "random_100pct": 1.0}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(percentage: float | None) -> dict[str, Any]:
    if percentage is None:
        return {"enabled": False}
    return {
        "enabled": True,
        "persist_predictions": True,
        "sampling_strategies": [
            {"name": "rnd", "type": "random", "traffic_percentage": percentage}
        ],
        "batching_strategy": {"batches_name_prefix": "bench", "recreation_interval": "never"},
    }


def _jpeg_b64() -> str:
    # A smooth gradient plus noise: a realistic JPEG size for 640x480 (not pure noise).
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:480, 0:640]
    base = np.stack([x * 255 // 640, y * 255 // 480, (x + y) * 255 // 1120], axis=-1)
    noise = rng.integers(0, 24, (480, 640, 3))
    image = np.clip(base + noise, 0, 255).astype(np.uint8)
    return base64.b64encode(encode_jpeg(image, 90)).decode()


def _queued(base: str) -> dict[str, float]:
    """``winnow_datapoints_total{outcome="queued"}`` per project, from /metrics."""
    out: dict[str, float] = {}
    for line in httpx.get(f"{base}/metrics", timeout=10).text.splitlines():
        if line.startswith("winnow_datapoints_total{") and 'outcome="queued"' in line:
            project = line.split('project="', 1)[1].split('"', 1)[0]
            out[project] = out.get(project, 0.0) + float(line.rsplit(" ", 1)[1])
    return out


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


@dataclass
class Cell:
    """Latencies and wall time gathered for one (model, collection, concurrency) cell."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0

    def add(self, other: Cell) -> None:
        """Merge another run of the same cell."""
        self.latencies.extend(other.latencies)
        self.errors += other.errors
        self.seconds += other.seconds

    def summary(self) -> dict[str, Any]:
        """requests, errors, rps, p50/p99/mean in ms."""
        return {
            "requests": len(self.latencies),
            "errors": self.errors,
            "rps": round(len(self.latencies) / self.seconds, 1),
            "p50_ms": round(_percentile(self.latencies, 0.50) * 1000, 2),
            "p99_ms": round(_percentile(self.latencies, 0.99) * 1000, 2),
            "mean_ms": round(statistics.fmean(self.latencies) * 1000, 2),
        }


def _drive(url: str, payload: bytes, concurrency: int, seconds: float, rate: float = 0.0) -> Cell:
    """Closed loop (each worker sends as soon as it has its answer), or with ``rate`` > 0
    an open loop: each worker sends on a fixed schedule of ``rate / concurrency`` per second,
    so the server is measured below saturation."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def worker() -> None:
        nonlocal errors
        local: list[float] = []
        failed = 0
        headers = {"Content-Type": "application/json"}
        interval = concurrency / rate if rate > 0 else 0.0
        next_at = time.perf_counter()
        with httpx.Client(timeout=60) as client:
            while True:  # at least one request per worker, even in a short slice
                if interval:
                    next_at += interval
                    delay = next_at - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                started = time.perf_counter()
                response = client.post(url, content=payload, headers=headers)
                local.append(time.perf_counter() - started)
                if response.status_code != 200:
                    failed += 1
                if time.perf_counter() >= stop_at:
                    break
        with lock:
            latencies.extend(local)
            errors += failed

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Cell(latencies, errors, time.perf_counter() - started)


def _wait_healthy(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            raise SystemExit("winnow serve did not start")
        time.sleep(0.2)


@contextmanager
def _process(tmp: Path, *args: str) -> Iterator[str]:
    """One ``winnow serve`` subprocess on a free port; yields its base URL."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WINNOW_")}
    env.update({"WINNOW_API_KEY": KEY, "WINNOW_LOG_LEVEL": "WARNING"})
    command = [sys.executable, "-c", "from winnow.cli.main import main; main()", "serve"]
    command += ["--port", str(port), "--data-dir", str(tmp / f"data-{port}"), *args]
    with open(tmp / f"serve-{port}.log", "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            _wait_healthy(base, process)
            yield base
        finally:
            process.terminate()
            process.wait(timeout=30)


@contextmanager
def _server(tmp: Path, split: bool) -> Iterator[tuple[str, str]]:
    """Yields (inference URL, platform URL): one role-all process, or with ``split`` a
    platform process and an inference node delivering to it over HTTP."""
    if not split:
        with _process(tmp) as base:
            yield base, base
        return
    with (
        _process(tmp, "--role", "platform") as platform,
        _process(tmp, "--role", "inference", "--platform-url", platform) as node,
    ):
        yield node, platform


def _scenario(
    tmp: Path,
    model: tuple[str, int, Path | None],
    collection: str,
    image: str,
    levels: list[int],
    seconds: float,
    split: bool = False,
    rate: float = 0.0,
) -> tuple[dict[int, Cell], float]:
    """One (model, collection) scenario on its own server: cells by concurrency, datapoints queued.

    A server of its own per scenario keeps one scenario's collection backlog (the
    100% case delivers long after its requests) from slowing the next one.
    """
    model_name, version, onnx_file = model
    project = f"{model_name}-{collection.replace('_', '-')}"
    with _server(tmp, split) as (base, platform):
        auth = {"Authorization": f"Bearer {KEY}"}
        with httpx.Client(base_url=platform, headers=auth, timeout=60) as http:
            http.post("/v1/projects", json={"name": project, "type": "object-detection"})
            http.put(f"/v1/projects/{project}/al-config", json=_config(SCENARIOS[collection]))
            if version and onnx_file is not None:
                http.post(
                    "/v1/models",
                    data={"model_id": f"{project}/{version}"},
                    files={"file": (onnx_file.name, onnx_file.read_bytes())},
                ).raise_for_status()
        url = f"{base}/infer/object_detection"
        payload = json.dumps(
            {
                "api_key": KEY,
                "model_id": f"{project}/{version}",
                "image": {"type": "base64", "value": image},
            }
        ).encode()
        _drive(url, payload, 4, 1.0)  # warm up: model, config cache, connections
        cells = {level: _drive(url, payload, level, seconds, rate) for level in levels}
        return cells, _queued(base).get(project, 0.0)


def main() -> None:
    """Run the benchmark and print JSON."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=4.0, help="per cell and pass")
    parser.add_argument("--passes", type=int, default=2, help="repetitions, merged per cell")
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument(
        "--no-detector", action="store_true", help="skip the YOLOv8n (nudenet 320n) variant"
    )
    parser.add_argument(
        "--split",
        action="store_true",
        help="an inference node delivering over HTTP to a platform process, not role all",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="requests/s in total on a fixed schedule (open loop); 0: as fast as answered",
    )
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    load_before = os.getloadavg()
    image = _jpeg_b64()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_models import detector_file

    detector = None if args.no_detector else detector_file()
    models: list[tuple[str, int, Path | None]] = [("stub", 0, None)]
    if detector is not None:
        models.append(("yolov8n", 1, detector))
    cells: dict[tuple[str, str, int], Cell] = {}
    collected: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        # Passes repeat every scenario in turn, so load from elsewhere on the machine
        # falls on all of them alike rather than on whichever ran during a burst.
        for _ in range(args.passes):
            for model in models:
                for collection in SCENARIOS:
                    by_level, queued = _scenario(
                        Path(tmp),
                        model,
                        collection,
                        image,
                        levels,
                        args.seconds,
                        args.split,
                        args.rate,
                    )
                    for level, cell in by_level.items():
                        cells.setdefault((model[0], collection, level), Cell()).add(cell)
                    key = f"{model[0]}-{collection}"
                    collected[key] = collected.get(key, 0.0) + queued
    results: list[dict[str, Any]] = [
        {"model": m, "collection": c, "concurrency": level} | cell.summary()
        for (m, c, level), cell in cells.items()
    ]
    by = {(r["model"], r["collection"], r["concurrency"]): r for r in results}
    cost = {
        f"{model_name}_c{level}": round(
            100
            * (
                by[(model_name, "random_10pct", level)]["p50_ms"]
                / by[(model_name, "off", level)]["p50_ms"]
                - 1
            ),
            1,
        )
        for model_name, _, _ in models
        for level in levels
    }
    print(
        json.dumps(
            {
                "bench": "server_inference_over_http",
                "deployment": "inference node + platform process" if args.split else "role all",
                "load": f"open loop, {args.rate} requests/s" if args.rate else "closed loop",
                "image": "640x480 JPEG q90",
                "seconds_per_cell": args.seconds * args.passes,
                "cpu_count": os.cpu_count(),
                "load_average_before_after": [
                    round(load_before[0], 2),
                    round(os.getloadavg()[0], 2),
                ],
                "results": results,
                "p50_cost_of_10pct_collection_percent": cost,
                "datapoints_queued": collected,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
