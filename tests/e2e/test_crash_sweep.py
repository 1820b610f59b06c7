"""A platform process killed with SIGKILL during uploads, six times: its orphans are swept.

Local blobs and S3 blobs (a moto_server process). Real process and sockets: four client threads upload datapoints while the
platform is killed at a random moment and restarted on the same data dir.
The platform sweeps every second with a 3 s grace period, so sweeps run
while uploads are in flight. After the last restart and a sweep past the
grace period: no temp file and no blob without a row is left, and every
blob a row references (every upload that was answered 201 among them) is
still there.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests.e2e.servers import Server, winnow_serve
from tests.factories import make_jpeg
from tests.live_server import free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

KEY = "crash-key-0123456789"
KILLS = 6
GRACE = 3.0
ENV = {"WINNOW_BLOB_SWEEP_GRACE_SECONDS": str(GRACE), "WINNOW_BLOB_SWEEP_INTERVAL_SECONDS": "1"}


def _upload(url: str, worker: int, stop: threading.Event, answered: list[str]) -> None:
    """Upload distinct images until ``stop``; record the inference ids answered 201."""
    n = 0
    with httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=10
    ) as client:
        while not stop.is_set():
            n += 1
            data = make_jpeg(64, 48, seed=worker * 1_000_000 + n)  # worker ids are unique
            meta = {"batch": "crash", "inference_id": f"{worker}-{n}"}
            try:
                response = client.post(
                    "/v1/projects/crash/datapoints",
                    files={"file": ("a.jpg", data, "image/jpeg")},
                    data={"metadata": json.dumps(meta)},
                )
            except httpx.HTTPError:
                continue  # the platform was killed under this request
            if response.status_code == 201:  # stored (200 would be a duplicate)
                answered.append(f"{worker}-{n}")


def _rows(data_dir: Path) -> tuple[set[str], set[str]]:
    """Blob keys the database references, and inference ids of stored images."""
    with sqlite3.connect(data_dir / "winnow.db", timeout=10) as db:
        images = list(db.execute("SELECT blob_key, inference_id FROM image"))
        models = {row[0] for row in db.execute("SELECT blob_key FROM model_version")}
    return {key for key, _ in images} | models, {iid for _, iid in images}


def _local_files(data_dir: Path) -> Callable[[], set[str]]:
    root = data_dir / "blobs"

    def files() -> set[str]:
        return {
            (Path(folder) / name).relative_to(root).as_posix()
            for folder, _dirs, names in os.walk(root)
            for name in names
        }

    return files


def _s3_files(endpoint: str, bucket: str, prefix: str) -> Callable[[], set[str]]:
    import boto3

    def files() -> set[str]:
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        try:
            pages = client.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=prefix + "/"
            )
            return {
                str(item["Key"])[len(prefix) + 1 :]
                for page in pages
                for item in page.get("Contents", [])
            }
        finally:
            client.close()

    return files


def _sweeps(server: Server) -> float:
    for line in httpx.get(f"{server.url}/metrics", timeout=10).text.splitlines():
        if line.startswith("winnow_orphan_sweeps_total "):
            return float(line.split()[1])
    return 0.0


@pytest.mark.parametrize("store", ["local", pytest.param("s3", marks=pytest.mark.s3)])
def test_orphans_left_by_kill_9_during_uploads_are_swept(
    tmp_path: Path, store: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "platform"
    port = free_port()
    args = ("--role", "platform")
    env = dict(ENV)
    _files = _local_files(data_dir)
    if store == "s3":
        import boto3

        endpoint: str = request.getfixturevalue("moto_url")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        bucket = f"crash-{uuid.uuid4().hex[:12]}"
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        client.create_bucket(Bucket=bucket)
        client.close()
        env.update({"WINNOW_BLOB_URL": f"s3://{bucket}/blobs", "WINNOW_S3_ENDPOINT_URL": endpoint})
        _files = _s3_files(endpoint, bucket, "blobs")
    rng = random.Random(7)
    answered: list[str] = []
    orphans_after_kills: list[int] = []
    with ExitStack() as stack:
        platform = stack.enter_context(
            winnow_serve(data_dir, api_key=KEY, args=args, env=env, port=port)
        )
        with platform.client() as http:
            created = http.post("/v1/projects", json={"name": "crash", "type": "object-detection"})
            assert created.status_code == 201, created.text
        for kill in range(KILLS):
            stop = threading.Event()
            threads = [
                threading.Thread(target=_upload, args=(platform.url, kill * 4 + w, stop, answered))
                for w in range(4)
            ]
            for thread in threads:
                thread.start()
            time.sleep(rng.uniform(0.5, 1.5))
            platform.process.kill()
            platform.process.wait(timeout=10)
            stop.set()
            for thread in threads:
                thread.join(30)
            referenced, _ids = _rows(data_dir)
            orphans_after_kills.append(len(_files() - referenced))
            platform = stack.enter_context(
                winnow_serve(data_dir, api_key=KEY, args=args, env=env, port=port)
            )
        last_start = time.monotonic()
        # Wait for a sweep that started after everything left by the last kill is past the grace.
        time.sleep(max(0.0, last_start + GRACE + 0.5 - time.monotonic()))
        seen = _sweeps(platform)
        deadline = time.monotonic() + 20
        while _sweeps(platform) < seen + 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _sweeps(platform) >= seen + 2, "no sweep ran after the grace period"

    referenced, stored_ids = _rows(data_dir)
    files = _files()
    print(
        "crash sweep figures:",
        json.dumps(
            {
                "store": store,
                "answered_uploads": len(answered),
                "stored_images": len(stored_ids),
                "orphans_after_each_kill": orphans_after_kills,
                "left_after_sweep": len(files - referenced),
            }
        ),
    )
    assert answered and set(answered) <= stored_ids, "an answered upload has no row"
    assert not [f for f in files if Path(f).name.startswith(".tmp-")], "temp files left"
    assert files - referenced == set(), "orphan blobs left"
    assert referenced - files == set(), "a referenced blob was deleted"
