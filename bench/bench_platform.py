"""Datapoints per second registered through ``POST /v1/projects/{p}/datapoints``; prints JSON.

Also: milliseconds per 100-image page (filters by batch, status, tag, strategy) and for the
batch list of a 10,000-image project, on SQLite and PostgreSQL.

A real uvicorn platform process on 127.0.0.1 (SQLite + local files, then
PostgreSQL + local files when reachable) receives datapoints from client
threads: a JPEG (640x480 or 1920x1080, each one unique), a detection
prediction and the metadata part, exactly as the native delivery client
sends them.

    python bench/bench_platform.py [--count 150] [--threads 4]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import simplejpeg
from skimage import data

KEY = "bench-key-0123456789"
PG_URL = os.environ.get(
    "WINNOW_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def serve(db_url: str, data_dir: str, port: int) -> None:
    """Run the platform alone under uvicorn (the child process)."""
    import uvicorn
    from fastapi import FastAPI

    from winnow.http.errors import install_error_handlers
    from winnow.platform import routes as platform_routes
    from winnow.platform.service import Platform
    from winnow.settings import Settings

    platform = Platform.open(Settings(data_dir=Path(data_dir), database_url=db_url, api_key=KEY))
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(platform_routes.router)
    app.state.platform = platform
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def free_port() -> int:
    """A free TCP port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def jpegs(width: int, height: int, count: int) -> list[bytes]:
    """``count`` distinct JPEGs of a natural image at ``width`` x ``height``."""
    base = cv2.resize(data.astronaut(), (width, height), interpolation=cv2.INTER_LINEAR)
    out = []
    for i in range(count):
        image = base.copy()
        image[i % height, :16] = (i * 7) % 256  # a few pixels differ: a new content hash
        out.append(
            bytes(simplejpeg.encode_jpeg(np.ascontiguousarray(image), quality=85, colorspace="RGB"))
        )
    return out


def prediction(width: int, height: int) -> dict[str, Any]:
    """A five-box detection prediction."""
    boxes = [
        {
            "x": width * (i + 1) / 6,
            "y": height / 2,
            "width": 40.0,
            "height": 30.0,
            "confidence": 0.8,
            "class": "car",
            "class_id": 0,
            "detection_id": str(i),
        }
        for i in range(5)
    ]
    return {"image": {"width": width, "height": height}, "predictions": boxes}


