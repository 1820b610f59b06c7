"""Frames per second through decode, a stub model and collection, on a generated 1080p file.

Prints one JSON object:

- ``decode``: frames/s of decoding the file to RGB arrays with PyAV (the choice of
  ``winnow.stream.sources``) and with OpenCV's ``VideoCapture``, for comparison;
- ``runner_fps``: frames/s of ``StreamRunner`` on the file (as fast as possible)
  with the stub model ``bench/0`` and the real services of ``winnow stream``
  (in-process platform, collector, outbox, delivery worker): collection off;
  on with a random strategy at 100% and the near-duplicate filter (every frame
  hashed, few kept); on with every frame collected (resize, JPEG, outbox).

Run: ``.venv/bin/python bench/bench_stream.py [--seconds 10] [--fps 30]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from winnow.metrics import Metrics
from winnow.settings import Settings
from winnow.stream.runner import StreamRunner
from winnow.stream.sources import PyAVSource

WIDTH, HEIGHT = 1920, 1080


def make_video(path: Path, seconds: float, fps: int) -> int:
    """A 1080p H.264 file: shapes moving over a textured background. Returns its frame count."""
    rng = np.random.default_rng(0)
    texture = np.asarray(
        cv2.resize(
            rng.integers(0, 255, (HEIGHT // 8, WIDTH // 8, 3), dtype=np.uint8), (WIDTH, HEIGHT)
        ),
        np.uint8,
    )
    container = av.open(str(path), "w")
    stream = container.add_stream("libx264", rate=fps)
    stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    stream.options = {"preset": "ultrafast", "crf": "23"}
    frames = int(seconds * fps)
    for i in range(frames):
        image = texture.copy()
        x = (i * 17) % (WIDTH - 300)
        cv2.circle(image, (x + 150, HEIGHT // 2), 120, (230, 40, 40), -1)
        cv2.rectangle(image, (WIDTH - x - 300, 200), (WIDTH - x, 420), (40, 220, 40), -1)
        for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return frames


def decode_pyav(path: Path) -> float:
    """Frames/s decoding to RGB with PyAV (threaded decoder, as the sources do)."""
    source = PyAVSource(str(path), source_id="bench", live=False)
    source.open()
    count, start = 0, time.perf_counter()
    while source.read() is not None:
        count += 1
    elapsed = time.perf_counter() - start
    source.close()
    return count / elapsed


def decode_opencv(path: Path) -> float:
    """Frames/s decoding to RGB with OpenCV."""
    capture = cv2.VideoCapture(str(path))
    count, start = 0, time.perf_counter()
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        count += 1
    elapsed = time.perf_counter() - start
    capture.release()
    return count / elapsed


KEY = "bench-key-0123456789"
STRATEGY = {"name": "all", "type": "random", "traffic_percentage": 1.0}
CONFIGS: dict[str, dict[str, Any] | None] = {
    "collection_off": None,
    # every frame sampled; the near-duplicate filter hashes each one and keeps few
    "collection_on_dedup": {"enabled": True, "max_distance": 6, "window_seconds": 60},
    # every frame sampled and collected: resize, JPEG-encode and outbox-write each one
    "collection_on_every_frame": {"enabled": False},
}


def _prepare_platform(data_dir: Path, dedup: dict[str, Any] | None) -> None:
    from winnow.platform import store
    from winnow.platform.service import Platform

    platform = Platform.open(Settings(data_dir=data_dir, api_key=KEY))
    try:
        with platform.db.write() as session:
            ws = store.get_workspace(session=session, name="default")
            project = store.create_project(
                session=session, workspace=ws, name="bench", type="object-detection"
            )
            config = {
                "enabled": True,
                "persist_predictions": True,
                "sampling_strategies": [STRATEGY],
                "batching_strategy": {
                    "batches_name_prefix": "bench",
                    "recreation_interval": "never",
                },
                "dedup": dedup or {"enabled": False},
            }
            store.save_al_config(
                session=session, project=project, config=config, created_by="bench"
            )
    finally:
        platform.close()


def run_stream(path: Path, frames: int, name: str, data_dir: Path) -> dict[str, object]:
    """Frames/s through the runner with the stub model ``bench/0``, collection per ``name``."""
    from winnow.cli.stream import open_services

    dedup = CONFIGS[name]
    _prepare_platform(data_dir, dedup)
    settings = Settings(data_dir=data_dir, api_key=KEY)
    metrics = Metrics()
    with open_services(settings, metrics, collection=dedup is not None) as services:
        runner = StreamRunner(
            [PyAVSource(str(path), source_id="bench", live=False)],
            "bench/0",
            KEY,
            registry=services.registry,
            collector=services.collector,
        )
        start = time.perf_counter()
        runner.start()
        runner.wait()
        runner.stop()
        elapsed = time.perf_counter() - start
    status = runner.status()[0]
    assert status.processed == frames, (status.processed, frames)
    return {
        "fps": round(status.processed / elapsed, 1),
        "processed": status.processed,
        "collected": status.collected,
        "seconds": round(elapsed, 2),
    }


def main() -> None:
    """Generate the video, run every measurement, print JSON."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--fps", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench_1080p.mp4"
        start = time.perf_counter()
        frames = make_video(path, args.seconds, args.fps)
        encode_seconds = time.perf_counter() - start
        decode = {"pyav": round(decode_pyav(path), 1), "opencv": round(decode_opencv(path), 1)}
        runner = {name: run_stream(path, frames, name, Path(tmp) / name) for name in CONFIGS}
    print(
        json.dumps(
            {
                "bench": "stream",
                "video": {
                    "width": WIDTH,
                    "height": HEIGHT,
                    "frames": frames,
                    "fps": args.fps,
                    "codec": "h264",
                    "encode_seconds": round(encode_seconds, 1),
                },
                "decode_fps": decode,
                "runner_fps": runner,
                "machine": {
                    "cpus": __import__("os").cpu_count(),
                    "python": platform.python_version(),
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
