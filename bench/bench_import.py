"""Images per second of ``import_dataset`` (COCO, YOLO) on SQLite and PostgreSQL; prints JSON.

A generated dataset of ``--count`` 640x480 JPEGs (unique bytes, 5 boxes each)
is written once per format to a temporary folder, then imported ``--repeat``
times, each time into a fresh project of a fresh platform (local blobs).
Reported per case: the median seconds and images per second, and the spread
(min, max) over the repeats.

    python bench/bench_import.py [--count 500] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import simplejpeg
from sqlalchemy import create_engine, text

from winnow.platform import store
from winnow.platform.export.archive import write_directory
from winnow.platform.export.formats import ExportFormat, export_files
from winnow.platform.export.model import Box, ExportImage, assign_splits, dataset_from_images
from winnow.platform.importing import ImportFormat, ImportOptions, import_dataset
from winnow.platform.importing.files import DirectoryFiles
from winnow.platform.service import Platform
from winnow.settings import Settings

KEY = "bench-key-0123456789"
PG_URL = os.environ.get(
    "WINNOW_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def write_dataset(root: Path, count: int, fmt: ExportFormat) -> None:
    """A generated dataset of ``count`` images in ``fmt`` under ``root``."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, size=(480, 640, 3), dtype=np.uint8)
    blobs: dict[str, bytes] = {}
    images = []
    for i in range(count):
        pixels = base.copy()
        # a 16x16 block per bit of i: unique bytes that survive JPEG quantization
        for bit in range(12):
            if i >> bit & 1:
                pixels[:16, 16 * bit : 16 * bit + 16] = 255
        name = f"{i:06d}.jpg"
        blobs[name] = bytes(simplejpeg.encode_jpeg(pixels, quality=85, colorspace="RGB"))
        boxes = tuple(Box(f"c{k}", 10 + 50 * k, 20, 60 + 50 * k, 120 + k) for k in range(5))
        images.append(ExportImage(name, 640, 480, boxes, source=name))
    dataset = dataset_from_images(assign_splits(images, (0.8, 0.1, 0.1), 0))
    write_directory(export_files(dataset, fmt), blobs.__getitem__, root)


def one_import(folder: Path, fmt: ImportFormat, database_url: str | None) -> float:
    """Seconds to import ``folder`` into a new project of a new platform."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), api_key=KEY, database_url=database_url)
        platform = Platform.open(settings)
        try:
            workspace = platform.workspace(KEY)
            with platform.db.write() as session:
                store.create_project(
                    session=session, workspace=workspace, name="p", type="object-detection"
                )
            start = time.perf_counter()
            result = import_dataset(
                platform,
                workspace=workspace,
                project="p",
                files=DirectoryFiles(folder, max_bytes=settings.max_import_bytes),
                options=ImportOptions(format=fmt, batch="bench"),
            )
            elapsed = time.perf_counter() - start
            assert result.images > 0
            return elapsed
        finally:
            platform.close()


def pg_schema() -> tuple[str, str] | None:
    """A fresh schema on the test PostgreSQL (its name and URL), or None when unreachable."""
    try:
        admin = create_engine(PG_URL)
        schema = f"bench_import_{uuid.uuid4().hex[:8]}"
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
    except Exception:
        return None
    sep = "&" if "?" in PG_URL else "?"
    return schema, f"{PG_URL}{sep}options=-csearch_path%3D{schema}"


def drop_schema(schema: str) -> None:
    """Drop a schema made by :func:`pg_schema`."""
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def main() -> None:
    """Run every case and print one JSON object."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, Any] = {"images": args.count, "boxes_per_image": 5, "size": "640x480"}
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in (ExportFormat.COCO, ExportFormat.YOLO):
            folder = Path(tmp) / fmt.value
            write_dataset(folder, args.count, fmt)
            for backend, url in [("sqlite", None), ("postgres", "pg")]:
                made = pg_schema() if url else None
                if url and made is None:
                    continue
                times = []
                for _ in range(args.repeat):
                    if made is not None:  # a fresh schema per run: every import starts empty
                        drop_schema(made[0])
                        made = pg_schema()
                        assert made is not None
                    times.append(
                        one_import(folder, ImportFormat(fmt.value), made[1] if made else None)
                    )
                if made is not None:
                    drop_schema(made[0])
                median = statistics.median(times)
                results[f"{fmt.value}_{backend}"] = {
                    "seconds_median": round(median, 3),
                    "images_per_second": round(args.count / median, 1),
                    "seconds_min": round(min(times), 3),
                    "seconds_max": round(max(times), 3),
                }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
