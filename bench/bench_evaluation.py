"""Evaluation cost: a 10,000-image / 100,000-box project, and re-running YOLOv8n. Prints JSON.

``evaluate``: ``evaluate_project`` on a SQLite platform holding ``--images``
labeled images with ``--boxes`` human boxes each and a served prediction of
as many boxes (jittered, some relabeled), read and scored end to end; plus the
AP step alone with faster-coco-eval and with pycocotools on the same samples.
``rerun``: ``predict_images`` (the evaluation run) of the YOLOv8n in the
nudenet wheel over ``--rerun-images`` stored 640x480 JPEGs, images per second.

    PYTHONPATH=src .venv/bin/python bench/bench_evaluation.py [--images 10000] [--rerun-images 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import simplejpeg
from sqlalchemy import insert

from winnow.evaluation import jobs
from winnow.evaluation.query import EvaluationSlice, detection_samples, evaluate_project, load_pairs
from winnow.platform import store
from winnow.platform.schema import Annotation, Batch, Image, Project
from winnow.platform.service import Platform
from winnow.settings import Settings

# The bench compares against tests/ helpers (the pycocotools reference, the wheel's model).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

KEY = "bench-key-0123456789"
NAMES = [f"class{i}" for i in range(10)]


def _body(rows: list[tuple[float, float, float, float, str, float]]) -> str:
    return json.dumps(
        {
            "image": {"width": 640, "height": 480},
            "predictions": [
                {
                    "x": x,
                    "y": y,
                    "width": w,
                    "height": h,
                    "class": c,
                    "class_id": 0,
                    "confidence": s,
                }
                for x, y, w, h, c, s in rows
            ],
        }
    )


def _project(platform: Platform, name: str) -> Project:
    with platform.db.write() as session:
        workspace = platform.workspace(KEY)
        project = store.create_project(
            session=session, workspace=workspace, name=name, type="object-detection"
        )
        session.expunge(project)
        return project


def fill(platform: Platform, images: int, boxes: int, seed: int = 0) -> Project:
    """Insert labeled images with human and served annotations directly (bulk)."""
    rng = np.random.default_rng(seed)
    project = _project(platform, "bench")
    with platform.db.write() as session:
        batch = Batch(project_id=project.id, name="b1", image_count=images)
        session.add(batch)
        session.flush()
        batch_id = batch.id
    chunk = 1000
    for start in range(0, images, chunk):
        rows, annotations = [], []
        for i in range(start, min(start + chunk, images)):
            rows.append(
                {
                    "id": i + 1,
                    "project_id": project.id,
                    "batch_id": batch_id,
                    "sha256": f"{i:064x}",
                    "width": 640,
                    "height": 480,
                    "size_bytes": 1,
                    "content_type": "image/jpeg",
                    "blob_key": f"none/{i}",
                    "strategy": "random",
                    "model_id": "bench/1",
                    "config_version": 1,
                    "status": "labeled",
                }
            )
            xy = rng.uniform(40, 440, (boxes, 2))
            wh = rng.uniform(10, 80, (boxes, 2))
            cls = rng.integers(0, len(NAMES), boxes)
            truth = [(*xy[k], *wh[k], NAMES[cls[k]], 1.0) for k in range(boxes)]
            jitter = rng.normal(0, 4, (boxes, 2))
            relabel = rng.uniform(size=boxes) < 0.1
            served = [
                (
                    *(xy[k] + jitter[k]),
                    *wh[k],
                    NAMES[(cls[k] + 1) % len(NAMES)] if relabel[k] else NAMES[cls[k]],
                    float(rng.uniform(0.3, 1.0)),
                )
                for k in range(boxes)
            ]
            for kind, body in (("prediction", _body(served)), ("human", _body(truth))):
                annotations.append(
                    {"image_id": i + 1, "kind": kind, "format": "json", "body": body}
                )
        with platform.db.write() as session:
            session.execute(insert(Image), rows)
            session.execute(insert(Annotation), annotations)
    return project


def bench_evaluate(images: int, boxes: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        platform = Platform.open(Settings(data_dir=Path(tmp), api_key=KEY))
        try:
            project = fill(platform, images, boxes)
            where = EvaluationSlice(model_id="bench/1")
            started, cpu = time.perf_counter(), time.process_time()
            with platform.db.read() as session:
                report = evaluate_project(session=session, project=project, where=where)
            total, total_cpu = time.perf_counter() - started, time.process_time() - cpu
            with platform.db.read() as session:
                started = time.perf_counter()
                pairs = load_pairs(session=session, project=project, where=where)
                read = time.perf_counter() - started
            samples = detection_samples(pairs)
            from winnow.evaluation.detection import coco_average_precision

            started = time.perf_counter()
            coco_average_precision(samples, NAMES)
            fast = time.perf_counter() - started
            started = time.perf_counter()
            pycocotools_map = _pycocotools(samples)
            slow = time.perf_counter() - started
        finally:
            platform.close()
    return {
        "images": report["images"],
        "boxes": report["boxes"],
        "evaluate_s": round(total, 3),
        # CPU seconds of this process: the figure to read on a shared, loaded machine.
        "evaluate_cpu_s": round(total_cpu, 3),
        "load_average_1m": round(os.getloadavg()[0], 1),
        "read_s": round(read, 3),
        "ap_faster_coco_eval_s": round(fast, 3),
        "ap_pycocotools_s": round(slow, 3),
        "map": report["map"],
        "map_pycocotools": pycocotools_map,
    }


def _pycocotools(samples: list[Any]) -> float:
    from tests.evaluation.cocoref import coco_bbox_eval

    ev = coco_bbox_eval(samples, NAMES, one_area=True)
    precision = ev.eval["precision"][:, :, :, 0, -1]
    return float(precision[precision > -1].mean())


def bench_rerun(count: int) -> dict[str, Any]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from skimage import data as skdata
    from tests.models.wheels import NUDENET, wheel_file

    onnx_file = wheel_file(*NUDENET)
    astronaut = skdata.astronaut()
    with tempfile.TemporaryDirectory() as tmp:
        platform = Platform.open(Settings(data_dir=Path(tmp), api_key=KEY))
        try:
            workspace = platform.workspace(KEY)
            store_project = _project(platform, "faces")
            del store_project
            from winnow.platform.service import DatapointInput

            rng = np.random.default_rng(0)
            ids = []
            for i in range(count):
                y, x = int(rng.integers(0, 32)), int(rng.integers(0, 32))
                crop = np.ascontiguousarray(astronaut[y : y + 480, x : x + 480])
                canvas = np.full((480, 640, 3), 114, np.uint8)
                canvas[:, 80:560] = crop
                canvas[0, 0] = i % 256, (i // 256) % 256, 7  # distinct bytes per image
                jpeg = bytes(simplejpeg.encode_jpeg(canvas, quality=85, colorspace="RGB"))
                result = platform.register(
                    workspace=workspace,
                    project="faces",
                    data=jpeg,
                    datapoint=DatapointInput(batch_name="b1"),
                )
                ids.append(int(result.image.id))
            platform.add_model(workspace=workspace, model_id="faces/1", data=onnx_file.read_bytes())
            project = platform.project(workspace, "faces")
            started, cpu = time.perf_counter(), time.process_time()
            done = jobs.predict_images(
                platform=platform, project=project, model_id="faces/1", image_ids=ids
            )
            elapsed, elapsed_cpu = time.perf_counter() - started, time.process_time() - cpu
        finally:
            platform.close()
    return {
        "images": done,
        "seconds": round(elapsed, 3),
        "images_per_s": round(done / elapsed, 1),
        "cpu_s": round(elapsed_cpu, 3),
        "load_average_1m": round(os.getloadavg()[0], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--boxes", type=int, default=10, help="human boxes per image")
    parser.add_argument("--rerun-images", type=int, default=1_000)
    parser.add_argument("--skip-rerun", action="store_true")
    args = parser.parse_args()
    out: dict[str, Any] = {"evaluate": bench_evaluate(args.images, args.boxes)}
    if not args.skip_rerun:
        out["rerun_yolov8n"] = bench_rerun(args.rerun_images)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
