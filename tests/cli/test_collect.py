"""``winnow collect``: killed with ``kill -9`` mid-delivery and restarted, it loses nothing
and stores nothing twice."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from tests.factories import KEY, make_detections, make_jpeg, new_project
from winnow.activelearning.capture import PrepareSpec
from winnow.activelearning.datapoint import Datapoint
from winnow.activelearning.outbox import Outbox, OutboxItem
from winnow.platform import store
from winnow.platform.service import Platform
from winnow.predictions import prediction_to_json
from winnow.settings import Settings

COUNT = 400


def counts(path: Path) -> dict[str, int]:
    """Outbox entries by status, read without opening an Outbox (which would recover)."""
    with sqlite3.connect(path, timeout=30) as db:
        return dict(db.execute("SELECT status, COUNT(*) FROM entries GROUP BY status").fetchall())


def start(data_dir: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WINNOW_")}
    env.update(
        {"WINNOW_DATA_DIR": str(data_dir), "WINNOW_API_KEY": KEY, "WINNOW_LOG_LEVEL": "WARNING"}
    )
    command = [sys.executable, "-c", "from winnow.cli.main import main; main()", "collect"]
    return subprocess.Popen(command, env=env)


def test_kill_9_mid_delivery_then_restart_delivers_every_datapoint_exactly_once(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    settings = Settings(data_dir=data_dir, api_key=KEY)
    platform = Platform.open(settings)
    new_project(platform, "cars")
    platform.close()
    outbox = Outbox(settings.outbox_path, max_bytes=10**9)
    spec = PrepareSpec(
        max_image_size=(120, 160), jpeg_quality=70, persist_predictions=True, max_pixels=10**8
    )
    prediction = prediction_to_json(make_detections(class_name=["car"], width=320, height=240))
    keys = [uuid.uuid4().hex for _ in range(COUNT)]
    outbox.put_many(
        [
            OutboxItem(
                Datapoint(
                    idempotency_key=key,
                    api_key=KEY,
                    project="cars",
                    batch_name="al",
                    image_jpeg=make_jpeg(320, 240, seed=i),
                    width=320,
                    height=240,
                    prediction=prediction,
                    task_type="object-detection",
                    created_at=datetime.now(UTC),
                ),
                spec,
            )
            for i, key in enumerate(keys)
        ]
    )
    outbox.close()

    process = start(data_dir)
    try:
        deadline = time.monotonic() + 120
        while counts(settings.outbox_path).get("delivered", 0) < 20:
            assert process.poll() is None, "winnow collect exited"
            assert time.monotonic() < deadline, "nothing was delivered"
            time.sleep(0.01)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
    at_kill = counts(settings.outbox_path)
    assert at_kill.get("delivered", 0) < COUNT, "killed too late to be mid-delivery"

    process = start(data_dir)
    try:
        deadline = time.monotonic() + 180
        while counts(settings.outbox_path).get("delivered", 0) < COUNT:
            assert process.poll() is None, "winnow collect exited"
            assert time.monotonic() < deadline, f"not all delivered: {counts(settings.outbox_path)}"
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0

    assert counts(settings.outbox_path) == {"delivered": COUNT}
    platform = Platform.open(settings)
    try:
        with platform.db.read() as session:
            project = store.get_project(
                session=session, workspace=platform.workspace(KEY), name="cars"
            )
            page, _cursor = store.list_images(
                session=session,
                project=project,
                filters=store.ImageFilters(),
                limit=1000,
                cursor=None,
            )
            stored = [(image.idempotency_key, image.width, image.height) for image in page]
    finally:
        platform.close()
    assert len(stored) == COUNT  # none lost, none twice
    assert {key for key, _w, _h in stored} == set(keys)
    assert {(w, h) for _key, w, h in stored} == {(160, 120)}  # prepared by the collection process