def run_case(
    base_url: str, project: str, images: list[bytes], width: int, height: int, threads: int
) -> dict[str, Any]:
    """Send every image once; returns datapoints/s and latency percentiles."""
    pred = json.dumps(prediction(width, height))
    latencies: list[float] = []
    with httpx.Client(
        base_url=base_url, timeout=60, headers={"Authorization": f"Bearer {KEY}"}
    ) as client:

        def send(index: int) -> None:
            meta = {
                "batch": f"bench-{width}",
                "tags": ["bench"],
                "strategy": "random",
                "model_id": f"{project}/1",
                "source": "bench",
                "idempotency_key": uuid.uuid4().hex,
            }
            started = time.perf_counter()
            response = client.post(
                f"/v1/projects/{project}/datapoints",
                data={"metadata": json.dumps(meta), "prediction": pred},
                files={"file": ("dp.jpg", images[index], "image/jpeg")},
            )
            latencies.append(time.perf_counter() - started)
            if response.status_code != 201:
                raise RuntimeError(f"unexpected {response.status_code}: {response.text}")

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(send, range(len(images))))
        elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "datapoints": len(images),
        "jpeg_kib": round(statistics.mean(len(i) for i in images) / 1024, 1),
        "datapoints_per_s": round(len(images) / elapsed, 1),
        "latency_ms_p50": round(ordered[len(ordered) // 2] * 1000, 1),
        "latency_ms_p95": round(ordered[int(len(ordered) * 0.95) - 1] * 1000, 1),
    }


def bench_backend(name: str, db_url: str, count: int, threads: int) -> dict[str, Any]:
    """Start a platform process on ``db_url`` and run both image sizes against it."""
    with tempfile.TemporaryDirectory() as data_dir:
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", db_url, data_dir, str(port)],
        )
        try:
            base_url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    httpx.get(f"{base_url}/?api_key={KEY}", timeout=1).raise_for_status()
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise RuntimeError(f"{name}: platform did not start") from None
                    time.sleep(0.2)
            project = "bench"
            httpx.post(
                f"{base_url}/v1/projects?api_key={KEY}",
                json={"name": project, "type": "object-detection"},
            ).raise_for_status()
            results = {}
            for width, height, n in ((640, 480, count), (1920, 1080, max(count // 3, 10))):
                images = jpegs(width, height, n)
                run_case(base_url, project, images[:3], width, height, 1)  # warm-up
                results[f"{width}x{height}"] = run_case(
                    base_url, project, images[3:], width, height, threads
                )
            return results
        finally:
            proc.terminate()
            proc.wait(20)


def bench_listing(db_url: str, data_dir: str, images: int = 10_000) -> dict[str, Any]:
    """Milliseconds to page through a project of ``images`` rows (20 batches, 3 strategies, tags)."""
    from sqlalchemy import insert

    from winnow.platform import store
    from winnow.platform.schema import Batch, Image, ImageTag
    from winnow.platform.service import Platform
    from winnow.settings import Settings

    platform = Platform.open(Settings(data_dir=Path(data_dir), database_url=db_url, api_key=KEY))
    try:
        workspace = platform.workspace(KEY)
        with platform.db.write() as session:
            project = store.create_project(
                session=session, workspace=workspace, name="big", type="object-detection"
            )
            batches = []
            for b in range(20):
                batch = Batch(
                    project_id=project.id, name=f"batch-{b:02d}", image_count=images // 20
                )
                session.add(batch)
                batches.append(batch)
            session.flush()
            rows = [
                {
                    "project_id": project.id,
                    "batch_id": batches[i % 20].id,
                    "sha256": f"{i:064x}",
                    "width": 640,
                    "height": 480,
                    "size_bytes": 1,
                    "content_type": "image/jpeg",
                    "blob_key": f"x/{i}.jpg",
                    "strategy": ("random", "close", "count")[i % 3],
                    "status": ("unlabeled", "labeled")[i % 7 == 0],
                }
                for i in range(images)
            ]
            session.execute(insert(Image), rows)
            ids = [i for (i,) in session.query(Image.id).filter(Image.project_id == project.id)]
            session.execute(
                insert(ImageTag),
                [{"image_id": i, "project_id": project.id, "tag": f"cam-{i % 5}"} for i in ids],
            )

        if not platform.db.is_sqlite:
            # As autovacuum would after a bulk load: planner statistics for the new rows.
            autocommit = platform.db.engine.execution_options(isolation_level="AUTOCOMMIT")
            with autocommit.connect() as conn:
                conn.exec_driver_sql("ANALYZE")

        def timed(label: str, filters: store.ImageFilters) -> tuple[str, float]:
            started = time.perf_counter()
            pages = 0
            cursor = None
            with platform.db.read() as session:
                while True:
                    _page, cursor = store.list_images(
                        session=session, project=project, filters=filters, limit=100, cursor=cursor
                    )
                    pages += 1
                    if cursor is None or pages >= 10:
                        break
            return label, round((time.perf_counter() - started) * 1000 / pages, 2)

        results = dict(
            [
                timed("page_all_ms", store.ImageFilters()),
                timed("page_batch_ms", store.ImageFilters(batch="batch-07")),
                timed("page_status_ms", store.ImageFilters(status="labeled")),
                timed("page_tag_ms", store.ImageFilters(tag="cam-3")),
                timed("page_strategy_ms", store.ImageFilters(strategy="close")),
            ]
        )
        started = time.perf_counter()
        with platform.db.read() as session:
            store.list_batches(session=session, project=project)
        results["list_batches_ms"] = round((time.perf_counter() - started) * 1000, 2)
        results["images"] = images
        return results
    finally:
        platform.close()


def pg_schema_url() -> str | None:
    """A fresh schema on the test PostgreSQL (None when unreachable)."""
    try:
        from sqlalchemy import create_engine, text

        engine = create_engine(PG_URL)
        schema = f"winnow_bench_{uuid.uuid4().hex[:8]}"
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        engine.dispose()
    except Exception:
        return None
    return f"{PG_URL}?options=-csearch_path%3D{schema}"


def drop_schema(url: str) -> None:
    """Drop the bench schema again."""
    from sqlalchemy import create_engine, text

    schema = url.rsplit("%3D", 1)[1]
    engine = create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def main() -> None:
    """Run the benchmark and print JSON."""
    if len(sys.argv) == 5 and sys.argv[1] == "--serve":
        serve(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--count", type=int, default=150, help="640x480 datapoints (1080p: a third)"
    )
    parser.add_argument("--threads", type=int, default=4, help="concurrent client threads")
    args = parser.parse_args()
    report: dict[str, Any] = {"benchmark": "platform_datapoints", "threads": args.threads}
    with tempfile.TemporaryDirectory() as tmp:
        report["sqlite_local"] = bench_backend(
            "sqlite", f"sqlite:///{tmp}/bench.db", args.count, args.threads
        )
    with tempfile.TemporaryDirectory() as tmp:
        report["sqlite_listing_10k"] = bench_listing(f"sqlite:///{tmp}/list.db", tmp)
    url = pg_schema_url()
    if url is None:
        report["postgres_local"] = "skipped: PostgreSQL not reachable"
    else:
        try:
            report["postgres_local"] = bench_backend("postgres", url, args.count, args.threads)
        finally:
            drop_schema(url)
        url = pg_schema_url()
        assert url is not None
        try:
            with tempfile.TemporaryDirectory() as tmp:
                report["postgres_listing_10k"] = bench_listing(url, tmp)
        finally:
            drop_schema(url)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
